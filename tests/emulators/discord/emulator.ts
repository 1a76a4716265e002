// Local Discord for end-to-end tests: REST (/api/v10) + gateway on one 127.0.0.1 port, a fixture world, interaction
// tokens on an injectable clock, permission checks, upload limits, nonce dedupe, ping computation, fault injection
// and a record of every call. See /work/shared/reference/discord-emulation.md for the facts this follows.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermissionFlagsBits as P } from 'discord-api-types/v10';
import { type Clock, OffsetClock, SnowflakeFactory } from './clock';
import { Gateway, type GatewaySession } from './gateway';
import * as W from './world';

const MiB = 1024 * 1024;
const FLAG_EPHEMERAL = 64;
const FLAG_LOADING = 128;

export interface RecordedFile {
  field: string;
  name: string;
  size: number;
  contentType: string;
}
export interface RecordedCall {
  method: string;
  /** Decoded path below the version, e.g. `/webhooks/{app}/{token}/messages/@original`. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or the parsed `payload_json` of a multipart request. */
  body: any;
  files: RecordedFile[];
  status: number;
  response: unknown;
  /** Carried a valid `Authorization: Bot <token>`. */
  authorized: boolean;
  /** Emulator-clock time of arrival. */
  at: number;
}
export interface Pinged {
  users: string[];
  roles: string[];
  everyone: boolean;
}
export interface MessageEdit {
  at: number;
  content: string;
  pinged: Pinged;
}
export type MessageKind = 'channel' | 'original' | 'followup' | 'user';
export interface EmulatedMessage {
  id: string;
  channelId: string;
  guildId?: string;
  kind: MessageKind;
  interactionId?: string;
  authorId: string;
  content: string;
  embeds: any[];
  attachments: any[];
  components: any[];
  flags: number;
  nonce?: string | number;
  ephemeral: boolean;
  loading: boolean;
  /** Number of edits, and each edit (edits never ping: their `pinged` is empty). */
  edits: number;
  editLog: MessageEdit[];
  /** Who the creation of this message really notified. */
  pinged: Pinged;
  createdAt: number;
  /** The API message object as the emulator returns it. */
  raw: any;
}
export interface FaultSpec {
  method?: string;
  /** Matched against the decoded path below the version (`/channels/…/messages`); a string matches as a substring. */
  path: RegExp | string;
  status: number;
  code?: number;
  message?: string;
  /** Seconds (429 only; fractions allowed). */
  retryAfter?: number;
  global?: boolean;
  /** How many requests it answers; default 1, `Infinity` for all. */
  times?: number;
}
export interface StoredInteraction {
  id: string;
  token: string;
  type: 2 | 3 | 4;
  guildId: string;
  channelId: string;
  userId: string;
  name?: string;
  customId?: string;
  createdAt: number;
  attachmentSizeLimit: number;
  sessionIndex: number;
  payload: any;
  ackType?: number;
  ackedAt?: number;
  originalMessageId?: string;
  sourceMessageId?: string;
  followUpIds: string[];
  autocompleteChoices?: unknown[];
  modal?: unknown;
}
export interface InteractionHandle {
  id: string;
  token: string;
  interaction: StoredInteraction;
  /** Resolves with the callback type (4, 5, 6, 7, 8, 9) once the interaction has been acknowledged. */
  waitForAck(timeoutMs?: number): Promise<number>;
  /** The original response (for a component interaction: the message the component is on). */
  original(): EmulatedMessage | undefined;
  followUps(): EmulatedMessage[];
  /** Original (if any) then follow-ups. */
  replies(): EmulatedMessage[];
  waitForReply(predicate?: (m: EmulatedMessage) => boolean, timeoutMs?: number): Promise<EmulatedMessage>;
  autocompleteChoices(): unknown[] | undefined;
}
export interface PushInteractionOptions {
  guildId?: string;
  channelId?: string;
  userId?: string;
  name: string;
  subcommand?: string;
  subcommandGroup?: string;
  options?: Record<string, string | number | boolean>;
  attachmentSizeLimit?: number;
  locale?: string;
  sessionIndex?: number;
}
export interface PushAutocompleteOptions extends PushInteractionOptions {
  focused: string;
}
export interface PushComponentOptions {
  message: EmulatedMessage | string;
  customId: string;
  userId?: string;
  componentType?: number;
  values?: string[];
  locale?: string;
  sessionIndex?: number;
}
export interface DiscordEmulatorOptions {
  clock?: Clock;
  /** Bot token to accept (default: a random one, see `token`). */
  token?: string;
  /** Window in which `enforce_nonce` returns the first message (default 5 min). */
  nonceWindowMs?: number;
  /** Deadline of the first interaction callback (default 3 s, as Discord). */
  ackDeadlineMs?: number;
  /** Lifetime of interaction tokens (default 15 min, as Discord). */
  tokenLifetimeMs?: number;
}

interface Upload extends RecordedFile {
  data: Buffer;
}
interface Ctx {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
  files: Upload[];
}
interface Result {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Route {
  method: string;
  re: RegExp;
  keys: string[];
  auth: boolean;
  handler: (ctx: Ctx) => Result | Promise<Result>;
}
interface StoredMessage {
  raw: any;
  kind: MessageKind;
  channelId: string;
  guildId?: string;
  authorId: string;
  interactionId?: string;
  createdAt: number;
  editLog: MessageEdit[];
  pinged: Pinged;
  deleted: boolean;
}

export class DiscordApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly extra: object = {},
  ) {
    super(message);
  }
}
const fail = (status: number, code: number, message: string, extra: object = {}): never => {
  throw new DiscordApiError(status, code, message, extra);
};
const formError = (field: string, code: string, message: string): never =>
  fail(400, 50035, 'Invalid Form Body', { errors: { [field]: { _errors: [{ code, message }] } } });
const noPings = (): Pinged => ({ users: [], roles: [], everyone: false });

