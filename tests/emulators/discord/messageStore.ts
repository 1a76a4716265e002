// Messages the emulator holds: creation and edits (content, embeds, components, attachments, flags), uploaded file
// bytes, `enforce_nonce` dedupe, and who a new message really pings. Also the files users attach to slash-command
// options ("ephemeral attachments"), served from signed CDN URLs that expire.
import {
  ApplicationIntegrationType,
  InteractionType,
  MessageFlags,
  MessageType,
  PermissionFlagsBits as P,
} from 'discord-api-types/v10';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock, SnowflakeFactory } from './clock';
import { E, fail } from './errors';
import type { EmulatedMessage, MessageKind, Pinged, StoredInteraction, StoredMessage, Timings, Upload } from './types';
import { uploadIndex, validateMessage } from './validation/message';
import * as W from './world';

export const noPings = (): Pinged => ({ users: [], roles: [], everyone: false });

export interface CreateMessage {
  channelId: string;
  guild?: W.WorldGuild;
  authorId: string;
  kind: MessageKind;
  body: any;
  files: Upload[];
  /** `allowed_mentions.parse` when the body has no `allowed_mentions` (users+roles+everyone; only users for
   * interactions and webhooks: message.mdx "Allowed Mentions Object"). */
  defaultParse: string[];
  interaction?: StoredInteraction;
  extraFlags?: number;
}

export class MessageStore {
  private readonly messages = new Map<string, StoredMessage>();
  private readonly attachmentData = new Map<string, { data: Buffer; contentType: string }>();
  private readonly nonces = new Map<string, { messageId: string; at: number }>();
  /** Files users attached to command options, by attachment id. */
  private readonly ephemeral = new Map<string, { data: Buffer; contentType: string | null }>();
  private readonly cdnSecret = randomBytes(32);

  constructor(
    private readonly world: W.World,
    private readonly clock: Clock,
    private readonly ids: SnowflakeFactory,
    private readonly timings: Timings,
    /** Origin of attachment URLs (`http://127.0.0.1:PORT`), known once the server listens. */
    private readonly origin: () => string,
  ) {}

  reset(): void {
    this.messages.clear();
    this.attachmentData.clear();
    this.nonces.clear();
    this.ephemeral.clear();
  }

  /** Any stored message, deleted or not. */
  get(id: string): StoredMessage | undefined {
    return this.messages.get(id);
  }

  /** A message that exists (not deleted). */
  live(id: string | undefined): StoredMessage | undefined {
    const m = id ? this.messages.get(id) : undefined;
    return m && !m.deleted ? m : undefined;
  }

