// Interactions: INTERACTION_CREATE dispatch (slash commands with their resolved attachments, autocomplete, components,
// modal submissions), tokens on the emulator clock (3 s to acknowledge, 15 min of webhook use), the callback (with the
// MODAL it may open) and the `@original` / follow-up lookups. Over 400 lines on purpose: an interaction's whole life
// (dispatch, acknowledgement, modal, webhook lookups) shares one record and one clock, which splitting would scatter.
// Timing and errors: discord-api-docs developers/interactions/receiving-and-responding.mdx ("Responding to an
// Interaction", "Followup Messages"); 10062 / 40060 / 50027 as in /work/shared/reference/discord-emulation.md §3.
import { randomBytes } from 'node:crypto';
import {
  ApplicationCommandOptionType as Opt,
  ApplicationCommandType,
  ApplicationIntegrationType,
  ComponentType,
  InteractionContextType,
  InteractionResponseType as Cb,
  InteractionType,
  MessageFlags,
} from 'discord-api-types/v10';
import type { Clock, SnowflakeFactory } from './clock';
import { E, fail, formError } from './errors';
import type { Gateway, GatewaySession } from './gateway';
import { type MessageStore, noPings } from './messageStore';
import type { Ctx, Result } from './router';
import type {
  EmulatedInteractionType,
  EmulatedMessage,
  InteractionHandle,
  EmulatedUpload,
  PushComponentOptions,
  PushInteractionOptions,
  PushModalSubmitOptions,
  StoredInteraction,
  StoredMessage,
  Timings,
} from './types';
import { FormErrors } from './validation/formErrors';
import { validateMessage } from './validation/message';
import { checkModal, modalSubmitData } from './validation/modal';
import * as W from './world';

const MiB = 1024 * 1024;

/** Registered application commands: `global`, and per guild (`guild(id)` creates the guild's empty list). */
export interface CommandRegistry {
  global: any[];
  guilds: Map<string, any[]>;
  guild(guildId: string): any[];
}

export interface InteractionDeps {
  world: W.World;
  clock: Clock;
  ids: SnowflakeFactory;
  timings: Timings;
  store: MessageStore;
  gateway: Gateway;
  commands: CommandRegistry;
  waitFor: <T>(predicate: () => T | undefined | null | false, timeoutMs: number, what: string) => Promise<T>;
  onChange: () => void;
}

// Callback types each interaction type accepts (receiving-and-responding.mdx, "Interaction Callback Type").
const ALLOWED_CALLBACKS: Record<EmulatedInteractionType, Cb[]> = {
  [InteractionType.ApplicationCommand]: [Cb.ChannelMessageWithSource, Cb.DeferredChannelMessageWithSource, Cb.Modal],
  [InteractionType.MessageComponent]: [
    Cb.ChannelMessageWithSource,
    Cb.DeferredChannelMessageWithSource,
    Cb.DeferredMessageUpdate,
    Cb.UpdateMessage,
    Cb.Modal,
  ],
  [InteractionType.ApplicationCommandAutocomplete]: [Cb.ApplicationCommandAutocompleteResult],
  // "MODAL: Not available for MODAL_SUBMIT and PING interactions"; UPDATE_MESSAGE and DEFERRED_UPDATE_MESSAGE "Only
  // valid for component-based interactions": a modal submitted from a component's message (checked in callback()).
  [InteractionType.ModalSubmit]: [
    Cb.ChannelMessageWithSource,
    Cb.DeferredChannelMessageWithSource,
    Cb.DeferredMessageUpdate,
    Cb.UpdateMessage,
  ],
};

export class Interactions {
  private roundRobin = 0;

  constructor(
    /** Every interaction dispatched, oldest first (the emulator's public `interactions`). */
    readonly list: StoredInteraction[],
    private readonly d: InteractionDeps,
  ) {}

