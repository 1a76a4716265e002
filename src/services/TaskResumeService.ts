import type { Logger } from 'pino';
import type { RequestRepository } from '../db/repositories';
import { outcomeBucket, type GenerationOutcome } from '../domain/outcomes';
import {
  LATE_CHECKS_PER_SWEEP,
  LATE_DELIVERY_WINDOW_HOURS,
  lateCheckIntervalMs,
  MAX_PROCESSING_ERRORS,
} from '../domain/policy';
import type { AnnouncementResult, Notifier } from '../domain/ports';
import type { Claim, LeasedRequest, VideoRequestRow } from '../domain/request';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import type { GenerationService } from './generation/GenerationService';
import type { LeaseManager } from './LeaseManager';

/** R10's summary of one sweep (snake_case: these are the documented log fields). */
export interface ResumeSummary {
  reason: string;
  guild_id: string | null;
  pending_found: number;
  generating_found: number;
  expired: number;
  total_resumed: number;
  successful_completions: number;
  failures: number;
  timeouts: number;
  announced: number;
  not_finished: number;
  /** timed-out requests whose paid operation finished after all, delivered late */
  delivered_late: number;
  total_duration_ms: number;
}

export interface ResumeProgress {
  onStart?(found: { pending: number; generating: number; expired: number }): void;
  onClaimed?(row: VideoRequestRow): void;
  onResult?(row: VideoRequestRow, outcome: GenerationOutcome, error?: string): void;
}

export interface ResumeOptions {
  reason: string;
  /** resume only this guild's requests (admin `/resume run`) */
  guildId?: string;
  progress?: ResumeProgress;
}

export interface TaskResumeServiceDeps {
  requests: RequestRepository;
  leases: LeaseManager;
  generation: GenerationService;
  notifier: Notifier;
  config: Pick<Config, 'resume' | 'veo'>;
  logger: Logger;
  metrics: Metrics;
  crashPoints: CrashPoints;
  now?: () => number;
}

const SUMMARY_COUNTER = {
  completed: 'successful_completions',
  failed: 'failures',
  timeout: 'timeouts',
  announced: 'announced',
  not_finished: 'not_finished',
} as const;

/** A sweep started: `claimed` once each of its slots made its first claim (or found nothing), `done` at its end. */
export interface StartedSweep {
  claimed: Promise<void>;
  done: Promise<ResumeSummary>;
}

/**
 * Resumes requests a restart, crash or dead instance left unfinished (R2, R7). Work is claimed one row at a time from
 * PostgreSQL (`FOR UPDATE SKIP LOCKED`, leased, fenced), so any number of instances can run this at once without two
 * of them driving the same request.
 *
 * RESUME_CONCURRENCY is this process's capacity for resumed requests, shared by every sweep (issue #15): a sweep fills
 * the free slots and ends; a slot that frees claims the next claimable request whichever sweep started it; a later
 * sweep (every SWEEP_INTERVAL_MS, at startup, or when the heartbeat sees a dead instance's work) fills whatever is free
 * then, however long the requests already running take. Guild-scoped admin runs (`/resume run`) have their own slots.
 */
export class TaskResumeService {
  private readonly shutdown = new AbortController();
  private readonly active = new Set<Promise<unknown>>();
  private readonly now: () => number;
  /** a sweep still making its first claims: a sweep asked for meanwhile joins it (it would claim the same rows) */
  private claiming: StartedSweep | null = null;
  /** slots of the shared capacity in use (requests this process resumes for the sweeps) */
  private busySlots = 0;

