// Local Discord for end-to-end tests: REST (/api/v10) + gateway on one 127.0.0.1 port, a fixture world, interaction
// tokens on an injectable clock, permission checks, upload limits, nonce dedupe, ping computation, fault injection
// and a record of every call. See /work/shared/reference/discord-emulation.md for the facts this follows.
// This class is the facade; the parts live in router.ts (HTTP, faults, calls), messageStore.ts, interactions.ts,
// gateway.ts, world.ts and routes/*.ts.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayCloseCodes, InteractionType } from 'discord-api-types/v10';
import { type Clock, OffsetClock, SnowflakeFactory } from './clock';
import { E, fail } from './errors';
import { Gateway, type GatewaySession, type IdentifyRefusal } from './gateway';
import { type CommandRegistry, Interactions } from './interactions';
import { MessageStore } from './messageStore';
import { Router } from './router';
import { defineRoutes } from './routes';
import { commandRegistry } from './routes/applications';
import type {
  DiscordEmulatorOptions,
  EmulatedMessage,
  EmulatedUpload,
  FaultSpec,
  InteractionHandle,
  PushAutocompleteOptions,
  PushComponentOptions,
  PushInteractionOptions,
  PushModalSubmitOptions,
  RecordedCall,
  StoredInteraction,
  Timings,
} from './types';
import * as W from './world';

export { DiscordApiError } from './errors';
export type {
  DiscordEmulatorOptions,
  EmulatedMessage,
  EmulatedUpload,
  FaultSpec,
  InteractionHandle,
  MessageEdit,
  MessageKind,
  Pinged,
  PushAutocompleteOptions,
  PushComponentOptions,
  PushInteractionOptions,
  PushModalSubmitOptions,
  RecordedCall,
  RecordedFile,
  StoredInteraction,
} from './types';

export class DiscordEmulator implements Timings {
  readonly clock: Clock;
  /** The bot token the emulator accepts; replaced when the session start limit runs out (as Discord resets it). */
  token: string;
  readonly world: W.World;
  readonly calls: RecordedCall[];
  readonly interactions: StoredInteraction[] = [];
  readonly commands: CommandRegistry = commandRegistry();
  nonceWindowMs: number;
  ackDeadlineMs: number;
  tokenLifetimeMs: number;
  attachmentUrlLifetimeMs: number;
  duplicateSessionDelivery: 'one' | 'all';
  apiUrl = '';
  cdnUrl = '';
  gatewayUrl = '';
  port = 0;

  private readonly server: Server;
  private readonly gateway: Gateway;
  private readonly router: Router;
  private readonly store: MessageStore;
  private readonly interactionHub: Interactions;
  private readonly events = new EventEmitter();