  /** Every message that exists, oldest first; optionally one channel's. */
  list(channelId?: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => !m.deleted && (!channelId || m.channelId === channelId));
  }

  /** GET /channels/{id}/messages: newest first, `before`/`after` snowflakes, at most `limit` (ephemerals excluded). */
  history(channelId: string, limit: number, before?: string | null, after?: string | null): StoredMessage[] {
    let list = this.list(channelId)
      .filter((m) => !(m.raw.flags & MessageFlags.Ephemeral))
      .sort((a, b) => (BigInt(b.raw.id) > BigInt(a.raw.id) ? 1 : -1));
    if (before) list = list.filter((m) => BigInt(m.raw.id) < BigInt(before));
    if (after)
      list = list
        .filter((m) => BigInt(m.raw.id) > BigInt(after))
        .reverse()
        .slice(0, limit)
        .reverse();
    return list.slice(0, limit);
  }

  /**
   * A file a user attached to a command option: stored, and described as Discord's resolved attachment object, whose
   * `url` is a signed CDN URL valid for `timings.attachmentUrlLifetimeMs` (reference.mdx "Signed Attachment CDN URLs":
   * `ex` hex expiry, `is` hex issue time, `hm` signature). `contentType` is what the uploader's client declared (it may
   * be wrong, or absent).
   */
  uploadEphemeral(applicationId: string, file: { data: Buffer; filename: string; contentType?: string | null }): any {
    const id = this.ids.next();
    const contentType = file.contentType === undefined ? 'application/octet-stream' : file.contentType;
    this.ephemeral.set(id, { data: file.data, contentType });
    const path = `/ephemeral-attachments/${applicationId}/${id}/${encodeURIComponent(file.filename)}`;
    const url = this.signCdnUrl(path);
    return {
      id,
      filename: file.filename,
      size: file.data.length,
      url,
      proxy_url: url,
      ...(contentType ? { content_type: contentType } : {}),
      ephemeral: true,
    };
  }

  private cdnSignature(path: string, ex: string, is: string): string {
    return createHmac('sha256', this.cdnSecret).update(`${path}\u0000${ex}\u0000${is}`).digest('hex');
  }

  private signCdnUrl(path: string): string {
    const now = Math.floor(this.clock.now() / 1000);
    const ex = Math.floor((this.clock.now() + this.timings.attachmentUrlLifetimeMs) / 1000).toString(16);
    const is = now.toString(16);
    return `${this.origin()}${path}?ex=${ex}&is=${is}&hm=${this.cdnSignature(path, ex, is)}&`;
  }

  /**
   * `GET /ephemeral-attachments/…`: the bytes while the signature holds and `ex` is in the future (emulator clock);
   * otherwise Discord's CDN answer for an expired or tampered link, 404 "This content is no longer available.".
   * undefined: not a CDN path.
   */
  serveCdn(url: URL): { status: number; contentType: string; data: Buffer } | undefined {
    const m = /^\/ephemeral-attachments\/\d+\/(\d+)\/[^/]+$/.exec(url.pathname);
    if (!m) return undefined;
    const gone = { status: 404, contentType: 'text/plain', data: Buffer.from('This content is no longer available.') };
    const [ex, is, hm] = ['ex', 'is', 'hm'].map((k) => url.searchParams.get(k) ?? '');
    const expected = Buffer.from(this.cdnSignature(url.pathname, ex!, is!));
    const given = Buffer.from(hm!);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return gone;
    if (parseInt(ex!, 16) * 1000 <= this.clock.now()) return gone;
    const file = this.ephemeral.get(m[1]!);
    if (!file) return gone;
    return { status: 200, contentType: file.contentType ?? 'application/octet-stream', data: file.data };
  }

  /** Bytes of an uploaded attachment, for `GET /attachments/{channel}/{id}/{name}`. */
  attachment(id: string): { data: Buffer; contentType: string } | undefined {
    return this.attachmentData.get(id);
  }

  /** The message first sent with this nonce within the window, for `enforce_nonce` (message.mdx "Create Message"). */
  byNonce(authorId: string, nonce: unknown): StoredMessage | undefined {
    const seen = this.nonces.get(`${authorId}:${nonce}`);
    return seen && this.clock.now() - seen.at <= this.timings.nonceWindowMs ? this.live(seen.messageId) : undefined;
  }

  rememberNonce(authorId: string, nonce: unknown, messageId: string): void {
    this.nonces.set(`${authorId}:${nonce}`, { messageId, at: this.clock.now() });
  }

  snapshot(m: StoredMessage): EmulatedMessage {
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
      ephemeral: !!(r.flags & MessageFlags.Ephemeral),
      loading: !!(r.flags & MessageFlags.Loading),
      edits: m.editLog.length,
      editLog: m.editLog.map((e) => ({ ...e })),
      pinged: structuredClone(m.pinged),
      createdAt: m.createdAt,
      raw: structuredClone(r),
    };
  }

  /** Per-file limit (since 2025-04-03 per attachment, not per message): 413 40005. */
  checkUploadLimit(files: Upload[], limit: number): void {
    if (files.some((f) => f.size > limit)) fail(413, E.RequestEntityTooLarge, 'Request entity too large');
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
      const index = uploadIndex(f, i);
      const m = meta?.find((a) => String(a.id) === index) ?? {};
      const id = this.ids.next();
      const filename: string = m.filename ?? f.name;
      this.attachmentData.set(id, { data: f.data, contentType: f.contentType });
      const url = `${this.origin()}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
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
      // Edits may only toggle SUPPRESS_EMBEDS (message.mdx "Edit Message": flags).
      raw.flags = creating
        ? Number(body.flags)
        : (raw.flags & ~MessageFlags.SuppressEmbeds) | (Number(body.flags) & MessageFlags.SuppressEmbeds);
    }
  }

  create(o: CreateMessage): StoredMessage {
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
      type:
        it?.type === InteractionType.ApplicationCommand && o.kind === 'original'
          ? MessageType.ChatInputCommand
          : MessageType.Default,
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
        authorizing_integration_owners: { [ApplicationIntegrationType.GuildInstall]: it.guildId },
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
    this.messages.set(raw.id, m);
    return m;
  }

  /**
   * Validates (as an edit: only the fields sent, then the result must not be empty) and applies an edit. `prefix`:
   * where the message sits in the request body (`['data']` for UPDATE_MESSAGE). Edits never ping (their editLog
   * entry has no pings). An edit ends the loading state of a deferred reply.
   */
  edit(m: StoredMessage, body: any, files: Upload[], prefix?: string[]): any {
    validateMessage({ body, files, existing: m.raw, prefix });
    this.applyBody(m.raw, body, files, false);
    m.raw.flags &= ~MessageFlags.Loading;
    m.raw.edited_timestamp = new Date(this.clock.now()).toISOString();
    m.editLog.push({ at: this.clock.now(), content: m.raw.content, pinged: noPings() });
    return m.raw;
  }
}
