import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type APIEmbed } from 'discord.js';
import type { Config } from '../lib/config';
import { COLORS, displayText, formatDuration } from '../lib/messages';
import type { Metrics } from '../lib/metrics';
import type { GenerationOutcome } from './GenerationService';
import type { ExpireFilter, RequestTrackingService, UnfinishedRow, VideoRequestRow } from './RequestTrackingService';
import type { ResumeProgress, ResumeSummary, TaskResumeService } from './TaskResumeService';

export const STATUS_PAGE_SIZE = 10;
export const CONFIRMATION_TTL_MS = 60_000;

export interface View {
  embeds: APIEmbed[];
  components: ActionRowBuilder<ButtonBuilder>[];
}

/**
 * A pending expiry lives in its confirmation button itself (custom ids are at most 100 characters and Discord only
 * delivers ids of buttons that exist on the message), so any instance can handle the press, even after a restart.
 */
export interface PendingExpiry {
  adminId: string;
  olderThanHours: number;
  includeGenerating: boolean;
  requestId?: string;
  /** epoch milliseconds */
  expiresAt: number;
}

export const BUTTON = {
  statusPage: (page: number) => `resume:status:${page}`,
  expire: (action: 'confirm' | 'cancel', p: PendingExpiry) =>
    `resume:expire:${action === 'confirm' ? 'c' : 'x'}:${p.adminId}:${p.olderThanHours}:${p.includeGenerating ? 1 : 0}:${p.requestId ?? '-'}:${Math.ceil(p.expiresAt / 1000).toString(36)}`,
};

export function parseResumeButton(
  customId: string,
): { kind: 'status'; page: number } | { kind: 'expire'; action: 'confirm' | 'cancel'; pending: PendingExpiry } | null {
  const status = /^resume:status:(\d{1,6})$/.exec(customId);
  if (status) return { kind: 'status', page: Number(status[1]) };
  const expire = /^resume:expire:([cx]):(\d{17,20}):(\d{1,6}):([01]):([0-9a-f-]{36}|-):([0-9a-z]{1,10})$/.exec(
    customId,
  );
  if (!expire) return null;
  return {
    kind: 'expire',
    action: expire[1] === 'c' ? 'confirm' : 'cancel',
    pending: {
      adminId: expire[2]!,
      olderThanHours: Number(expire[3]),
      includeGenerating: expire[4] === '1',
      requestId: expire[5] === '-' ? undefined : expire[5],
      expiresAt: parseInt(expire[6]!, 36) * 1000,
    },
  };
}

const OUTCOME_TEXT: Record<GenerationOutcome, string> = {
  completed: '✅ completed',
  failed: '❌ failed',
  timeout: '⌛ timed out',
  announced: '📨 announced',
  announce_failed: '⚠️ could not announce',
  lost_lease: '↪️ taken by another instance',
  interrupted: '⏸️ interrupted',
  deferred: '⏳ waiting (ambiguous submit)',
};

function shortId(id: string): string {
  return id.slice(0, 8);
}

function shortOperation(name: string | null): string {
  if (!name) return '—';
  return `…${name.split('/').pop()!.slice(0, 8)}`;
}

function age(now: number, date: Date): string {
  return formatDuration(now - new Date(date).getTime());
}

/**
 * Everything behind `/resume`: views and actions, always scoped to one guild. The command and button handler only
 * parse Discord input and call this.
 */
export class ResumeAdminService {
  private readonly now: () => number;