  private constructor(opts: DiscordEmulatorOptions) {
    this.clock = opts.clock ?? new OffsetClock();
    this.token =
      opts.token ??
      `${Buffer.from(W.WORLD.botUserId).toString('base64url')}.emu.${randomBytes(20).toString('base64url')}`;
    this.nonceWindowMs = opts.nonceWindowMs ?? 5 * 60_000;
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 3_000;
    this.tokenLifetimeMs = opts.tokenLifetimeMs ?? 15 * 60_000;
    this.attachmentUrlLifetimeMs = opts.attachmentUrlLifetimeMs ?? 24 * 3_600_000;
    this.duplicateSessionDelivery = opts.duplicateSessionDelivery ?? 'all';
    this.world = structuredClone(W.WORLD);
    const ids = new SnowflakeFactory(this.clock);
    this.events.setMaxListeners(0);
    this.store = new MessageStore(this.world, this.clock, ids, this, () => `http://127.0.0.1:${this.port}`);
    this.router = new Router({
      clock: this.clock,
      token: () => this.token,
      // Attachment downloads: GET /attachments/{channel}/{id}/{filename}; command-option files from the signed CDN.
      file: (url) =>
        url.pathname.startsWith('/attachments/')
          ? (this.store.attachment(url.pathname.split('/')[3] ?? '') ?? null)
          : this.store.serveCdn(url),
      onChange: () => this.changed(),
    });
    this.calls = this.router.calls;
    // A client killed mid-request (a SIGKILLed bot) aborts the body read: drop that request, as a real server would.
    this.server = createServer((req, res) => void this.router.handle(req, res).catch(() => res.destroy()));
    this.gateway = new Gateway(this.server, this.clock, {
      token: () => this.token,
      readyPayload: (session) => ({
        v: 10,
        user: { ...W.userPayload(this.world.users.bot), verified: true, mfa_enabled: false },
        guilds: this.guildsOf(session).map((g) => ({ id: g.id, unavailable: true })),
        session_id: session.sessionId,
        resume_gateway_url: this.gatewayUrl,
        shard: session.shard,
        application: { id: this.world.applicationId, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        user_settings: {},
        geo_ordered_rtc_regions: [],
        _trace: ['emulator'],
      }),
      guildCreates: (session) => this.guildsOf(session).map((g) => W.guildCreatePayload(this.world, g)),
      guildIds: () => W.guildList(this.world).map((g) => g.id),
      sharding: () => this.world.sharding,
      resetToken: () => {
        this.token = `${Buffer.from(W.WORLD.botUserId).toString('base64url')}.emu.${randomBytes(20).toString('base64url')}`;
      },
      onChange: () => this.changed(),
    });
    this.interactionHub = new Interactions(this.interactions, {
      world: this.world,
      clock: this.clock,
      ids,
      timings: this,
      store: this.store,
      gateway: this.gateway,
      commands: this.commands,
      waitFor: (predicate, timeoutMs, what) => this.waitFor(predicate, timeoutMs, what),
      onChange: () => this.changed(),
    });
    defineRoutes({
      router: this.router,
      world: this.world,
      ids,
      store: this.store,
      interactions: this.interactionHub,
      commands: this.commands,
      gatewayBot: () => ({
        url: this.gatewayUrl,
        shards: W.recommendedShards(this.world),
        session_start_limit: this.gateway.sessionStartLimit(),
      }),
      gatewayUrl: () => this.gatewayUrl,
    });
  }

  private guildsOf(session: GatewaySession): W.WorldGuild[] {
    return W.guildList(this.world).filter((g) => this.gateway.routes(session, g.id));
  }

  static async start(opts: DiscordEmulatorOptions = {}): Promise<DiscordEmulator> {
    const emu = new DiscordEmulator(opts);
    await new Promise<void>((resolve) => emu.server.listen(0, '127.0.0.1', resolve));
    emu.port = (emu.server.address() as AddressInfo).port;
    emu.apiUrl = `http://127.0.0.1:${emu.port}/api`;
    emu.cdnUrl = `http://127.0.0.1:${emu.port}/cdn`;
    emu.gatewayUrl = `ws://127.0.0.1:${emu.port}`;
    return emu;
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- test hooks --------------------------------------------------------------------------------------------
  get sessions(): GatewaySession[] {
    return this.gateway.sessions;
  }

  /** IDENTIFYs the gateway refused (invalid shard, sharding required, session start limit, max_concurrency). */
  get identifyRefusals(): IdentifyRefusal[] {
    return this.gateway.refusals;
  }

  /** Ready, connected sessions that receive a guild's events (no guild: shard 0's). */
  sessionsFor(guildId: string | undefined): GatewaySession[] {
    return this.gateway.liveFor(guildId);
  }

  /**
   * The bot joins a guild (made like `other`, see `makeGuild`): added to the world under `key`, and its GUILD_CREATE
   * sent to the live sessions of its shard, as Discord does when a bot is added to a server.
   */
  addGuild(key: string, id: string, name = `Veo ${key}`): W.WorldGuild {
    if (W.findGuild(this.world, id)) throw new Error(`addGuild: guild ${id} exists`);
    const guild = W.makeGuild(id, name);
    this.world.guilds[key] = guild;
    for (const s of this.gateway.liveFor(id))
      this.gateway.dispatch(s, 'GUILD_CREATE', W.guildCreatePayload(this.world, guild));
    this.changed();
    return guild;
  }
  sendReconnect(sessionIndex?: number): void {
    this.gateway.sendReconnect(sessionIndex);
  }
  invalidateSession(sessionIndex?: number, resumable = false): void {
    this.gateway.invalidateSession(sessionIndex, resumable);
  }
  closeSession(sessionIndex?: number, code: number = GatewayCloseCodes.UnknownError, reason?: string): void {
    this.gateway.closeSession(sessionIndex, code, reason);
  }

  /**
   * Sends a raw dispatch (e.g. GUILD_UPDATE after changing `world`) to one session, or to every live session of the
   * event's guild (`d.guild_id`, or `d.id` of a GUILD_* event; shard 0 for an event without a guild).
   */
  dispatchEvent(t: string, d: unknown, sessionIndex?: number): void {
    const data = (d ?? {}) as { guild_id?: string; id?: string };
    const guildId = data.guild_id ?? (t.startsWith('GUILD_') ? data.id : undefined);
    for (const s of sessionIndex === undefined ? this.gateway.liveFor(guildId) : [this.gateway.resolve(sessionIndex)])
      this.gateway.dispatch(s, t, d);
  }

  /**
   * A file as a user attaches it to a command option, without the command: its resolved attachment object, served on
   * a signed CDN URL (for tests of what fetches such files).
   */
  attachFile(file: EmulatedUpload): { id: string; filename: string; size: number; url: string; content_type?: string } {
    return this.store.uploadEphemeral(this.world.applicationId, {
      data: file.file,
      filename: file.filename,
      contentType: file.contentType,
    });
  }

  injectFault(fault: FaultSpec): void {
    this.router.injectFault(fault);
  }

  /** Clears calls, messages, interactions, nonces and faults (keeps sessions, commands and the world). */
  reset(): void {
    this.calls.length = 0;
    this.interactions.length = 0;
    this.store.reset();
    this.router.faults.length = 0;
  }

  /** Resolves with the first truthy value of `predicate`, re-checked on every change (and every 20 ms). */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let v: T | undefined | null | false;
        try {
          v = predicate();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`DiscordEmulator.waitFor timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 20);
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.events.off('change', check);
      };
      this.events.on('change', check);
      check();
    });
  }

  /** Every message that exists (not deleted), oldest first; optionally only one channel's. */
  messages(channelId?: string): EmulatedMessage[] {
    return this.store.list(channelId).map((m) => this.store.snapshot(m));
  }

  message(id: string): EmulatedMessage | undefined {
    const m = this.store.live(id);
    return m ? this.store.snapshot(m) : undefined;
  }

  /** Seeds a message written by a (non-bot) user, e.g. to give the bot history to search. */
  addUserMessage(opts: { channelId: string; userId: string; content: string }): EmulatedMessage {
    const loc = W.findChannel(this.world, opts.channelId) ?? fail(404, E.UnknownChannel, 'Unknown Channel');
    const m = this.store.create({
      channelId: opts.channelId,
      guild: loc.guild,
      authorId: opts.userId,
      kind: 'user',
      body: { content: opts.content },
      files: [],
      defaultParse: ['users', 'roles', 'everyone'],
    });
    return this.store.snapshot(m);
  }

  // ---- interactions ------------------------------------------------------------------------------------------
  pushInteraction(opts: PushInteractionOptions): InteractionHandle {
    return this.interactionHub.pushCommand(InteractionType.ApplicationCommand, opts);
  }

  pushAutocomplete(opts: PushAutocompleteOptions): InteractionHandle {
    return this.interactionHub.pushCommand(InteractionType.ApplicationCommandAutocomplete, opts, opts.focused);
  }

  pushComponent(opts: PushComponentOptions): InteractionHandle {
    return this.interactionHub.pushComponent(opts);
  }

  /** The user submits the modal `opts.opener` was answered with (MODAL_SUBMIT). */
  pushModalSubmit(opts: PushModalSubmitOptions): InteractionHandle {
    return this.interactionHub.pushModalSubmit(opts);
  }

  /** Delivers an interaction again with the same id and token (a gateway replay). */
  replayInteraction(handle: InteractionHandle, sessionIndex?: number): void {
    this.interactionHub.replay(handle, sessionIndex);
  }

  private changed(): void {
    this.events.emit('change');
  }
}