  public constructor(private readonly deps: TaskResumeServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Aborts in-flight work at its next safe point (leases are released for other instances). */
  public async stop(timeoutMs = 10_000): Promise<void> {
    this.shutdown.abort();
    await Promise.race([Promise.allSettled([...this.active]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  public get stopping(): boolean {
    return this.shutdown.signal.aborted;
  }

  /** Slots of RESUME_CONCURRENCY not driving a resumed request now. */
  public get freeSlots(): number {
    return Math.max(0, this.deps.config.resume.concurrency - this.busySlots);
  }

  /**
   * R7: one sweep: expire stale pending rows, then claim and resume into the free slots, each slot claiming again as
   * soon as its request ends (a sliding window, not batches), until nothing claimable is left; resolves with the
   * sweep's summary once every request it claimed has ended. A sweep still making its first claims is joined rather
   * than duplicated; a guild-scoped admin run is separate and has slots of its own.
   */
  public resumeIncompleteTasks(options: ResumeOptions): Promise<ResumeSummary> {
    return this.startSweep(options).done;
  }

  /** Starts a sweep (or joins the one making its first claims); the scheduled tasks wait only for `claimed`. */
  public startSweep(options: ResumeOptions): StartedSweep {
    if (options.guildId || options.progress) return this.begin(options, false);
    if (!this.claiming) {
      const started = this.begin(options, true);
      this.claiming = started;
      const clear = () => {
        if (this.claiming === started) this.claiming = null;
      };
      started.claimed.then(clear, clear);
    }
    return this.claiming;
  }

  /**
   * Claims into the free capacity now (the heartbeat found claimable work of an instance that stopped beating), instead
   * of waiting for the next sweep. Does nothing when every slot is busy: a slot that frees claims by itself.
   */
  public claimFreeCapacity(reason: string): void {
    if (this.stopping || this.freeSlots === 0) return;
    this.startSweep({ reason }).done.catch((error: unknown) =>
      this.deps.logger.warn({ err: error, reason }, 'a claim round stopped on a database error'),
    );
  }

  private begin(options: ResumeOptions, pooled: boolean): StartedSweep {
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const claimed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    claimed.catch(() => undefined); // the same error reaches `done`
    const done = this.track(
      this.sweep(options, pooled, settle.resolve).catch((error: unknown) => {
        settle.reject(error);
        throw error;
      }),
    );
    return { claimed, done };
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.active.add(promise);
    void promise.finally(() => this.active.delete(promise)).catch(() => undefined);
    return promise;
  }

  private takeSlot(): boolean {
    if (this.busySlots >= this.deps.config.resume.concurrency) return false;
    this.busySlots++;
    return true;
  }

  private async sweep(options: ResumeOptions, pooled: boolean, claimedFirst: () => void): Promise<ResumeSummary> {
    const { requests, leases, config, logger, metrics } = this.deps;
    const started = this.now();
    const endTimer = metrics.resumeSweepDuration.startTimer();
    const summary: ResumeSummary = {
      reason: options.reason,
      guild_id: options.guildId ?? null,
      pending_found: 0,
      generating_found: 0,
      expired: 0,
      total_resumed: 0,
      successful_completions: 0,
      failures: 0,
      timeouts: 0,
      announced: 0,
      not_finished: 0,
      delivered_late: 0,
      total_duration_ms: 0,
    };

    if (options.reason === 'startup') await this.warnAboutUnknownStatuses();

    // R9: pending rows older than RESUME_MAX_AGE_HOURS are expired without a Veo call; they are announced below like
    // any finished row.
    const expired = await requests.expireStalePending(config.resume.maxAgeHours, options.guildId);
    summary.expired = expired.length;
    for (const row of expired) this.logStep(row, 'expired', 'timeout', row.errorMessage);

    // R7's counts of pending vs generating (generating ones of any age are resumed too).
    const found = await requests.countIncompleteRequests(options.guildId);
    summary.pending_found = found.pending;
    summary.generating_found = found.generating;
    logger.info(
      {
        event: 'resume_start',
        reason: options.reason,
        guild_id: options.guildId ?? null,
        pending: summary.pending_found,
        generating: summary.generating_found,
        expired: summary.expired,
        concurrency: config.resume.concurrency,
        free_slots: pooled ? this.freeSlots : config.resume.concurrency,
      },
      'resume sweep started',
    );
    options.progress?.onStart?.({
      pending: summary.pending_found,
      generating: summary.generating_found,
      expired: summary.expired,
    });

    const seen = new Set<string>();
    const parked: Claim[] = [];
    const slots = config.resume.concurrency;
    let settled = 0;
    const slot = async (): Promise<void> => {
      let reported = false;
      const report = () => {
        if (reported) return;
        reported = true;
        if (++settled === slots) claimedFirst();
      };
      try {
        while (!this.shutdown.signal.aborted) {
          // The shared capacity: a slot with no free place ends; a place that frees is filled by its own slot.
          if (pooled && !this.takeSlot()) return;
          try {
            const claim = await leases.claimNext({ guildId: options.guildId });
            if (!claim) return;
            if (seen.has(claim.row.id)) {
              // Came back within this sweep (deferred or retrying an announcement): it is the oldest, so every claim
              // would return it again. Hold it until the sweep ends so the slot reaches the rows behind it.
              parked.push(claim);
              continue;
            }
            seen.add(claim.row.id);
            report();
            await this.resumeOne(claim, summary, options.progress);
          } finally {
            if (pooled) this.busySlots--;
          }
        }
      } finally {
        report();
      }
    };
    const results = await Promise.allSettled(Array.from({ length: slots }, () => slot()));
    // Give the held-back rows to a later sweep (of any instance).
    await Promise.all(parked.map((claim) => leases.release(claim.lease)));
    for (const r of results) {
      if (r.status === 'rejected') logger.error({ err: r.reason }, 'a resume slot stopped on a database error');
    }

    if (!options.guildId) summary.delivered_late = await this.deliverLateOperations();

    summary.total_duration_ms = this.now() - started;
    endTimer();
    logger.info({ event: 'resume_finished', ...summary }, 'resume sweep finished');
    return summary;
  }

  /** Once per start: rows another bot version (or a hand edit) gave a status this one does not know are left alone, loudly. */
  private async warnAboutUnknownStatuses(): Promise<void> {
    const unknown = await this.deps.requests.countUnknownStatuses().catch(() => []);
    if (unknown.length > 0) {
      this.deps.logger.warn(
        { event: 'resume_unknown_statuses', statuses: unknown },
        'some requests have a status this version does not know; they are left untouched',
      );
    }
  }

  /** Checks a few timed-out requests whose paid operation may have finished since (late delivery). */
  private async deliverLateOperations(): Promise<number> {
    let delivered = 0;
    for (let i = 0; i < LATE_CHECKS_PER_SWEEP && !this.shutdown.signal.aborted; i++) {
      const claim = await this.deps.leases.claimLateDelivery({
        windowHours: LATE_DELIVERY_WINDOW_HOURS,
        minIntervalMs: lateCheckIntervalMs(this.deps.config.veo.pollIntervalMs),
      });
      if (!claim) break;
      const outcome = await this.deps.generation.deliverIfFinishedLate(claim);
      if (outcome === 'completed') delivered++;
      this.deps.logger.info(
        {
          event: 'resume_late_check',
          request_id: claim.row.id,
          operation_name: claim.row.operationName,
          resume_result: outcome,
        },
        'checked a timed-out operation',
      );
    }
    return delivered;
  }

  /** Drives one claimed request; never throws (one request's problem must not stop the others). */
  private async resumeOne(claim: Claim, summary: ResumeSummary, progress?: ResumeProgress): Promise<void> {
    const { row } = claim;
    const from = row.status;
    this.deps.crashPoints.reach('after-claim');
    if (claim.takeover) this.deps.metrics.leaseTakeovers.inc();
    progress?.onClaimed?.(row);
    this.logStep(row, 'attempt', undefined, undefined);
    summary.total_resumed++;
    let outcome: GenerationOutcome;
    let errorMessage: string | undefined;
    try {
      outcome =
        row.status === 'pending'
          ? await this.resumePendingRequest(claim)
          : row.status === 'generating'
            ? await this.resumeGeneratingRequest(claim)
            : await this.deps.generation.process(claim, { resumed: true, signal: this.shutdown.signal });
    } catch (error) {
      outcome = 'failed';
      errorMessage = error instanceof Error ? error.message : String(error);
      this.deps.logger.error({ err: error, request_id: row.id }, 'resuming a request failed');
      // Free it for the next sweep; a request that keeps failing this way ends failed with the reason.
      await this.deps.requests
        .recordProcessingError(claim.lease, errorMessage, MAX_PROCESSING_ERRORS)
        .catch(() => undefined);
    }
    summary[SUMMARY_COUNTER[outcomeBucket(outcome)]]++;
    this.deps.metrics.resumes.inc({ from_state: from, outcome });
    const latest = await this.deps.requests.getById(row.id).catch(() => row);
    this.logStep(latest ?? row, 'result', outcome, errorMessage ?? latest?.errorMessage ?? undefined);
    progress?.onResult?.(latest ?? row, outcome, errorMessage);
  }

  /**
   * Tells the requesters of these (finished) requests now, e.g. right after an admin expired them. A request that
   * another instance holds is left to it.
   */
  public async announceRequests(ids: string[]): Promise<number> {
    let told = 0;
    for (const id of ids) {
      const claim = await this.deps.leases.claimById(id);
      if (!claim) continue;
      const outcome = await this.track(
        this.deps.generation.process(claim, { resumed: false, signal: this.shutdown.signal }),
      ).catch(() => 'failed');
      if (outcome !== 'announce_failed' && outcome !== 'failed') told++;
    }
    return told;
  }

  /** R3: submit a pending request again with its original parameters and model. */
  public resumePendingRequest(claim: LeasedRequest): Promise<GenerationOutcome> {
    return this.resumeClaimed(claim);
  }

  /** R4: poll the stored operation until it is done, failed, gone or out of time. */
  public resumeGeneratingRequest(claim: LeasedRequest): Promise<GenerationOutcome> {
    return this.resumeClaimed(claim);
  }

  /** Both kinds of unfinished request take the one path a live request takes: GenerationService picks the step. */
  private resumeClaimed(claim: LeasedRequest): Promise<GenerationOutcome> {
    return this.deps.generation.process(claim, {
      resumed: true,
      signal: this.shutdown.signal,
      timeoutMs: this.deps.config.resume.requestTimeoutMs,
    });
  }

  /** R5: tell the requester in the original channel, mentioning only them. */
  public sendChannelMessage(row: VideoRequestRow): Promise<AnnouncementResult> {
    return this.deps.notifier.sendChannelMessage(row, { resumed: true });
  }

  private logStep(
    row: VideoRequestRow,
    step: string,
    result: string | undefined,
    errorMessage: string | null | undefined,
  ): void {
    this.deps.logger.info(
      {
        event: `resume_${step}`,
        request_id: row.id,
        user_id: row.userId,
        guild_id: row.guildId,
        channel_id: row.channelId,
        age_minutes: Math.round((this.now() - new Date(row.createdAt).getTime()) / 60_000),
        status: row.status,
        operation_name: row.operationName ?? null,
        resume_result: result ?? null,
        error_message: errorMessage ?? null,
      },
      `resume ${step}`,
    );
  }
}