  public constructor(
    private readonly deps: {
      tracking: RequestTrackingService;
      resume: TaskResumeService;
      config: Pick<Config, 'resume'>;
      metrics?: Metrics;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  public async statusView(guildId: string, page: number): Promise<View> {
    const { tracking, config } = this.deps;
    const summary = await tracking.getGuildSummary(guildId);
    let { rows, total } = await tracking.listUnfinished(guildId, {
      offset: page * STATUS_PAGE_SIZE,
      limit: STATUS_PAGE_SIZE,
    });
    const pages = Math.max(1, Math.ceil(total / STATUS_PAGE_SIZE));
    const current = Math.min(page, pages - 1);
    // Rows finished since the page was drawn: show the last page that still exists rather than an empty one.
    if (current !== page)
      ({ rows, total } = await tracking.listUnfinished(guildId, {
        offset: current * STATUS_PAGE_SIZE,
        limit: STATUS_PAGE_SIZE,
      }));
    const now = this.now();
    const lines = rows.map((r) => this.statusLine(r, now));
    const embed: APIEmbed = {
      title: 'Unfinished video requests in this server',
      color: config.resume.disabled ? COLORS.warning : COLORS.progress,
      description: [
        config.resume.disabled
          ? '⚠️ **Automatic resume is disabled** (DISABLE_TASK_RESUME). Use `/resume run` to resume by hand.\n'
          : null,
        lines.length > 0 ? lines.join('\n') : 'Nothing is waiting. 🎉',
      ]
        .filter(Boolean)
        .join('\n'),
      fields: [
        { name: 'Pending', value: String(summary.pending), inline: true },
        { name: 'Generating', value: String(summary.generating), inline: true },
        { name: 'Waiting to be announced', value: String(summary.awaitingAnnouncement), inline: true },
        { name: 'Failed (24 h)', value: String(summary.failed24h), inline: true },
        { name: 'Timed out (24 h)', value: String(summary.timeout24h), inline: true },
        { name: 'Video-seconds at risk', value: `${summary.videoSecondsAtRisk} s`, inline: true },
      ],
      footer: {
        text: `Page ${current + 1} of ${pages} · ${total} unfinished · oldest ${summary.oldestUnfinishedAt ? age(now, summary.oldestUnfinishedAt) : '—'}`,
      },
    };
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder()
        .setCustomId(BUTTON.statusPage(Math.max(0, current - 1)))
        .setLabel('◀ Newer')
        .setStyle(ButtonStyle.Secondary)
        .setDisabled(current === 0),
      new ButtonBuilder().setCustomId(BUTTON.statusPage(current)).setLabel('Refresh').setStyle(ButtonStyle.Primary),
      new ButtonBuilder()
        .setCustomId(BUTTON.statusPage(current + 1))
        .setLabel('Older ▶')
        .setStyle(ButtonStyle.Secondary)
        .setDisabled(current >= pages - 1),
    );
    return { embeds: [embed], components: [row] };
  }

  private statusLine(r: UnfinishedRow, now: number): string {
    const state = r.status === 'pending' || r.status === 'generating' ? r.status : `${r.status}, announcement due`;
    const lease = r.leaseOwner ? `${displayText(r.leaseOwner, 40)} ${r.leaseLive ? '(live)' : '(expired)'}` : 'free';
    return (
      `\`${shortId(r.id)}\` **${state}** · ${age(now, r.createdAt)} ago · <@${r.userId}> · ` +
      `“${displayText(r.prompt, 60)}” · ${r.attemptCount} attempt(s) · op ${shortOperation(r.operationName)} · ${lease}`
    );
  }

  /** What `/resume run` would do, without doing it. */
  public async dryRun(guildId: string): Promise<APIEmbed> {
    const { tracking, config } = this.deps;
    const { rows, total } = await tracking.listUnfinished(guildId, { offset: 0, limit: 50 });
    const now = this.now();
    const maxAgeMs = config.resume.maxAgeHours * 3600_000;
    let seconds = 0;
    const lines = rows.map((r) => {
      let action: string;
      if (r.leaseLive) action = 'skip: being worked on right now';
      else if (r.status === 'pending' && now - new Date(r.createdAt).getTime() > maxAgeMs)
        action = `expire (older than ${config.resume.maxAgeHours} h)`;
      else if (r.status === 'pending') {
        const s = r.durationSeconds ?? 8;
        seconds += s;
        action = `submit to Veo again (${s} s billed)`;
      } else if (r.status === 'generating') action = 'check the running Veo operation (no new charge)';
      else action = 'tell the requester';
      return `\`${shortId(r.id)}\` ${r.status} · ${age(now, r.createdAt)} ago → ${action}`;
    });
    return {
      title: 'Dry run: what /resume run would do',
      color: COLORS.progress,
      description:
        (lines.length ? lines.join('\n') : 'Nothing to resume.') +
        (total > rows.length ? `\n…and ${total - rows.length} more` : ''),
      fields: [
        { name: 'Video-seconds it would spend', value: `${seconds} s (at most; ambiguous submits are checked first)` },
      ],
    };
  }

  /** Resumes this guild's free unfinished requests, reporting progress through `onUpdate` as it goes. */
  public async run(guildId: string, onUpdate: (embed: APIEmbed, final: boolean) => void): Promise<ResumeSummary> {
    const started = this.now();
    const lines = new Map<string, string>();
    const counts = { found: 0, running: 0, completed: 0, failed: 0, timeout: 0 };
    const render = (final: boolean): APIEmbed => ({
      title: final ? 'Resume finished' : 'Resuming this server’s requests…',
      color: final ? COLORS.success : COLORS.progress,
      description: [...lines.values()].slice(-20).join('\n') || 'Nothing to resume.',
      fields: [
        { name: 'Found', value: String(counts.found), inline: true },
        { name: 'Running', value: String(counts.running), inline: true },
        { name: 'Completed', value: String(counts.completed), inline: true },
        { name: 'Failed', value: String(counts.failed), inline: true },
        { name: 'Timed out', value: String(counts.timeout), inline: true },
        { name: 'Elapsed', value: formatDuration(this.now() - started), inline: true },
      ],
    });
    const progress: ResumeProgress = {
      onStart: (found) => {
        counts.found = found.pending + found.generating + found.expired;
        onUpdate(render(false), false);
      },
      onClaimed: (row: VideoRequestRow) => {
        counts.running++;
        lines.set(row.id, `\`${shortId(row.id)}\` ${row.status} → running`);
        onUpdate(render(false), false);
      },
      onResult: (row, outcome) => {
        counts.running = Math.max(0, counts.running - 1);
        if (outcome === 'completed') counts.completed++;
        else if (outcome === 'failed' || outcome === 'announce_failed') counts.failed++;
        else if (outcome === 'timeout') counts.timeout++;
        lines.set(row.id, `\`${shortId(row.id)}\` ${OUTCOME_TEXT[outcome]}`);
        onUpdate(render(false), false);
      },
    };
    const summary = await this.deps.resume.resumeIncompleteTasks({ reason: 'admin', guildId, progress });
    onUpdate(render(true), true);
    return summary;
  }

  /** Counts what an expiry would change and draws the one-minute confirmation buttons that carry the filter. */
  public async prepareExpiry(
    filter: ExpireFilter,
    adminId: string,
  ): Promise<{ count: number; buttons: ActionRowBuilder<ButtonBuilder> }> {
    const count = await this.deps.tracking.countExpirable(filter);
    const pending: PendingExpiry = {
      adminId,
      olderThanHours: filter.olderThanHours ?? 0,
      includeGenerating: filter.includeGenerating ?? false,
      requestId: filter.requestId,
      expiresAt: this.now() + CONFIRMATION_TTL_MS,
    };
    const buttons = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder()
        .setCustomId(BUTTON.expire('confirm', pending))
        .setLabel('Expire them')
        .setStyle(ButtonStyle.Danger),
      new ButtonBuilder()
        .setCustomId(BUTTON.expire('cancel', pending))
        .setLabel('Cancel')
        .setStyle(ButtonStyle.Secondary),
    );
    return { count, buttons };
  }