export class DiscordEmulator {
  readonly clock: Clock;
  readonly token: string;
  readonly world: W.World;
  readonly calls: RecordedCall[] = [];
  readonly interactions: StoredInteraction[] = [];
  readonly commands = {
    global: [] as any[],
    guilds: new Map<string, any[]>(),
    guild: (guildId: string): any[] => this.commandList(guildId),
  };
  nonceWindowMs: number;
  ackDeadlineMs: number;
  tokenLifetimeMs: number;
  apiUrl = '';
  cdnUrl = '';
  gatewayUrl = '';
  port = 0;

  private readonly server: Server;
  private readonly gateway: Gateway;
  private readonly ids: SnowflakeFactory;
  private readonly events = new EventEmitter();
  private readonly store = new Map<string, StoredMessage>();
  private readonly attachmentData = new Map<string, { data: Buffer; contentType: string }>();
  private readonly nonces = new Map<string, { messageId: string; at: number }>();
  private readonly faults: FaultSpec[] = [];
  private readonly routes: Route[] = [];
  private roundRobin = 0;

  private constructor(opts: DiscordEmulatorOptions) {
    this.clock = opts.clock ?? new OffsetClock();
    this.token =
      opts.token ??
      `${Buffer.from(W.WORLD.botUserId).toString('base64url')}.emu.${randomBytes(20).toString('base64url')}`;
    this.nonceWindowMs = opts.nonceWindowMs ?? 5 * 60_000;
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 3_000;
    this.tokenLifetimeMs = opts.tokenLifetimeMs ?? 15 * 60_000;
    this.world = structuredClone(W.WORLD);
    this.ids = new SnowflakeFactory(this.clock);
    this.events.setMaxListeners(0);
    // A client killed mid-request (a SIGKILLed bot) aborts the body read: drop that request, as a real server would.
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.gateway = new Gateway(this.server, this.clock, {
      token: () => this.token,
      readyPayload: (session) => ({
        v: 10,
        user: { ...W.userPayload(this.world.users.bot), verified: true, mfa_enabled: false },
        guilds: W.guildList(this.world).map((g) => ({ id: g.id, unavailable: true })),
        session_id: session.sessionId,
        resume_gateway_url: this.gatewayUrl,
        shard: [0, 1],
        application: { id: this.world.applicationId, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        user_settings: {},
        geo_ordered_rtc_regions: [],
        _trace: ['emulator'],
      }),
      guildCreates: () => W.guildList(this.world).map((g) => W.guildCreatePayload(this.world, g)),
      onChange: () => this.changed(),
    });
    this.defineRoutes();
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
  sendReconnect(sessionIndex?: number): void {
    this.gateway.sendReconnect(sessionIndex);
  }
  invalidateSession(sessionIndex?: number, resumable = false): void {
    this.gateway.invalidateSession(sessionIndex, resumable);
  }
  closeSession(sessionIndex?: number, code = 4000, reason?: string): void {
    this.gateway.closeSession(sessionIndex, code, reason);
  }

  /** Sends a raw dispatch (e.g. GUILD_UPDATE after changing `world`) to one session, or to every live one. */
  dispatchEvent(t: string, d: unknown, sessionIndex?: number): void {
    for (const s of sessionIndex === undefined ? this.gateway.live() : [this.gateway.resolve(sessionIndex)])
      this.gateway.dispatch(s, t, d);
  }

  injectFault(fault: FaultSpec): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  /** Clears calls, messages, interactions, nonces and faults (keeps sessions, commands and the world). */
  reset(): void {
    this.calls.length = 0;
    this.interactions.length = 0;
    this.store.clear();
    this.attachmentData.clear();
    this.nonces.clear();
    this.faults.length = 0;
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
    return [...this.store.values()]
      .filter((m) => !m.deleted && (!channelId || m.channelId === channelId))
      .map((m) => this.snapshot(m));
  }

  message(id: string): EmulatedMessage | undefined {
    const m = this.store.get(id);
    return m && !m.deleted ? this.snapshot(m) : undefined;
  }

  /** Seeds a message written by a (non-bot) user, e.g. to give the bot history to search. */
  addUserMessage(opts: { channelId: string; userId: string; content: string }): EmulatedMessage {
    const loc = W.findChannel(this.world, opts.channelId) ?? fail(404, 10003, 'Unknown Channel');
    const m = this.createMessage({
      channelId: opts.channelId,
      guild: loc.guild,
      authorId: opts.userId,
      kind: 'user',
      body: { content: opts.content },
      files: [],
      defaultParse: ['users', 'roles', 'everyone'],
    });
    return this.snapshot(m);
  }

  // ---- interactions ------------------------------------------------------------------------------------------
  pushInteraction(opts: PushInteractionOptions): InteractionHandle {
    return this.pushCommandLike(2, opts);
  }

  pushAutocomplete(opts: PushAutocompleteOptions): InteractionHandle {
    return this.pushCommandLike(4, opts, opts.focused);
  }

  pushComponent(opts: PushComponentOptions): InteractionHandle {
    const id = typeof opts.message === 'string' ? opts.message : opts.message.id;
    const msg = this.store.get(id) ?? fail(404, 10008, `pushComponent: unknown message ${id}`);
    const data: any = { custom_id: opts.customId, component_type: opts.componentType ?? 2 };
    if (opts.values) data.values = opts.values;
    return this.dispatchInteraction(3, {
      guildId: msg.guildId ?? this.world.guilds.main.id,
      channelId: msg.channelId,
      userId: opts.userId ?? this.world.users.member.id,
      locale: opts.locale,
      sessionIndex: opts.sessionIndex,
      data,
      extra: { message: msg.raw },
      customId: opts.customId,
      sourceMessageId: msg.raw.id,
    });
  }

  private pushCommandLike(type: 2 | 4, opts: PushInteractionOptions, focused?: string): InteractionHandle {
    const guildId = opts.guildId ?? this.world.guilds.main.id;
    const cmd = [...this.commandList(guildId), ...this.commands.global].find(
      (c) => c.name === opts.name && (c.type ?? 1) === 1,
    );
    let defs: any[] = cmd?.options ?? [];
    const resolved: Record<string, Record<string, unknown>> = {};
    const guild = W.findGuild(this.world, guildId);
    const leaf = Object.entries(opts.options ?? {}).map(([name, value]) => {
      const def = defs.find((o) => o.name === name);
      const type: number =
        def?.type ??
        (typeof value === 'boolean' ? 5 : typeof value === 'number' ? (Number.isInteger(value) ? 4 : 10) : 3);
      this.resolveOption(type, String(value), guild, resolved);
      return { name, type, value, ...(focused === name ? { focused: true } : {}) };
    });
    let options: any[] = leaf;
    if (opts.subcommandGroup) defs = defs.find((o) => o.name === opts.subcommandGroup)?.options ?? [];
    if (opts.subcommand) options = [{ name: opts.subcommand, type: 1, options: leaf }];
    if (opts.subcommandGroup) options = [{ name: opts.subcommandGroup, type: 2, options }];
    const data: any = { id: cmd?.id ?? this.ids.next(), name: opts.name, type: 1, options };
    if (cmd?.guild_id) data.guild_id = cmd.guild_id;
    if (Object.keys(resolved).length) data.resolved = resolved;
    return this.dispatchInteraction(type, { ...opts, guildId, data, name: opts.name });
  }

  private resolveOption(
    type: number,
    value: string,
    guild: W.WorldGuild | undefined,
    out: Record<string, Record<string, unknown>>,
  ) {
    const put = (k: string, v: unknown) => ((out[k] ??= {})[value] = v);
    if (type === 6 || type === 9) {
      const user = W.findUser(this.world, value);
      const member = guild && W.findMember(guild, value);
      if (user) put('users', W.userPayload(user));
      if (guild && member) {
        const { user: _u, ...rest } = W.memberPayload(this.world, guild, member);
        put('members', rest);
      }
    }
    if ((type === 8 || type === 9) && guild) {
      const role = W.findRole(guild, value);
      if (role) put('roles', W.rolePayload(role));
    }
    if (type === 7) {
      const loc = W.findChannel(this.world, value);
      if (loc) put('channels', { ...W.channelPayload(loc.guild, loc.channel), permissions: '0' });
    }
  }

  private dispatchInteraction(
    type: 2 | 3 | 4,
    o: {
      guildId: string;
      channelId?: string;
      userId?: string;
      locale?: string;
      sessionIndex?: number;
      attachmentSizeLimit?: number;
      data: any;
      extra?: object;
      name?: string;
      customId?: string;
      sourceMessageId?: string;
    },
  ): InteractionHandle {
    const guild = W.findGuild(this.world, o.guildId) ?? fail(404, 10004, `unknown guild ${o.guildId}`);
    const channel = o.channelId
      ? (Object.values(guild.channels).find((c) => c.id === o.channelId) ??
        fail(404, 10003, `channel ${o.channelId} not in guild`))
      : guild.channels.general;
    const userId = o.userId ?? this.world.users.member.id;
    const member = W.findMember(guild, userId) ?? fail(404, 10007, `user ${userId} is not a member of ${guild.id}`);
    const live = this.gateway.live();
    let session: GatewaySession;
    if (o.sessionIndex !== undefined) session = this.gateway.resolve(o.sessionIndex);
    else {
      if (!live.length) throw new Error('pushInteraction: no connected, ready gateway session');
      session = live[this.roundRobin++ % live.length];
    }
    if (session.invalidated) throw new Error(`pushInteraction: session ${session.index} is invalidated`);
    const id = this.ids.next();
    const token = `aW50ZXJhY3Rpb246${id}:${randomBytes(48).toString('base64url')}`;
    const attachmentSizeLimit = o.attachmentSizeLimit ?? 20 * MiB;
    const payload = {
      id,
      application_id: this.world.applicationId,
      type,
      token,
      version: 1,
      guild_id: guild.id,
      guild: { id: guild.id, locale: 'en-US', features: [] },
      channel: {
        ...W.channelPayload(guild, channel),
        permissions: W.channelPermissions(guild, channel, userId).toString(),
      },
      channel_id: channel.id,
      member: {
        ...W.memberPayload(this.world, guild, member),
        permissions: W.channelPermissions(guild, channel, userId).toString(),
      },
      app_permissions: W.channelPermissions(guild, channel, this.world.botUserId).toString(),
      locale: o.locale ?? 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guild.id },
      context: 0,
      attachment_size_limit: attachmentSizeLimit,
      data: o.data,
      ...o.extra,
    };
    const it: StoredInteraction = {
      id,
      token,
      type,
      guildId: guild.id,
      channelId: channel.id,
      userId,
      name: o.name,
      customId: o.customId,
      createdAt: this.clock.now(),
      attachmentSizeLimit,
      sessionIndex: session.index,
      payload,
      followUpIds: [],
      sourceMessageId: o.sourceMessageId,
    };
    this.interactions.push(it);
    this.gateway.dispatch(session, 'INTERACTION_CREATE', payload);
    this.changed();
    return this.handleFor(it);
  }

  private handleFor(it: StoredInteraction): InteractionHandle {
    const original = () => {
      const mid = it.type === 3 ? it.sourceMessageId : it.originalMessageId;
      return mid ? this.message(mid) : undefined;
    };
    const followUps = () => it.followUpIds.map((m) => this.message(m)).filter((m): m is EmulatedMessage => !!m);
    const replies = () => [original(), ...followUps()].filter((m): m is EmulatedMessage => !!m);
    return {
      id: it.id,
      token: it.token,
      interaction: it,
      original,
      followUps,
      replies,
      waitForAck: (timeoutMs = 5_000) => this.waitFor(() => it.ackType, timeoutMs, `ack of interaction ${it.id}`),
      waitForReply: (predicate = () => true, timeoutMs = 5_000) =>
        this.waitFor(() => replies().find(predicate), timeoutMs, `a reply to interaction ${it.id}`),
      autocompleteChoices: () => it.autocompleteChoices,
    };
  }

  // ---- HTTP plumbing -----------------------------------------------------------------------------------------
  private changed(): void {
    this.events.emit('change');
  }

  private commandList(guildId: string): any[] {
    let list = this.commands.guilds.get(guildId);
    if (!list) this.commands.guilds.set(guildId, (list = []));
    return list;
  }

  private route(method: string, pattern: string, handler: Route['handler'], auth = true): void {
    const keys: string[] = [];
    const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, k) => (keys.push(k), '([^/]+)'))}/?$`);
    this.routes.push({ method, re, keys, auth, handler });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'GET' && url.pathname.startsWith('/attachments/')) {
      const file = this.attachmentData.get(url.pathname.split('/')[3] ?? '');
      res.writeHead(file ? 200 : 404, { 'Content-Type': file?.contentType ?? 'text/plain' });
      res.end(file?.data ?? 'Not Found');
      return;
    }
    const m = /^\/api(?:\/v\d+)?(\/.*)?$/.exec(url.pathname);
    const path = (m?.[1] ?? url.pathname)
      .split('/')
      .map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          return p;
        }
      })
      .join('/');
    const call: RecordedCall = {
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      files: [],
      status: 0,
      response: undefined,
      authorized: req.headers.authorization === `Bot ${this.token}`,
      at: this.clock.now(),
    };
    this.calls.push(call);
    let result: Result;
    try {
      const ctx: Ctx = { method, path, params: {}, query: url.searchParams, ...(await this.parseBody(req, raw)) };
      call.body = ctx.body;
      call.files = ctx.files.map(({ data: _d, ...f }) => f);
      result = await this.dispatchRoute(ctx, call, !!m);
    } catch (e) {
      if (e instanceof DiscordApiError)
        result = { status: e.status, body: { message: e.message, code: e.code, ...e.extra } };
      else {
        console.error('[discord-emulator]', e);
        result = { status: 500, body: { message: '500: Internal Server Error', code: 0 } };
      }
    }
    call.status = result.status;
    call.response = result.body;
    const headers: Record<string, string> = { ...result.headers };
    if (result.body !== undefined) headers['Content-Type'] = 'application/json';
    res.writeHead(result.status, headers);
    res.end(result.body === undefined ? undefined : JSON.stringify(result.body));
    this.changed();
  }

  private async parseBody(req: IncomingMessage, raw: Buffer): Promise<{ body: any; files: Upload[] }> {
    const ct = req.headers['content-type'] ?? '';
    if (!raw.length) return { body: undefined, files: [] };
    if (ct.startsWith('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': ct } }).formData();
      let body: any = {};
      const files: Upload[] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') {
          if (field === 'payload_json') body = { ...body, ...JSON.parse(value) };
          else body[field] = value;
        } else {
          const data = Buffer.from(await value.arrayBuffer());
          files.push({
            field,
            name: value.name,
            size: data.length,
            contentType: value.type || 'application/octet-stream',
            data,
          });
        }
      }
      return { body, files };
    }
    try {
      return { body: JSON.parse(raw.toString('utf8')), files: [] };
    } catch {
      return fail(400, 50109, 'The request body contains invalid JSON.');
    }
  }

  private async dispatchRoute(ctx: Ctx, call: RecordedCall, underApi: boolean): Promise<Result> {
    const matches = underApi ? this.routes.filter((r) => r.re.test(ctx.path)) : [];
    const route = matches.find((r) => r.method === ctx.method);
    if (!route) {
      return matches.length
        ? { status: 405, body: { message: '405: Method Not Allowed', code: 0 } }
        : { status: 404, body: { message: '404: Not Found', code: 0 } };
    }
    if (route.auth && !call.authorized) return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
    const fault = this.takeFault(ctx.method, ctx.path);
    if (fault) return fault;
    const values = route.re.exec(ctx.path)!.slice(1);
    route.keys.forEach((k, i) => (ctx.params[k] = values[i]));
    return route.handler(ctx);
  }

  private takeFault(method: string, path: string): Result | undefined {
    const list = this.faults;
    const i = list.findIndex(
      (f) =>
        (!f.method || f.method.toUpperCase() === method) &&
        (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path)),
    );
    if (i < 0) return undefined;
    const f = list[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) list.splice(i, 1);
    if (f.status === 429) {
      const retryAfter = f.retryAfter ?? 0.05;
      const headers: Record<string, string> = {
        'Retry-After': String(retryAfter),
        'X-RateLimit-Scope': f.global ? 'global' : 'user',
      };
      if (f.global) headers['X-RateLimit-Global'] = 'true';
      return {
        status: 429,
        headers,
        body: {
          message: f.message ?? 'You are being rate limited.',
          retry_after: retryAfter,
          global: !!f.global,
          code: f.code ?? 0,
        },
      };
    }
    const defaults: Record<number, string> = {
      50013: 'Missing Permissions',
      50001: 'Missing Access',
      10003: 'Unknown Channel',
      10008: 'Unknown Message',
      10062: 'Unknown interaction',
      40005: 'Request entity too large',
      50027: 'Invalid Webhook Token',
    };
    const code = f.code ?? 0;
    return { status: f.status, body: { message: f.message ?? defaults[code] ?? `${f.status}: Emulated fault`, code } };
  }

  // ---- messages ----------------------------------------------------------------------------------------------
  private snapshot(m: StoredMessage): EmulatedMessage {
    const r = m.raw;
    return {
      id: r.id,
      channelId: m.channelId,
      guildId: m.guildId,
      kind: m.kind,
      interactionId: m.interactionId,
      authorId: m.authorId,
      content: r.content,
      embeds: r.embeds,
      attachments: r.attachments,
      components: r.components,
      flags: r.flags,
      nonce: r.nonce,
      ephemeral: !!(r.flags & FLAG_EPHEMERAL),
      loading: !!(r.flags & FLAG_LOADING),
      edits: m.editLog.length,
      editLog: m.editLog.map((e) => ({ ...e })),
      pinged: structuredClone(m.pinged),
      createdAt: m.createdAt,
      raw: structuredClone(r),
    };
  }

  private checkBody(body: any, files: Upload[], creating: boolean): void {
    const am = body?.allowed_mentions;
    if (am) {
      for (const k of ['users', 'roles'] as const) {
        if (am.parse?.includes(k) && am[k]?.length) {
          formError(
            'allowed_mentions',
            'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
            `parse:["${k}"] and ${k}: [ids...] are mutually exclusive.`,
          );
        }
        if ((am[k]?.length ?? 0) > 100)
          formError('allowed_mentions', 'BASE_TYPE_MAX_LENGTH', `${k} must have at most 100 items.`);
      }
    }
    if (typeof body?.content === 'string' && body.content.length > 2000)
      formError('content', 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
    if ((body?.embeds?.length ?? 0) > 10) formError('embeds', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    if (typeof body?.nonce === 'string' && body.nonce.length > 25)
      formError('nonce', 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
    if (files.length > 10) formError('files', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    if (
      creating &&
      !body?.content &&
      !body?.embeds?.length &&
      !files.length &&
      !body?.components?.length &&
      !body?.sticker_ids?.length &&
      !body?.poll
    ) {
      fail(400, 50006, 'Cannot send an empty message');
    }
  }

  private checkUploadLimit(files: Upload[], limit: number): void {
    if (files.some((f) => f.size > limit)) fail(413, 40005, 'Request entity too large');
  }

  /** Who a newly created message notifies, from its content, allowed_mentions and the author's permissions. */
  private computePings(
    guild: W.WorldGuild | undefined,
    channelId: string,
    authorId: string,
    body: any,
    defaultParse: string[],
  ): Pinged {
    const content: string = body?.content ?? '';
    const am = body?.allowed_mentions;
    const parse: string[] = am ? (am.parse ?? []) : defaultParse;
    const channel = guild && Object.values(guild.channels).find((c) => c.id === channelId);
    const perms = guild && channel ? W.channelPermissions(guild, channel, authorId) : 0n;
    const canEveryone = (perms & P.MentionEveryone) !== 0n;
    const users = new Set<string>();
    for (const [, id] of content.matchAll(/<@!?(\d{17,20})>/g)) {
      const known = guild ? W.findMember(guild, id) : W.findUser(this.world, id);
      if (known && (parse.includes('users') || am?.users?.includes(id))) users.add(id);
    }
    const roles = new Set<string>();
    for (const [, id] of content.matchAll(/<@&(\d{17,20})>/g)) {
      const role = guild && W.findRole(guild, id);
      if (role && (parse.includes('roles') || am?.roles?.includes(id)) && (role.mentionable || canEveryone))
        roles.add(id);
    }
    const everyone = /@(everyone|here)\b/.test(content) && parse.includes('everyone') && canEveryone;
    return { users: [...users], roles: [...roles], everyone };
  }

  private buildAttachments(files: Upload[], meta: any[] | undefined, channelId: string): any[] {
    return files.map((f, i) => {
      const index = /^files\[(\d+)\]$/.exec(f.field)?.[1] ?? String(i);
      const m = meta?.find((a) => String(a.id) === index) ?? {};
      const id = this.ids.next();
      const filename: string = m.filename ?? f.name;
      this.attachmentData.set(id, { data: f.data, contentType: f.contentType });
      const url = `http://127.0.0.1:${this.port}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
      return {
        id,
        filename,
        size: f.size,
        url,
        proxy_url: url,
        content_type: f.contentType,
        ...(m.description ? { description: m.description } : {}),
        ...(m.title ? { title: m.title } : {}),
      };
    });
  }

  /** Applies content/embeds/components/attachments of a create or edit body to an API message object. */
  private applyBody(raw: any, body: any, files: Upload[], creating: boolean): void {
    if (body.content !== undefined) raw.content = body.content ?? '';
    if (body.components !== undefined) raw.components = body.components ?? [];
    if (body.tts !== undefined && creating) raw.tts = !!body.tts;
    const added = this.buildAttachments(files, body.attachments, raw.channel_id);
    if (body.attachments !== undefined && !creating) {
      const keep = new Set((body.attachments ?? []).map((a: any) => String(a.id)));
      raw.attachments = raw.attachments.filter((a: any) => keep.has(a.id));
    }
    raw.attachments = [...raw.attachments, ...added];
    if (body.embeds !== undefined) {
      const byName = new Map(raw.attachments.map((a: any) => [a.filename, a]));
      const fix = (img: any) => {
        const a: any = img?.url?.startsWith('attachment://') ? byName.get(img.url.slice(13)) : undefined;
        return a ? { ...img, url: a.url, proxy_url: a.url } : img;
      };
      raw.embeds = (body.embeds ?? []).map((e: any) => ({
        type: 'rich',
        ...e,
        ...(e.image ? { image: fix(e.image) } : {}),
        ...(e.thumbnail ? { thumbnail: fix(e.thumbnail) } : {}),
      }));
    }
    if (body.flags !== undefined) {
      raw.flags = creating ? Number(body.flags) : (raw.flags & ~4) | (Number(body.flags) & 4);
    }
  }

  private createMessage(o: {
    channelId: string;
    guild?: W.WorldGuild;
    authorId: string;
    kind: MessageKind;
    body: any;
    files: Upload[];
    defaultParse: string[];
    interaction?: StoredInteraction;
    extraFlags?: number;
  }): StoredMessage {
    const author = W.findUser(this.world, o.authorId);
    const pinged = this.computePings(o.guild, o.channelId, o.authorId, o.body, o.defaultParse);
    const it = o.interaction;
    const raw: any = {
      id: this.ids.next(),
      channel_id: o.channelId,
      ...(o.guild ? { guild_id: o.guild.id } : {}),
      author: author
        ? W.userPayload(author)
        : { id: o.authorId, username: 'unknown', discriminator: '0', global_name: null, avatar: null },
      content: '',
      timestamp: new Date(this.clock.now()).toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: pinged.everyone,
      mentions: [],
      mention_roles: pinged.roles,
      attachments: [],
      embeds: [],
      components: [],
      pinned: false,
      type: it?.type === 2 && o.kind === 'original' ? 20 : 0,
      flags: 0,
    };
    raw.mentions = pinged.users
      .map((id) => W.findUser(this.world, id))
      .filter(Boolean)
      .map((u) => W.userPayload(u!));
    this.applyBody(raw, o.body, o.files, true);
    raw.flags |= o.extraFlags ?? 0;
    if (o.body.nonce !== undefined) raw.nonce = o.body.nonce;
    if (it) {
      raw.webhook_id = this.world.applicationId;
      raw.application_id = this.world.applicationId;
      raw.interaction_metadata = {
        id: it.id,
        type: it.type,
        user: W.userPayload(W.findUser(this.world, it.userId)!),
        authorizing_integration_owners: { '0': it.guildId },
        ...(it.name ? { name: it.name } : {}),
      };
    }
    const m: StoredMessage = {
      raw,
      kind: o.kind,
      channelId: o.channelId,
      guildId: o.guild?.id,
      authorId: o.authorId,
      interactionId: it?.id,
      createdAt: this.clock.now(),
      editLog: [],
      pinged,
      deleted: false,
    };
    this.store.set(raw.id, m);
    return m;
  }

  private editMessage(m: StoredMessage, body: any, files: Upload[]): any {
    this.checkBody(body, files, false);
    this.applyBody(m.raw, body, files, false);
    m.raw.flags &= ~FLAG_LOADING;
    m.raw.edited_timestamp = new Date(this.clock.now()).toISOString();
    m.editLog.push({ at: this.clock.now(), content: m.raw.content, pinged: noPings() });
    return m.raw;
  }

  // ---- interaction token checks --------------------------------------------------------------------------------
  private interactionByToken(appId: string, token: string): StoredInteraction {
    if (appId !== this.world.applicationId) fail(404, 10015, 'Unknown Webhook');
    const it = this.interactions.find((i) => i.token === token);
    if (!it || this.clock.now() - it.createdAt > this.tokenLifetimeMs) fail(401, 50027, 'Invalid Webhook Token');
    return it!;
  }

  private originalOf(it: StoredInteraction): StoredMessage {
    const id = it.type === 3 ? it.sourceMessageId : it.originalMessageId;
    const m = id ? this.store.get(id) : undefined;
    return m && !m.deleted ? m : fail(404, 10008, 'Unknown Message');
  }

  private callback(ctx: Ctx): Result {
    const it =
      this.interactions.find((i) => i.id === ctx.params.iid && i.token === ctx.params.itoken) ??
      fail(404, 10062, 'Unknown interaction');
    const age = this.clock.now() - it.createdAt;
    if (age > this.tokenLifetimeMs) fail(401, 50027, 'Invalid Webhook Token');
    if (it.ackType !== undefined) fail(400, 40060, 'Interaction has already been acknowledged.');
    if (age > this.ackDeadlineMs) fail(404, 10062, 'Unknown interaction');
    const type = Number(ctx.body?.type);
    const data = ctx.body?.data ?? {};
    const allowed: Record<number, number[]> = { 2: [4, 5, 9], 3: [4, 5, 6, 7, 9], 4: [8] };
    if (!allowed[it.type].includes(type))
      formError('type', 'INTERACTION_RESPONSE_TYPE_INVALID', 'Interaction callback type invalid for this interaction');
    this.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
    const guild = W.findGuild(this.world, it.guildId);
    let message: StoredMessage | undefined;
    if (type === 4 || type === 5) {
      this.checkBody(data, ctx.files, type === 4);
      message = this.createMessage({
        channelId: it.channelId,
        guild,
        authorId: this.world.botUserId,
        kind: 'original',
        interaction: it,
        body: type === 4 ? data : { flags: data.flags ?? 0 },
        files: type === 4 ? ctx.files : [],
        defaultParse: ['users'],
        extraFlags: type === 5 ? FLAG_LOADING : 0,
      });
      if (type === 5) message.pinged = noPings();
      it.originalMessageId = message.raw.id;
    } else if (type === 7) {
      message = this.originalOf(it);
      this.editMessage(message, data, ctx.files);
    } else if (type === 8) {
      it.autocompleteChoices = data.choices ?? [];
    } else if (type === 9) {
      it.modal = data;
    }
    it.ackType = type;
    it.ackedAt = this.clock.now();
    if (ctx.query.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: {
          id: it.id,
          type: it.type,
          activity_instance_id: null,
          response_message_id: message?.raw.id ?? null,
          response_message_loading: type === 5,
          response_message_ephemeral: !!((message?.raw.flags ?? 0) & FLAG_EPHEMERAL),
        },
        resource: { type, ...(message ? { message: message.raw } : {}) },
      },
    };
  }

  // ---- routes ------------------------------------------------------------------------------------------------
  private channelFor(id: string): { guild: W.WorldGuild; channel: W.WorldChannel; perms: bigint } {
    const loc = W.findChannel(this.world, id) ?? fail(404, 10003, 'Unknown Channel');
    const perms = W.channelPermissions(loc!.guild, loc!.channel, this.world.botUserId);
    if (!(perms & P.ViewChannel)) fail(403, 50001, 'Missing Access');
    return { ...loc!, perms };
  }

  private channelMessage(channelId: string, messageId: string): StoredMessage {
    const m = this.store.get(messageId);
    return m && !m.deleted && m.channelId === channelId && !(m.raw.flags & FLAG_EPHEMERAL)
      ? m
      : fail(404, 10008, 'Unknown Message');
  }

  private upsertCommand(list: any[], body: any, guildId?: string, existingId?: string): { cmd: any; created: boolean } {
    const type = body.type ?? 1;
    const old = existingId
      ? list.find((c) => c.id === existingId)
      : list.find((c) => c.name === body.name && (c.type ?? 1) === type);
    if (existingId && !old) fail(404, 10063, 'Unknown application command');
    const cmd = {
      description: '',
      options: [],
      default_member_permissions: null,
      dm_permission: true,
      nsfw: false,
      contexts: null,
      integration_types: [0],
      name_localizations: null,
      description_localizations: null,
      ...old,
      ...body,
      id: old?.id ?? this.ids.next(),
      application_id: this.world.applicationId,
      type,
      version: this.ids.next(),
      ...(guildId ? { guild_id: guildId } : {}),
    };
    if (old) list.splice(list.indexOf(old), 1, cmd);
    else list.push(cmd);
    return { cmd, created: !old };
  }

  private commandRoutes(prefix: string, listOf: (ctx: Ctx) => { list: any[]; guildId?: string }): void {
    this.route('GET', prefix, (ctx) => ({ status: 200, body: listOf(ctx).list }));
    this.route('POST', prefix, (ctx) => {
      const { list, guildId } = listOf(ctx);
      const { cmd, created } = this.upsertCommand(list, ctx.body ?? {}, guildId);
      return { status: created ? 201 : 200, body: cmd };
    });
    this.route('PUT', prefix, (ctx) => {
      const { list, guildId } = listOf(ctx);
      const old = [...list];
      list.length = 0;
      for (const body of (ctx.body ?? []) as any[]) {
        const prev = old.find((c) => c.name === body.name && (c.type ?? 1) === (body.type ?? 1));
        if (prev) list.push(prev);
        this.upsertCommand(list, body, guildId, prev?.id);
      }
      return { status: 200, body: list };
    });
    this.route('GET', `${prefix}/:cid`, (ctx) => ({
      status: 200,
      body: listOf(ctx).list.find((c) => c.id === ctx.params.cid) ?? fail(404, 10063, 'Unknown application command'),
    }));
    this.route('PATCH', `${prefix}/:cid`, (ctx) => {
      const { list, guildId } = listOf(ctx);
      return { status: 200, body: this.upsertCommand(list, ctx.body ?? {}, guildId, ctx.params.cid).cmd };
    });
    this.route('DELETE', `${prefix}/:cid`, (ctx) => {
      const { list } = listOf(ctx);
      const i = list.findIndex((c) => c.id === ctx.params.cid);
      if (i < 0) fail(404, 10063, 'Unknown application command');
      list.splice(i, 1);
      return { status: 204 };
    });
  }

  private defineRoutes(): void {
    const w = this.world;
    const app = (ctx: Ctx) => (ctx.params.app === w.applicationId ? undefined : fail(403, 50001, 'Missing Access'));
    const guildOf = (id: string) => W.findGuild(w, id) ?? fail(404, 10004, 'Unknown Guild');
    const gateway = () => ({ status: 200, body: { url: this.gatewayUrl } });

    this.route('GET', '/gateway', gateway, false);
    this.route('GET', '/gateway/bot', () => ({
      status: 200,
      body: {
        url: this.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      },
    }));
    this.route('GET', '/users/@me', () => ({
      status: 200,
      body: { ...W.userPayload(w.users.bot), verified: true, mfa_enabled: false },
    }));
    this.route('GET', '/users/:uid', (ctx) => {
      const u = W.findUser(w, ctx.params.uid) ?? fail(404, 10013, 'Unknown User');
      return { status: 200, body: W.userPayload(u!) };
    });
    this.route('GET', '/applications/@me', () => ({
      status: 200,
      body: {
        id: w.applicationId,
        name: 'veobot',
        icon: null,
        description: '',
        bot_public: true,
        bot_require_code_grant: false,
        verify_key: '0'.repeat(64),
        flags: 0,
        team: null,
        owner: W.userPayload(w.users.owner),
        bot: W.userPayload(w.users.bot),
        approximate_guild_count: W.guildList(w).length,
        integration_types_config: { '0': {} },
      },
    }));
    this.commandRoutes('/applications/:app/commands', (ctx) => (app(ctx), { list: this.commands.global }));
    this.commandRoutes('/applications/:app/guilds/:gid/commands', (ctx) => {
      app(ctx);
      guildOf(ctx.params.gid);
      return { list: this.commandList(ctx.params.gid), guildId: ctx.params.gid };
    });
    this.route('GET', '/guilds/:gid', (ctx) => {
      const g = guildOf(ctx.params.gid);
      return { status: 200, body: { ...W.guildPayload(w, g!), approximate_member_count: g!.members.length } };
    });
    this.route('GET', '/guilds/:gid/channels', (ctx) => {
      const g = guildOf(ctx.params.gid)!;
      return { status: 200, body: Object.values(g.channels).map((c) => W.channelPayload(g, c)) };
    });
    this.route('GET', '/guilds/:gid/roles', (ctx) => ({
      status: 200,
      body: Object.values(guildOf(ctx.params.gid)!.roles).map(W.rolePayload),
    }));
    this.route('GET', '/guilds/:gid/members/:uid', (ctx) => {
      const g = guildOf(ctx.params.gid)!;
      const m = W.findMember(g, ctx.params.uid) ?? fail(404, 10007, 'Unknown Member');
      return { status: 200, body: W.memberPayload(w, g, m!) };
    });
    this.route('GET', '/channels/:cid', (ctx) => {
      const { guild, channel } = this.channelFor(ctx.params.cid);
      return { status: 200, body: W.channelPayload(guild, channel) };
    });
    this.route('GET', '/channels/:cid/messages', (ctx) => {
      const { perms } = this.channelFor(ctx.params.cid);
      if (!(perms & P.ReadMessageHistory)) return { status: 200, body: [] };
      const limit = Math.min(Math.max(Number(ctx.query.get('limit') ?? 50), 1), 100);
      const before = ctx.query.get('before');
      const after = ctx.query.get('after');
      let list = [...this.store.values()]
        .filter((m) => !m.deleted && m.channelId === ctx.params.cid && !(m.raw.flags & FLAG_EPHEMERAL))
        .sort((a, b) => (BigInt(b.raw.id) > BigInt(a.raw.id) ? 1 : -1));
      if (before) list = list.filter((m) => BigInt(m.raw.id) < BigInt(before));
      if (after)
        list = list
          .filter((m) => BigInt(m.raw.id) > BigInt(after))
          .reverse()
          .slice(0, limit)
          .reverse();
      return { status: 200, body: list.slice(0, limit).map((m) => m.raw) };
    });
    this.route('GET', '/channels/:cid/messages/:mid', (ctx) => {
      const { perms } = this.channelFor(ctx.params.cid);
      if (!(perms & P.ReadMessageHistory)) fail(403, 50001, 'Missing Access');
      return { status: 200, body: this.channelMessage(ctx.params.cid, ctx.params.mid).raw };
    });
    this.route('POST', '/channels/:cid/messages', (ctx) => {
      const { guild, channel, perms } = this.channelFor(ctx.params.cid);
      this.checkUploadLimit(ctx.files, W.guildUploadLimit(guild));
      if (!(perms & P.SendMessages)) fail(403, 50013, 'Missing Permissions');
      if (ctx.files.length && !(perms & P.AttachFiles)) fail(403, 50013, 'Missing Permissions');
      const body = ctx.body ?? {};
      this.checkBody(body, ctx.files, true);
      const key = `${w.botUserId}:${body.nonce}`;
      if (body.enforce_nonce && body.nonce !== undefined) {
        const seen = this.nonces.get(key);
        const first =
          seen && this.clock.now() - seen.at <= this.nonceWindowMs ? this.store.get(seen.messageId) : undefined;
        if (first && !first.deleted) return { status: 200, body: first.raw };
      }
      const m = this.createMessage({
        channelId: channel.id,
        guild,
        authorId: w.botUserId,
        kind: 'channel',
        body,
        files: ctx.files,
        defaultParse: ['users', 'roles', 'everyone'],
      });
      if (body.nonce !== undefined) this.nonces.set(key, { messageId: m.raw.id, at: this.clock.now() });
      return { status: 200, body: m.raw };
    });
    this.route('PATCH', '/channels/:cid/messages/:mid', (ctx) => {
      const { guild, perms } = this.channelFor(ctx.params.cid);
      const m = this.channelMessage(ctx.params.cid, ctx.params.mid);
      if (m.authorId !== w.botUserId) fail(403, 50005, 'Cannot edit a message authored by another user');
      if (!(perms & P.SendMessages) && !m.interactionId) fail(403, 50013, 'Missing Permissions');
      this.checkUploadLimit(ctx.files, W.guildUploadLimit(guild));
      return { status: 200, body: this.editMessage(m, ctx.body ?? {}, ctx.files) };
    });
    this.route('DELETE', '/channels/:cid/messages/:mid', (ctx) => {
      const { perms } = this.channelFor(ctx.params.cid);
      const m = this.channelMessage(ctx.params.cid, ctx.params.mid);
      if (m.authorId !== w.botUserId && !(perms & P.ManageMessages)) fail(403, 50013, 'Missing Permissions');
      m.deleted = true;
      return { status: 204 };
    });

    // Interaction callback and webhook routes: discord.js sends them without Authorization.
    this.route('POST', '/interactions/:iid/:itoken/callback', (ctx) => this.callback(ctx), false);
    const webhookMessage = (ctx: Ctx): { it: StoredInteraction; m: StoredMessage } => {
      const it = this.interactionByToken(ctx.params.app, ctx.params.token);
      if (ctx.params.mid === '@original') return { it, m: this.originalOf(it) };
      const m = this.store.get(ctx.params.mid);
      const mine = m && !m.deleted && (m.interactionId === it.id || m.raw.id === it.sourceMessageId);
      return { it, m: mine ? m! : fail(404, 10008, 'Unknown Message') };
    };
    this.route(
      'GET',
      '/webhooks/:app/:token/messages/:mid',
      (ctx) => ({ status: 200, body: webhookMessage(ctx).m.raw }),
      false,
    );
    this.route(
      'PATCH',
      '/webhooks/:app/:token/messages/:mid',
      (ctx) => {
        const { it, m } = webhookMessage(ctx);
        this.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
        return { status: 200, body: this.editMessage(m, ctx.body ?? {}, ctx.files) };
      },
      false,
    );
    this.route(
      'DELETE',
      '/webhooks/:app/:token/messages/:mid',
      (ctx) => {
        webhookMessage(ctx).m.deleted = true;
        return { status: 204 };
      },
      false,
    );
    this.route(
      'POST',
      '/webhooks/:app/:token',
      (ctx) => {
        const it = this.interactionByToken(ctx.params.app, ctx.params.token);
        if (it.ackType === undefined) fail(404, 10015, 'Unknown Webhook');
        this.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
        const body = ctx.body ?? {};
        let m: StoredMessage;
        const original = it.originalMessageId ? this.store.get(it.originalMessageId) : undefined;
        if (original && !original.deleted && original.raw.flags & FLAG_LOADING) {
          // Deprecated but real: the first follow-up after a type-5 defer replaces the loading message.
          this.editMessage(original, body, ctx.files);
          m = original;
        } else {
          this.checkBody(body, ctx.files, true);
          m = this.createMessage({
            channelId: it.channelId,
            guild: W.findGuild(w, it.guildId),
            authorId: w.botUserId,
            kind: 'followup',
            interaction: it,
            body,
            files: ctx.files,
            defaultParse: ['users'],
          });
          it.followUpIds.push(m.raw.id);
        }
        return ctx.query.get('wait') === 'true' ? { status: 200, body: m.raw } : { status: 204 };
      },
      false,
    );
  }
}
