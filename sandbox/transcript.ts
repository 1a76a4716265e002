// What Discord users would see, as terminal text: every message the bot creates, edits or deletes on the Discord
// emulator, with embeds written out, mentions as @Name, who was really pinged, and attachments.
import type { DiscordEmulator, RecordedCall, StoredInteraction, World } from '../tests/emulators/discord';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function terminalStyle(enabled: boolean): Style {
  const wrap = (code: number) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), red: wrap(31), yellow: wrap(33), cyan: wrap(36) };
}

/** One message the bot put in front of users, as the transcript saw it. */
export interface ShownMessage {
  id: string;
  channelId: string;
  /** How it reached users: the reply of an interaction, a follow-up, or a plain channel message. */
  path: 'interaction reply' | 'follow-up' | 'channel message';
  /** The user whose command this answers, if any. */
  forUserId?: string;
  ephemeral: boolean;
  embedTitles: string[];
  attachments: { name: string; size: number }[];
  edits: number;
}

interface EmbedLike {
  title?: string;
  description?: string;
  fields?: { name: string; value: string; inline?: boolean }[];
  footer?: { text: string };
}

const WEBHOOK_MESSAGE = /^\/webhooks\/[^/]+\/([^/]+)\/messages\/([^/]+)$/;
const WEBHOOK = /^\/webhooks\/[^/]+\/([^/]+)$/;
const CALLBACK = /^\/interactions\/([^/]+)\/[^/]+\/callback$/;
const CHANNEL_MESSAGES = /^\/channels\/([^/]+)\/messages$/;
const CHANNEL_MESSAGE = /^\/channels\/([^/]+)\/messages\/([^/]+)$/;
const FLAG_EPHEMERAL = 64;

export class DiscordTranscript {
  /** Messages by id, in the order they first appeared. */
  public readonly messages = new Map<string, ShownMessage>();
  /** User ids pinged by messages the bot created, one entry per ping. */
  public readonly pings: string[] = [];
  public refusals = 0;
  private next = 0;
  private timer?: NodeJS.Timeout;
  /** Last embed shown per message, so an edit prints only what changed. */
  private readonly lastEmbed = new Map<string, EmbedLike>();
  /** Labels of the buttons seen so far, by custom id. */
  private readonly buttonLabels = new Map<string, string>();

  public constructor(
    private readonly discord: DiscordEmulator,
    private readonly print: (line: string) => void,
    private readonly style: Style,
  ) {}

  public start(): void {
    this.timer = setInterval(() => this.drain(), 25);
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.drain();
  }

  /** Prints every finished call since the last one, in arrival order (stops at one still in progress). */
  public drain(): void {
    const calls = this.discord.calls;
    while (this.next < calls.length && calls[this.next]!.status !== 0) this.show(calls[this.next++]!);
  }

  // ---- names --------------------------------------------------------------------------------------------------
  private get world(): World {
    return this.discord.world;
  }

  public userName(id: string): string {
    const user = Object.values(this.world.users).find((u) => u.id === id);
    return user ? (user.globalName ?? user.username) : `user ${id}`;
  }

  public channelName(id: string): string {
    for (const guild of Object.values(this.world.guilds)) {
      const channel = Object.values(guild.channels).find((c) => c.id === id);
      if (channel) return `#${channel.name}`;
    }
    return `#${id}`;
  }

  private roleName(id: string): string {
    for (const guild of Object.values(this.world.guilds)) {
      const role = Object.values(guild.roles).find((r) => r.id === id);
      if (role) return `@${role.name.replace(/^@/, '')}`;
    }
    return `@role ${id}`;
  }