  /**
   * Runs a confirmed expiry. Only the admin who asked can confirm, within a minute, in the same guild. Requesters are
   * told through the announcement outbox (the rows become `timeout` with their announcement due).
   */
  public async confirmExpiry(
    pending: PendingExpiry,
    action: 'confirm' | 'cancel',
    presser: { userId: string; guildId: string },
  ): Promise<{ ok: false; message: string } | { ok: true; message: string; expired: VideoRequestRow[] }> {
    if (pending.expiresAt < this.now()) {
      return { ok: false, message: 'This confirmation has expired. Run `/resume expire` again.' };
    }
    if (pending.adminId !== presser.userId) {
      return { ok: false, message: 'Only the admin who ran `/resume expire` can answer this.' };
    }
    if (action === 'cancel') return { ok: true, message: 'Cancelled: nothing was expired.', expired: [] };
    const expired = await this.deps.tracking.expireRequests({
      guildId: presser.guildId,
      olderThanHours: pending.olderThanHours,
      includeGenerating: pending.includeGenerating,
      requestId: pending.requestId,
      adminId: presser.userId,
    });
    if (expired.length > 0) this.deps.metrics?.requestsFinished.inc({ outcome: 'timeout' }, expired.length);
    // A second press (or a press on another instance after the first) finds nothing: say so, change nothing.
    if (expired.length === 0)
      return { ok: false, message: 'Nothing left to expire: those requests were already expired or have finished.' };
    return { ok: true, message: `Expired ${expired.length} request(s). Their requesters are being told.`, expired };
  }
}
