import type { AdminRunRepository, InstanceRepository, RequestRepository, RequestViews } from '../db/repositories';
import {
  CONFIRMATION_TTL_MS,
  STATUS_PAGE_SIZE,
  type DryRunPlan,
  type InstanceView,
  type LeaseHolder,
  type PendingExpiry,
  type RunProgress,
  type StatusPage,
} from '../domain/admin';
import { outcomeBucket } from '../domain/outcomes';
import type { ExpireFilter, UnfinishedRow, VideoRequestRow } from '../domain/request';
import { HOUR_MS } from '../domain/time';
import type { Config } from '../lib/config';
import { instanceLabel } from './InstanceHeartbeat';
import type { SpendService } from './SpendService';
import type { ResumeSummary, TaskResumeService } from './TaskResumeService';

/** Failed and timed-out requests `/resume status` shows with their detail. */
const RECENT_FAILURES = 3;
/** Rows the dry run looks at (and sums video-seconds over). */
const DRY_RUN_ROWS = 50;

/**
 * Everything behind `/resume`: views and actions, always scoped to one guild (R13). Returns plain values; src/discord
 * draws them, and the command and button handler only parse Discord input and call this.
 */
export class ResumeAdminService {
  private readonly now: () => number;

  public constructor(
    private readonly deps: {
      requests: RequestRepository;
      views: RequestViews;
      adminRuns: AdminRunRepository;
      /** the bot processes `/resume status` lists */
      instances?: InstanceRepository;
      resume: TaskResumeService;
      /** the server's budget and submit queue, shown by `/resume status` */
      spend?: SpendService;
      config: Pick<Config, 'resume' | 'instanceId'>;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  public async statusPage(guildId: string, page: number): Promise<StatusPage> {
    const { views, config } = this.deps;
    const summary = await views.getGuildSummary(guildId);
    let { rows, total } = await views.listUnfinished(guildId, {
      offset: page * STATUS_PAGE_SIZE,
      limit: STATUS_PAGE_SIZE,
    });
    const pages = Math.max(1, Math.ceil(total / STATUS_PAGE_SIZE));
    const current = Math.min(page, pages - 1);
    // Rows finished since the page was drawn: show the last page that still exists rather than an empty one.
    if (current !== page)
      ({ rows, total } = await views.listUnfinished(guildId, {
        offset: current * STATUS_PAGE_SIZE,
        limit: STATUS_PAGE_SIZE,
      }));
    const recentFailures = await views.recentFailures(guildId, RECENT_FAILURES);
    const spend = this.deps.spend ? await this.deps.spend.guildStatus(guildId) : undefined;
    const instances = await this.instances();
    return {
      summary,
      spend,
      rows: rows.map((row) => ({ ...row, holder: this.holderOf(row) })),
      recentFailures,
      page: current,
      pages,
      total,
      resumeDisabled: config.resume.disabled,
      instances,
      now: this.now(),
    };
  }

  /** The live (and not responding) bot processes, by label: the same list in every server. */
  private async instances(): Promise<InstanceView[]> {
    const listed = (await this.deps.instances?.list()) ?? [];
    return listed.map((i) => ({
      label: instanceLabel(i.instanceId),
      thisBot: i.instanceId === this.deps.config.instanceId,
      shards: i.shards,
      startedAt: i.startedAt,
      lastBeatAt: i.lastBeatAt,
      responding: !i.dead,
    }));
  }

  private holderOf(row: UnfinishedRow): LeaseHolder {
    if (!row.leaseOwner) return 'free';
    if (row.leaseOwner === this.deps.config.instanceId) return 'this_bot';
    return row.leaseLive ? 'other_alive' : 'other_not_responding';
  }

  /** What `/resume run` would do, without doing it. */
  public async dryRun(guildId: string): Promise<DryRunPlan> {
    const { views, config } = this.deps;
    const { rows, total } = await views.listUnfinished(guildId, { offset: 0, limit: DRY_RUN_ROWS });
    const now = this.now();
    const maxAgeMs = config.resume.maxAgeHours * HOUR_MS;
    let seconds = 0;
    const items = rows.map((row) => {
      if (row.leaseLive) return { row, action: 'skip_live' as const, seconds: 0 };
      if (row.status === 'pending' && now - new Date(row.createdAt).getTime() > maxAgeMs)
        return { row, action: 'expire' as const, seconds: 0 };
      if (row.status === 'pending') {
        const s = row.durationSeconds ?? 8;
        seconds += s;
        return { row, action: 'submit' as const, seconds: s };
      }
      if (row.status === 'generating') return { row, action: 'poll' as const, seconds: 0 };
      return { row, action: 'announce' as const, seconds: 0 };
    });
    return { items, total, seconds, maxAgeHours: config.resume.maxAgeHours, now };
  }

  /**
   * Takes the server's one `/resume run` (across instances): the run to start, or who started the one already going
   * and when. Two admins' runs at once would multiply RESUME_CONCURRENCY and the connections it takes.
   */
  public async beginRun(
    guildId: string,
    adminId: string,
  ): Promise<
    | { ok: true; run: (onUpdate: (progress: RunProgress, final: boolean) => void) => Promise<ResumeSummary> }
    | { ok: false; startedBy: string; startedAt: Date }
  > {
    const { adminRuns, config } = this.deps;
    const leaseMs = config.resume.leaseDurationMs;
    const taken = await adminRuns.take(guildId, adminId, config.instanceId, leaseMs);
    if ('busy' in taken) return { ok: false, startedBy: taken.busy.adminId, startedAt: taken.busy.startedAt };
    const held = taken.held;
    return {
      ok: true,
      run: async (onUpdate) => {
        const keepAlive = setInterval(
          () => void adminRuns.renew(guildId, held, leaseMs).catch(() => undefined),
          Math.max(100, Math.floor(leaseMs / 3)),
        );
        keepAlive.unref();
        try {
          return await this.run(guildId, onUpdate);
        } finally {
          clearInterval(keepAlive);
          await adminRuns.end(guildId, held).catch(() => undefined);
        }
      },
    };
  }

  /** Resumes this guild's free unfinished requests, reporting progress through `onUpdate` as it goes. */
  private async run(
    guildId: string,
    onUpdate: (progress: RunProgress, final: boolean) => void,
  ): Promise<ResumeSummary> {
    const started = this.now();
    const progress: RunProgress = {
      counts: { found: 0, running: 0, completed: 0, failed: 0, timeout: 0 },
      requests: new Map(),
      elapsedMs: 0,
    };
    const update = (final: boolean) => {
      progress.elapsedMs = this.now() - started;
      onUpdate(progress, final);
    };
    const { counts } = progress;
    const summary = await this.deps.resume.resumeIncompleteTasks({
      reason: 'admin',
      guildId,
      progress: {
        onStart: (found) => {
          counts.found = found.pending + found.generating + found.expired;
          update(false);
        },
        onClaimed: (row: VideoRequestRow) => {
          counts.running++;
          progress.requests.set(row.id, { status: row.status });
          update(false);
        },
        onResult: (row, outcome) => {
          counts.running = Math.max(0, counts.running - 1);
          const bucket = outcomeBucket(outcome);
          if (bucket === 'completed' || bucket === 'failed' || bucket === 'timeout') counts[bucket]++;
          progress.requests.set(row.id, { status: row.status, outcome });
          update(false);
        },
      },
    });
    update(true);
    return summary;
  }

  /** Counts what an expiry would change and the pending expiry its confirmation buttons carry. */
  public async prepareExpiry(
    filter: ExpireFilter,
    adminId: string,
  ): Promise<{ count: number; pending: PendingExpiry }> {
    const count = await this.deps.requests.countExpirable(filter);
    const pending: PendingExpiry = {
      adminId,
      olderThanHours: filter.olderThanHours ?? 0,
      includeGenerating: filter.includeGenerating ?? false,
      requestId: filter.requestId,
      expiresAt: this.now() + CONFIRMATION_TTL_MS,
    };
    return { count, pending };
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
    const expired = await this.deps.requests.expireRequests({
      guildId: presser.guildId,
      olderThanHours: pending.olderThanHours,
      includeGenerating: pending.includeGenerating,
      requestId: pending.requestId,
      adminId: presser.userId,
    });
    // A second press (or a press on another instance after the first) finds nothing: say so, change nothing.
    if (expired.length === 0)
      return { ok: false, message: 'Nothing left to expire: those requests were already expired or have finished.' };
    return { ok: true, message: `Expired ${expired.length} request(s). Their requesters are being told.`, expired };
  }

  /** Autocomplete of `/resume expire request:` — only what expire can act on (in a busy server, finished requests would crowd out the stuck ones). */
  public findExpirable(guildId: string, typed: string): Promise<VideoRequestRow[]> {
    return this.deps.views.findForGuild(guildId, typed, 25, { unfinishedOnly: true });
  }
}