  /** Discord markup as a reader sees it: mentions by name, markdown escapes removed. */
  public readable(text: string): string {
    return text
      .replace(/<@!?(\d{17,20})>/g, (_, id: string) => `@${this.userName(id)}`)
      .replace(/<@&(\d{17,20})>/g, (_, id: string) => this.roleName(id))
      .replace(/<#(\d{17,20})>/g, (_, id: string) => this.channelName(id))
      .replace(/\\([\\*_~`|>#[\]()-])/g, '$1');
  }

  private commandLabel(it: StoredInteraction): string {
    if (it.customId && !it.name) {
      // A button press: named by the button's label on its message.
      const source = it.sourceMessageId ? this.discord.message(it.sourceMessageId) : undefined;
      const label =
        (source?.components ?? []).flatMap((r: any) => r.components ?? []).find((c: any) => c.custom_id === it.customId)
          ?.label ?? this.buttonLabels.get(it.customId);
      return `${this.userName(it.userId)}'s press of ${label ? `“${label}”` : 'a button'}`;
    }
    const sub = it.payload?.data?.options?.[0]?.type === 1 ? ` ${it.payload.data.options[0].name}` : '';
    return `${this.userName(it.userId)}'s /${it.name ?? '?'}${sub}`;
  }

  // ---- rendering ----------------------------------------------------------------------------------------------
  private show(call: RecordedCall): void {
    if (call.method === 'GET' || call.path.includes('/commands')) return;
    const s = this.style;
    if (call.status >= 400) {
      this.refusals++;
      const r = call.response as { code?: number; message?: string } | undefined;
      this.print(
        s.red(
          `  ✗ Discord refused ${call.method} ${call.path.replace(/\/[\w-]{60,}/, '/…')}: ${call.status} ${r?.message ?? ''} (code ${r?.code ?? '-'})`,
        ),
      );
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = CALLBACK.exec(call.path)) && call.method === 'POST') return this.showCallback(m[1]!, call);
    if ((m = WEBHOOK_MESSAGE.exec(call.path))) return this.showWebhookMessage(m[1]!, m[2]!, call);
    if ((m = WEBHOOK.exec(call.path)) && call.method === 'POST') return this.showFollowUp(m[1]!, call);
    if ((m = CHANNEL_MESSAGES.exec(call.path)) && call.method === 'POST') return this.showChannelMessage(m[1]!, call);
    if ((m = CHANNEL_MESSAGE.exec(call.path)) && call.method !== 'GET') return this.showChannelEdit(m[1]!, m[2]!, call);
  }

  private showCallback(interactionId: string, call: RecordedCall): void {
    const it = this.discord.interactions.find((i) => i.id === interactionId);
    if (!it) return;
    const type = Number(call.body?.type);
    const data = call.body?.data ?? {};
    const ephemeral = ((data.flags ?? 0) & FLAG_EPHEMERAL) !== 0;
    const who = this.commandLabel(it);
    const privacy = ephemeral ? this.style.dim(` (only ${this.userName(it.userId)} can see it)`) : '';
    if (type === 5) {
      this.print(
        `  ${this.style.cyan('veobot')} replied to ${who}: ${this.style.dim('“veobot is thinking…”')}${privacy}`,
      );
      this.record(it.originalMessageId, it.channelId, 'interaction reply', it.userId, ephemeral, data, call, true);
    } else if (type === 4) {
      this.print(`  ${this.style.cyan('veobot')} replied to ${who}${privacy}:`);
      this.body(data, call, it.originalMessageId, true);
      this.record(it.originalMessageId, it.channelId, 'interaction reply', it.userId, ephemeral, data, call, true);
    } else if (type === 7) {
      this.print(`  ${this.style.cyan('veobot')} updated the message under ${who}:`);
      this.body(data, call, it.sourceMessageId, false);
    }
  }

  private showWebhookMessage(token: string, messageId: string, call: RecordedCall): void {
    const it = this.discord.interactions.find((i) => i.token === token);
    const id = messageId === '@original' ? it?.originalMessageId : messageId;
    const who = it ? this.commandLabel(it) : 'an interaction';
    if (call.method === 'DELETE') {
      this.print(`  ${this.style.cyan('veobot')} deleted its reply to ${who}`);
      return;
    }
    this.print(`  ${this.style.cyan('veobot')} ${this.style.yellow('edited')} its reply to ${who}:`);
    this.body(call.body ?? {}, call, id, false);
    if (id) this.record(id, it?.channelId ?? '', 'interaction reply', it?.userId, false, call.body ?? {}, call, false);
  }

  private showFollowUp(token: string, call: RecordedCall): void {
    const it = this.discord.interactions.find((i) => i.token === token);
    const id = (call.response as { id?: string } | undefined)?.id;
    this.print(`  ${this.style.cyan('veobot')} sent a follow-up to ${it ? this.commandLabel(it) : 'an interaction'}:`);
    this.body(call.body ?? {}, call, id, true);
    this.pingsOf(id);
    if (id)
      this.record(
        id,
        it?.channelId ?? '',
        'follow-up',
        it?.userId,
        ((call.body?.flags ?? 0) & FLAG_EPHEMERAL) !== 0,
        call.body ?? {},
        call,
        true,
      );
  }

  private showChannelMessage(channelId: string, call: RecordedCall): void {
    const id = (call.response as { id?: string } | undefined)?.id;
    const again = id !== undefined && this.messages.has(id);
    this.print(
      `  ${this.style.cyan('veobot')} posted in ${this.channelName(channelId)}${again ? this.style.dim(' (Discord returned the earlier message for the same nonce: nothing new appeared)') : ''}:`,
    );
    if (again) return;
    this.body(call.body ?? {}, call, id, true);
    this.pingsOf(id);
    if (id) this.record(id, channelId, 'channel message', undefined, false, call.body ?? {}, call, true);
  }

  private showChannelEdit(channelId: string, messageId: string, call: RecordedCall): void {
    if (call.method === 'DELETE') {
      this.print(`  ${this.style.cyan('veobot')} deleted a message in ${this.channelName(channelId)}`);
      return;
    }
    this.print(
      `  ${this.style.cyan('veobot')} ${this.style.yellow('edited')} a message in ${this.channelName(channelId)}:`,
    );
    this.body(call.body ?? {}, call, messageId, false);
    this.record(messageId, channelId, 'channel message', undefined, false, call.body ?? {}, call, false);
  }

  private pingsOf(messageId: string | undefined): void {
    const message = messageId ? this.discord.message(messageId) : undefined;
    if (!message) return;
    const { users, roles, everyone } = message.pinged;
    this.pings.push(...users);
    const names = [
      ...users.map((u) => `@${this.userName(u)}`),
      ...roles.map((r) => this.roleName(r)),
      ...(everyone ? ['@everyone'] : []),
    ];
    this.print(`    ${this.style.bold('🔔 pinged:')} ${names.length ? names.join(', ') : 'nobody'}`);
  }

  /** Prints content, embeds and attachments of a create or edit body; an edit of a shown embed prints only changes. */
  private body(data: any, call: RecordedCall, messageId: string | undefined, creating: boolean): void {
    const s = this.style;
    if (typeof data.content === 'string' && data.content !== '')
      this.print(`    ${s.bold(this.readable(data.content))}`);
    const embeds: EmbedLike[] = Array.isArray(data.embeds) ? data.embeds : [];
    embeds.forEach((embed, i) => {
      const previous = i === 0 && messageId && !creating ? this.lastEmbed.get(messageId) : undefined;
      for (const line of this.embedLines(embed, previous)) this.print(`    ${line}`);
      if (i === 0 && messageId) this.lastEmbed.set(messageId, embed);
    });
    for (const file of call.files) this.print(`    📎 ${file.name} (${formatBytes(file.size)}, ${file.contentType})`);
    const components = ((data.components ?? []) as any[]).flatMap((r) => r.components ?? []);
    // Remembered by id: a pressed button's id changes on its message right after the press.
    for (const c of components) if (c.custom_id && c.label) this.buttonLabels.set(c.custom_id, c.label);
    const buttons = components.map((c: any) => `[${c.label}]`);
    if (buttons.length) this.print(`    ${s.bold(buttons.join(' '))}`);
    if (!creating && !call.files.length && !embeds.length && data.content === undefined)
      this.print(
        s.dim(
          data.components
            ? "    (the same buttons; the pressed one's next press gets a new id, so it makes another request)"
            : '    (no visible change)',
        ),
      );
    if (!creating && (data.content !== undefined || embeds.length)) {
      this.print(s.dim('    (an edit: Discord notifies nobody)'));
    }
  }

  private embedLines(embed: EmbedLike, previous: EmbedLike | undefined): string[] {
    const s = this.style;
    const fieldText = (f: { name: string; value: string }) => `${f.name}: ${this.readable(f.value)}`;
    if (previous && previous.title === embed.title && previous.description === embed.description) {
      // Same card, new numbers: one line with what changed.
      const before = new Map((previous.fields ?? []).map((f) => [f.name, f.value]));
      const changed = (embed.fields ?? []).filter((f) => before.get(f.name) !== f.value);
      return [`${s.dim('┆')} ${changed.length ? changed.map(fieldText).join(' · ') : s.dim('(same as before)')}`];
    }
    const lines: string[] = [];
    if (embed.title) lines.push(`${s.dim('┌')} ${s.bold(this.readable(embed.title))}`);
    for (const line of (embed.description ?? '').split('\n'))
      if (line) lines.push(`${s.dim('│')} ${this.readable(line)}`);
    let inline: string[] = [];
    const flush = () => {
      if (inline.length) lines.push(`${s.dim('│')} ${inline.join(' · ')}`);
      inline = [];
    };
    for (const field of embed.fields ?? []) {
      if (field.inline) inline.push(fieldText(field));
      else {
        flush();
        lines.push(`${s.dim('│')} ${fieldText(field)}`);
      }
    }
    flush();
    if (embed.footer?.text) lines.push(`${s.dim('└')} ${s.dim(this.readable(embed.footer.text))}`);
    else if (lines.length) lines.push(s.dim('└'));
    return lines;
  }

  private record(
    id: string | undefined,
    channelId: string,
    path: ShownMessage['path'],
    forUserId: string | undefined,
    ephemeral: boolean,
    data: any,
    call: RecordedCall,
    creating: boolean,
  ): void {
    if (!id) return;
    let shown = this.messages.get(id);
    if (!shown) {
      shown = { id, channelId, path, forUserId, ephemeral, embedTitles: [], attachments: [], edits: 0 };
      this.messages.set(id, shown);
    }
    if (!creating) shown.edits++;
    for (const embed of (data.embeds ?? []) as EmbedLike[]) if (embed.title) shown.embedTitles.push(embed.title);
    const files = call.files.map((f) => ({ name: f.name, size: f.size }));
    // An edit that lists attachments replaces them (the bot never keeps old ones when it edits).
    shown.attachments = data.attachments !== undefined && !creating ? files : [...shown.attachments, ...files];
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