  /** A slash command (type 2), or with `focused` an autocomplete (type 4), for a registered or made-up command. */
  pushCommand(
    type: InteractionType.ApplicationCommand | InteractionType.ApplicationCommandAutocomplete,
    opts: PushInteractionOptions,
    focused?: string,
  ): InteractionHandle {
    const guildId = opts.guildId ?? this.d.world.guilds.main.id;
    const cmd = [...this.d.commands.guild(guildId), ...this.d.commands.global].find(
      (c) => c.name === opts.name && (c.type ?? ApplicationCommandType.ChatInput) === ApplicationCommandType.ChatInput,
    );
    let defs: any[] = cmd?.options ?? [];
    const resolved: Record<string, Record<string, unknown>> = {};
    const guild = W.findGuild(this.d.world, guildId);
    const leaf = Object.entries(opts.options ?? {}).map(([name, given]) => {
      const def = defs.find((o) => o.name === name);
      if (isUpload(given)) {
        // An ATTACHMENT option's value is the attachment id; the file itself is in data.resolved.attachments
        // (receiving-and-responding.mdx "Resolved Data Structure").
        const attachment = this.d.store.uploadEphemeral(this.d.world.applicationId, {
          data: given.file,
          filename: given.filename,
          contentType: given.contentType,
        });
        (resolved.attachments ??= {})[attachment.id] = attachment;
        return { name, type: Opt.Attachment, value: attachment.id };
      }
      const value = given;
      const type: Opt =
        def?.type ??
        (typeof value === 'boolean'
          ? Opt.Boolean
          : typeof value === 'number'
            ? Number.isInteger(value)
              ? Opt.Integer
              : Opt.Number
            : Opt.String);
      this.resolveOption(type, String(value), guild, resolved);
      return { name, type, value, ...(focused === name ? { focused: true } : {}) };
    });
    let options: any[] = leaf;
    if (opts.subcommandGroup) defs = defs.find((o) => o.name === opts.subcommandGroup)?.options ?? [];
    if (opts.subcommand) options = [{ name: opts.subcommand, type: Opt.Subcommand, options: leaf }];
    if (opts.subcommandGroup) options = [{ name: opts.subcommandGroup, type: Opt.SubcommandGroup, options }];
    const data: any = {
      id: cmd?.id ?? this.d.ids.next(),
      name: opts.name,
      type: ApplicationCommandType.ChatInput,
      options,
    };
    if (cmd?.guild_id) data.guild_id = cmd.guild_id;
    if (Object.keys(resolved).length) data.resolved = resolved;
    return this.dispatch(type, { ...opts, guildId, data, name: opts.name });
  }

  pushComponent(opts: PushComponentOptions): InteractionHandle {
    const id = typeof opts.message === 'string' ? opts.message : opts.message.id;
    const msg = this.d.store.get(id) ?? fail(404, E.UnknownMessage, `pushComponent: unknown message ${id}`);
    // Discord only delivers presses of components the message has now, and never of a disabled one
    // (components/reference.mdx "Custom ID"; a message's components may have been edited since).
    const component = findComponent(msg.raw.components ?? [], opts.customId);
    if (!component)
      throw new Error(
        `pushComponent: message ${id} has no component with custom_id ${opts.customId} (it has ${JSON.stringify(allCustomIds(msg.raw.components ?? []))})`,
      );
    if (component.disabled) throw new Error(`pushComponent: ${opts.customId} is disabled`);
    const data: any = { custom_id: opts.customId, component_type: opts.componentType ?? ComponentType.Button };
    if (opts.values) data.values = opts.values;
    return this.dispatch(InteractionType.MessageComponent, {
      guildId: msg.guildId ?? this.d.world.guilds.main.id,
      channelId: msg.channelId,
      userId: opts.userId ?? this.d.world.users.member.id,
      locale: opts.locale,
      sessionIndex: opts.sessionIndex,
      data,
      extra: { message: msg.raw },
      customId: opts.customId,
      sourceMessageId: msg.raw.id,
    });
  }

  /**
   * A user submits the modal an interaction was answered with: a MODAL_SUBMIT interaction (type 5) whose data holds
   * the text inputs' values in the modal's structure (components/reference.mdx "Label / Text Input Interaction Response
   * Structure"), with the message of the component that opened it. A modal is submitted once.
   */
  pushModalSubmit(opts: PushModalSubmitOptions): InteractionHandle {
    const opener = 'interaction' in opts.opener ? opts.opener.interaction : opts.opener;
    if (opener.ackType !== Cb.Modal || !opener.modal)
      throw new Error(`pushModalSubmit: interaction ${opener.id} was not answered with a modal`);
    if (opener.modalSubmittedBy)
      throw new Error(`pushModalSubmit: the modal of ${opener.id} was already submitted (${opener.modalSubmittedBy})`);
    const source = opener.sourceMessageId ? this.d.store.live(opener.sourceMessageId) : undefined;
    const handle = this.dispatch(InteractionType.ModalSubmit, {
      guildId: opener.guildId,
      channelId: opener.channelId,
      userId: opener.userId,
      locale: opts.locale,
      sessionIndex: opts.sessionIndex,
      data: modalSubmitData(opener.modal, opts.values ?? {}),
      ...(source ? { extra: { message: source.raw }, sourceMessageId: source.raw.id } : {}),
      customId: opener.modal.custom_id,
    });
    opener.modalSubmittedBy = handle.id;
    return handle;
  }

  /**
   * Delivers an interaction again, exactly as before (same id, same token): what a bot sees when a gateway session
   * replays events after a RESUME, or when two of its sessions receive the same interaction.
   */
  replay(handle: InteractionHandle, sessionIndex?: number): void {
    const { gateway } = this.d;
    const guildId = handle.interaction.guildId;
    const session = sessionIndex !== undefined ? gateway.resolve(sessionIndex) : gateway.liveFor(guildId)[0];
    if (!session) throw new Error(`replay: no connected, ready gateway session holds guild ${guildId}`);
    if (!gateway.routes(session, guildId))
      throw new Error(`replay: session ${session.index} is shard ${JSON.stringify(session.shard)}, not ${guildId}'s`);
    gateway.dispatch(session, 'INTERACTION_CREATE', handle.interaction.payload);
    this.d.onChange();
  }

  /** Fills `data.resolved` for user, channel, role and mentionable options. */
  private resolveOption(
    type: Opt,
    value: string,
    guild: W.WorldGuild | undefined,
    out: Record<string, Record<string, unknown>>,
  ) {
    const put = (k: string, v: unknown) => ((out[k] ??= {})[value] = v);
    if (type === Opt.User || type === Opt.Mentionable) {
      const user = W.findUser(this.d.world, value);
      const member = guild && W.findMember(guild, value);
      if (user) put('users', W.userPayload(user));
      if (guild && member) {
        const { user: _u, ...rest } = W.memberPayload(this.d.world, guild, member);
        put('members', rest);
      }
    }
    if ((type === Opt.Role || type === Opt.Mentionable) && guild) {
      const role = W.findRole(guild, value);
      if (role) put('roles', W.rolePayload(role));
    }
    if (type === Opt.Channel) {
      const loc = W.findChannel(this.d.world, value);
      if (loc) put('channels', { ...W.channelPayload(loc.guild, loc.channel), permissions: '0' });
    }
  }

  private dispatch(
    type: EmulatedInteractionType,
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
    const { world, gateway } = this.d;
    const guild = W.findGuild(world, o.guildId) ?? fail(404, E.UnknownGuild, `unknown guild ${o.guildId}`);
    const channel = o.channelId
      ? (Object.values(guild.channels).find((c) => c.id === o.channelId) ??
        fail(404, E.UnknownChannel, `channel ${o.channelId} not in guild`))
      : guild.channels.general;
    const userId = o.userId ?? world.users.member.id;
    const member =
      W.findMember(guild, userId) ?? fail(404, E.UnknownMember, `user ${userId} is not a member of ${guild.id}`);
    // Only the sessions of the guild's shard receive its interactions (gateway.mdx "Sharding").
    const live = gateway.liveFor(guild.id);
    let sessions: GatewaySession[];
    if (o.sessionIndex !== undefined) {
      const chosen = gateway.resolve(o.sessionIndex);
      if (!gateway.routes(chosen, guild.id))
        throw new Error(
          `pushInteraction: session ${chosen.index} is shard ${JSON.stringify(chosen.shard)}, which does not receive guild ${guild.id}`,
        );
      sessions = [chosen];
    } else {
      if (!live.length) throw new Error(`pushInteraction: no connected, ready gateway session holds guild ${guild.id}`);
      // Duplicate sessions of a shard all receive it, as on Discord ('all', the default: a bot run twice on one shard
      // sees every interaction twice and the slower acknowledgement gets 40060); 'one' hands each interaction to one
      // of them in turn, for a test that must put live work on a chosen instance (see README.md, "Shards").
      sessions = this.d.timings.duplicateSessionDelivery === 'all' ? live : [live[this.roundRobin++ % live.length]!];
    }
    const session = sessions[0]!;
    if (session.invalidated) throw new Error(`pushInteraction: session ${session.index} is invalidated`);
    const id = this.d.ids.next();
    const token = `aW50ZXJhY3Rpb246${id}:${randomBytes(48).toString('base64url')}`;
    const attachmentSizeLimit = o.attachmentSizeLimit ?? 20 * MiB;
    const payload = {
      id,
      application_id: world.applicationId,
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
        ...W.memberPayload(world, guild, member),
        permissions: W.channelPermissions(guild, channel, userId).toString(),
      },
      app_permissions: W.channelPermissions(guild, channel, world.botUserId).toString(),
      locale: o.locale ?? 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { [ApplicationIntegrationType.GuildInstall]: guild.id },
      context: InteractionContextType.Guild,
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
      createdAt: this.d.clock.now(),
      attachmentSizeLimit,
      sessionIndex: session.index,
      payload,
      followUpIds: [],
      sourceMessageId: o.sourceMessageId,
    };
    this.list.push(it);
    for (const target of sessions) gateway.dispatch(target, 'INTERACTION_CREATE', payload);
    this.d.onChange();
    return this.handleFor(it);
  }

  private handleFor(it: StoredInteraction): InteractionHandle {
    const { store, waitFor } = this.d;
    const message = (id: string | undefined) => {
      const m = store.live(id);
      return m ? store.snapshot(m) : undefined;
    };
    const original = () => message(it.originalMessageId ?? it.sourceMessageId);
    const followUps = () => it.followUpIds.map(message).filter((m): m is EmulatedMessage => !!m);
    const replies = () => [original(), ...followUps()].filter((m): m is EmulatedMessage => !!m);
    return {
      id: it.id,
      token: it.token,
      interaction: it,
      original,
      followUps,
      replies,
      waitForAck: (timeoutMs = 5_000) => waitFor(() => it.ackType, timeoutMs, `ack of interaction ${it.id}`),
      waitForReply: (predicate = () => true, timeoutMs = 5_000) =>
        waitFor(() => replies().find(predicate), timeoutMs, `a reply to interaction ${it.id}`),
      autocompleteChoices: () => it.autocompleteChoices,
    };
  }

  /** The interaction behind `/webhooks/{app}/{token}`: 404 10015 for another app, 401 50027 once the token expired. */
  byToken(appId: string, token: string): StoredInteraction {
    if (appId !== this.d.world.applicationId) fail(404, E.UnknownWebhook, 'Unknown Webhook');
    const it = this.list.find((i) => i.token === token);
    if (!it || this.d.clock.now() - it.createdAt > this.d.timings.tokenLifetimeMs)
      fail(401, E.InvalidWebhookToken, 'Invalid Webhook Token');
    return it!;
  }

  /**
   * `@original`: the message the interaction's response created (types 4 and 5, components and modal submissions
   * included), otherwise, for a component interaction (or a modal opened from one), the message it is on (types 6, 7).
   */
  originalOf(it: StoredInteraction): StoredMessage {
    return (
      this.d.store.live(it.originalMessageId ?? it.sourceMessageId) ?? fail(404, E.UnknownMessage, 'Unknown Message')
    );
  }

  /** POST /interactions/{id}/{token}/callback. */
  callback(ctx: Ctx): Result {
    const { clock, timings, store, world } = this.d;
    const it =
      this.list.find((i) => i.id === ctx.params.iid && i.token === ctx.params.itoken) ??
      fail(404, E.UnknownInteraction, 'Unknown interaction');
    const age = clock.now() - it.createdAt;
    if (age > timings.tokenLifetimeMs) fail(401, E.InvalidWebhookToken, 'Invalid Webhook Token');
    if (it.ackType !== undefined)
      fail(400, E.InteractionHasAlreadyBeenAcknowledged, 'Interaction has already been acknowledged.');
    if (age > timings.ackDeadlineMs) fail(404, E.UnknownInteraction, 'Unknown interaction');
    const type = Number(ctx.body?.type) as Cb;
    const data = ctx.body?.data ?? {};
    const componentOnly = type === Cb.UpdateMessage || type === Cb.DeferredMessageUpdate;
    if (!ALLOWED_CALLBACKS[it.type].includes(type) || (componentOnly && !it.sourceMessageId))
      formError('type', 'INTERACTION_RESPONSE_TYPE_INVALID', 'Interaction callback type invalid for this interaction');
    if (type === Cb.Modal) {
      const errors = new FormErrors(['data']);
      checkModal(errors, data);
      errors.throwIfAny();
    }
    store.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
    const guild = W.findGuild(world, it.guildId);
    let message: StoredMessage | undefined;
    if (type === Cb.ChannelMessageWithSource || type === Cb.DeferredChannelMessageWithSource) {
      const reply = type === Cb.ChannelMessageWithSource;
      validateMessage({ body: data, files: reply ? ctx.files : [], prefix: ['data'], deferred: !reply });
      message = store.create({
        channelId: it.channelId,
        guild,
        authorId: world.botUserId,
        kind: 'original',
        interaction: it,
        body: reply ? data : { flags: data.flags ?? 0 },
        files: reply ? ctx.files : [],
        defaultParse: ['users'],
        extraFlags: reply ? 0 : MessageFlags.Loading,
      });
      if (!reply) message.pinged = noPings();
      it.originalMessageId = message.raw.id;
    } else if (type === Cb.UpdateMessage) {
      message = store.live(it.sourceMessageId) ?? fail(404, E.UnknownMessage, 'Unknown Message');
      store.edit(message, data, ctx.files, ['data']);
    } else if (type === Cb.ApplicationCommandAutocompleteResult) {
      it.autocompleteChoices = data.choices ?? [];
    } else if (type === Cb.Modal) {
      it.modal = data;
    }
    it.ackType = type;
    it.ackedAt = clock.now();
    if (ctx.query.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: {
          id: it.id,
          type: it.type,
          activity_instance_id: null,
          response_message_id: message?.raw.id ?? null,
          response_message_loading: type === Cb.DeferredChannelMessageWithSource,
          response_message_ephemeral: !!((message?.raw.flags ?? 0) & MessageFlags.Ephemeral),
        },
        resource: { type, ...(message ? { message: message.raw } : {}) },
      },
    };
  }
}

function isUpload(value: unknown): value is EmulatedUpload {
  return typeof value === 'object' && value !== null && Buffer.isBuffer((value as EmulatedUpload).file);
}

/** Every component in a message's tree (action rows, v2 containers, section accessories). */
function* components(list: any[]): Generator<any> {
  for (const c of list) {
    yield c;
    if (Array.isArray(c?.components)) yield* components(c.components);
    if (c?.accessory) yield c.accessory;
  }
}

function findComponent(list: any[], customId: string): any {
  for (const c of components(list)) if (c?.custom_id === customId) return c;
  return undefined;
}

function allCustomIds(list: any[]): string[] {
  return [...components(list)].map((c) => c?.custom_id).filter(Boolean);
}
