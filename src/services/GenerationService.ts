import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import { formatDuration, type Phase } from '../lib/messages';
import type { Metrics } from '../lib/metrics';
import type { NotificationService } from './NotificationService';
import { NotificationError } from './NotificationService';
import {
  FencedWriteError,
  type Lease,
  type RequestTrackingService,
  type SubmitAttemptRow,
  type VideoRequestRow,
} from './RequestTrackingService';
import type { StorageService } from './StorageService';
import { VeoError, type PollResult, type VeoService, type VideoGenerationParams } from './VeoService';

/** What happened to one request while this process drove it. */
export type GenerationOutcome =
  | 'completed'
  | 'failed'
  | 'timeout'
  | 'announced' // it was already finished; only the announcement was due
  | 'announce_failed' // finished, but Discord refused the message (recorded on the row)
  | 'lost_lease' // another instance took the request over; this one stopped writing
  | 'interrupted' // shutdown: the lease was released for another instance
  | 'deferred'; // an ambiguous submit is still inside its grace period; retried by a later sweep

export interface ProgressObserver {
  onPhase?(phase: Phase, row: VideoRequestRow): void | Promise<void>;
  /** This worker stopped driving the request, for whatever reason (finished, lost lease, error): show no more progress. */
  onEnd?(): void | Promise<void>;
}

export interface ProcessOptions {
  /** true when this process is picking up a request it did not start (restart, takeover, admin run) */
  resumed: boolean;
  observer?: ProgressObserver;
  /** stop driving this request (mark timeout) after this many ms */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface GenerationServiceDeps {
  tracking: RequestTrackingService;
  veo: VeoService;
  storage: StorageService;
  notifier: NotificationService;
  config: Pick<Config, 'resume' | 'veo' | 'google'>;
  logger: Logger;
  metrics: Metrics;
  crashPoints: CrashPoints;
  now?: () => number;
}

class StopProcessing extends Error {
  public constructor(public readonly outcome: GenerationOutcome) {
    super(outcome);
  }
}

const MINUTE = 60_000;
/** A passing Discord failure is retried by later sweeps this many times in all. */
const MAX_ANNOUNCEMENT_ATTEMPTS = 5;
const FINAL_STATES = new Set(['completed', 'failed', 'timeout']);

/**
 * Drives one leased request to its end: submit (at most once per attempt, with a write-ahead attempt row), poll,
 * record the result, announce it. `/video` and the resume engine both use it, so a resumed request follows exactly
 * the path a live one does.
 */
export class GenerationService {
  private readonly now: () => number;

  public constructor(private readonly deps: GenerationServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Requests this process is driving right now (a count: after a takeover within this process, a stale and a current
   * worker may briefly drive one request). Only their leases are renewed: a lease whose worker stopped on an error
   * (its release failing too, as in a database outage) must run out so a sweep can pick the request up again.
   */
  private readonly driving = new Map<string, number>();

  public drivingIds(): string[] {
    return [...this.driving.keys()];
  }

  private hold(requestId: string): () => void {
    this.driving.set(requestId, (this.driving.get(requestId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.driving.get(requestId) ?? 1) - 1;
      if (left > 0) this.driving.set(requestId, left);
      else this.driving.delete(requestId);
    };
  }

  public async process(
    initial: { row: VideoRequestRow; lease: Lease },
    options: ProcessOptions,
  ): Promise<GenerationOutcome> {
    const release = this.hold(initial.row.id);
    try {
      return await this.drive(initial, options);
    } finally {
      release();
      // A worker that stopped on an error leaves the request to a sweep, whose result must not be overwritten by
      // this worker's progress ticker.
      await Promise.resolve(options.observer?.onEnd?.()).catch(() => undefined);
    }
  }

  private async drive(
    initial: { row: VideoRequestRow; lease: Lease },
    options: ProcessOptions,
  ): Promise<GenerationOutcome> {
    const { tracking, logger } = this.deps;
    const lease = initial.lease;
    let row = initial.row;
    const log = logger.child({ requestId: row.id, guildId: row.guildId, channelId: row.channelId, userId: row.userId });
    const deadline = this.now() + (options.timeoutMs ?? this.deps.config.resume.requestTimeoutMs);
    try {
      const startedAs = row.status;
      if (row.status === 'pending') row = await this.submit(row, lease, options, deadline, log);
      if (row.status === 'generating') row = await this.pollUntilFinished(row, lease, options, deadline, log);
      // Counted here, where the fenced transition succeeded, so live and resumed requests count exactly once.
      if ((startedAs === 'pending' || startedAs === 'generating') && FINAL_STATES.has(row.status)) {
        this.deps.metrics.requestsFinished.inc({ outcome: row.status });
      }
      if (row.announcement === 'due') {
        const told = await this.announce(row, lease, options, log);
        // Finished before this call (only its announcement was due): not a completion, failure or timeout made now.
        const finishedBefore = initial.row.status !== 'pending' && initial.row.status !== 'generating';
        return finishedBefore && told !== 'announce_failed' ? 'announced' : told;
      }
      return outcomeOf(row);
    } catch (error) {
      if (error instanceof StopProcessing) {
        if (error.outcome === 'interrupted' || error.outcome === 'deferred')
          await tracking.releaseLease(lease).catch(() => undefined);
        return error.outcome;
      }
      if (error instanceof FencedWriteError) {
        this.deps.metrics.fencedWritesRefused.inc();
        log.warn({ expected: error.message }, 'another instance holds this request now; stopping here');
        return 'lost_lease';
      }
      throw error;
    }
  }

  /**
   * A request marked `timeout` while its operation was still running: that operation was paid for, so if it finished
   * after all, deliver the video late rather than drop it. Anything else leaves the row as it is.
   */
  public async deliverIfFinishedLate(claim: {
    row: VideoRequestRow;
    lease: Lease;
  }): Promise<GenerationOutcome | 'still_unfinished'> {
    const { row, lease } = claim;
    const log = this.deps.logger.child({ requestId: row.id, guildId: row.guildId });
    const release = this.hold(row.id);
    try {
      const result = await this.deps.veo.pollOperation(row.operationName!);
      this.deps.metrics.veoPolls.inc({ result: result.state });
      if (result.state !== 'done' || result.videos.length === 0) return 'still_unfinished';
      const uris = result.videos.map((v) => v.uri);
      const size = await this.deps.storage.getSize(uris[0]!);
      const completed = await this.deps.tracking.lateComplete(lease, {
        videoUrls: uris,
        gcsPrefix: row.gcsPrefix,
        videoSizeBytes: size,
      });
      log.info(
        { operationName: row.operationName },
        'a timed-out operation finished after all; delivering the video late',
      );
      return await this.announce(completed, lease, { resumed: true }, log);
    } catch (error) {
      if (error instanceof FencedWriteError) return 'lost_lease';
      log.warn({ err: error }, 'could not check a timed-out operation');
      return 'still_unfinished';
    } finally {
      release();
      await this.deps.tracking.releaseLease(lease).catch(() => undefined);
    }
  }

  private checkStop(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new StopProcessing('interrupted');
  }

  private params(row: VideoRequestRow): VideoGenerationParams {
    return {
      prompt: row.prompt,
      model: row.model ?? this.deps.config.google.veoModel,
      durationSeconds: (row.durationSeconds ?? 8) as 4 | 6 | 8,
      aspectRatio: row.aspectRatio as '16:9' | '9:16',
      resolution: row.resolution === '1080p' ? '1080p' : '720p',
      generateAudio: row.generateAudio ?? true,
      negativePrompt: row.negativePrompt,
      seed: row.seed === null || row.seed === undefined ? null : Number(row.seed),
    };
  }

  private async submit(
    row: VideoRequestRow,
    lease: Lease,
    options: ProcessOptions,
    deadline: number,
    log: Logger,
  ): Promise<VideoRequestRow> {
    const { tracking, storage, veo, config, metrics, crashPoints } = this.deps;
    await options.observer?.onPhase?.('submitting', row);
    for (;;) {
      this.checkStop(options.signal);
      const attempts = await tracking.getAttempts(row.id);
      const last = attempts.at(-1);

      if (last?.state === 'accepted' && last.operationName) {
        // Died between saving the operation name on the attempt and moving the request: finish that step.
        return tracking.recordOperationAccepted(
          lease,
          last.id,
          last.operationName,
          row.model ?? config.google.veoModel,
        );
      }
      if (last?.state === 'submitting') {
        const resolved = await this.reconcileAmbiguous(row, lease, last, options, deadline, log);
        if (resolved) return resolved;
        continue; // abandoned after the grace period: a new attempt may be submitted
      }
      if (row.submitAttempts >= config.resume.maxSubmitAttempts) {
        return tracking.markFailed(lease, `Gave up after ${row.submitAttempts} submit attempts to Veo.`, 'bot', [
          'pending',
        ]);
      }

      if (row.aspectRatio !== '16:9' && row.aspectRatio !== '9:16') {
        // The original bot's table allows ratios Veo cannot make: say so rather than silently change the request.
        return tracking.markFailed(lease, `Veo cannot make ${row.aspectRatio} videos, only 16:9 and 9:16.`, 'invalid', [
          'pending',
        ]);
      }
      const params = this.params(row);
      if (!row.model)
        log.warn(
          { model: params.model },
          'request from the original bot has no model; using VEO_MODEL and recording it',
        );
      const attemptNo = attempts.length + 1;
      let prefix: string;
      try {
        prefix = storage.outputPrefix(
          { guildId: row.guildId, channelId: row.channelId, userId: row.userId, requestId: row.id },
          attemptNo,
        );
      } catch (error) {
        // A row no /video could have written (a hand edit, a broken import): it can never be made, so end it before
        // anything is paid, rather than failing on every sweep for ever.
        const message = error instanceof Error ? error.message : String(error);
        log.warn({ err: error }, 'request row is not usable; marking it failed without calling Veo');
        return tracking.markFailed(
          lease,
          `The request cannot be sent to Veo: ${message.replace(/^cannot build an output folder: /, '')}.`,
          'bot',
          ['pending'],
        );
      }
      const attempt = await tracking.recordSubmitAttempt(lease, prefix);
      crashPoints.reach('after-attempt-recorded');
      const billedBefore = attempts.some(
        (a) => a.state === 'accepted' || a.state === 'submitting' || a.state === 'abandoned',
      );

      let operationName: string;
      try {
        operationName = await veo.startGeneration(params, storage.outputUri(prefix));
      } catch (error) {
        if (error instanceof VeoError && error.kind === 'ambiguous') {
          metrics.veoSubmits.inc({ result: 'ambiguous' });
          log.warn(
            { err: error, attempt: attemptNo },
            'Veo submit outcome unknown; reconciling through the output folder',
          );
          continue;
        }
        metrics.veoSubmits.inc({ result: 'rejected' });
        const message = error instanceof Error ? error.message : String(error);
        await tracking.recordAttemptRejected(attempt.id, message);
        const kind = error instanceof VeoError && error.status === 400 ? 'invalid' : 'google';
        log.warn({ err: error, attempt: attemptNo }, 'Veo refused the request');
        return tracking.markFailed(lease, `Veo refused the request: ${message}`, kind, ['pending']);
      }
      metrics.veoSubmits.inc({ result: 'accepted' });
      metrics.billedVideoSeconds.inc({ model: params.model }, params.durationSeconds);
      if (billedBefore) metrics.duplicateBilledVideoSeconds.inc(params.durationSeconds);
      crashPoints.reach('after-veo-accepted');
      log.info({ operationName, attempt: attemptNo, model: params.model }, 'Veo accepted the request');
      return this.storeOperationName(lease, attempt, operationName, params.model, log);
    }
  }

  /** The operation is paid for: retry the write rather than lose its name, and say so loudly if it cannot be saved. */
  private async storeOperationName(
    lease: Lease,
    attempt: SubmitAttemptRow,
    operationName: string,
    model: string,
    log: Logger,
  ): Promise<VideoRequestRow> {
    let lastError: unknown;
    for (let i = 0; i < 5; i++) {
      try {
        return await this.deps.tracking.recordOperationAccepted(lease, attempt.id, operationName, model);
      } catch (error) {
        if (error instanceof FencedWriteError) throw error;
        lastError = error;
        log.error(
          { err: error, operationName, attemptId: attempt.id },
          'could not store the operation name of a paid Veo operation; retrying',
        );
        await sleep(Math.min(200 * 2 ** i, 5_000));
      }
    }
    log.fatal(
      { err: lastError, operationName, attemptId: attempt.id },
      'operation name of a paid Veo operation NOT stored; recover it from this log line',
    );
    throw lastError;
  }

  /**
   * An attempt row without an operation name: the bot died (or the network failed) after asking Veo. Veo may have
   * accepted it, so look for its output before paying again; give up on it only after the grace period.
   */
  private async reconcileAmbiguous(
    row: VideoRequestRow,
    lease: Lease,
    attempt: SubmitAttemptRow,
    options: ProcessOptions,
    deadline: number,
    log: Logger,
  ): Promise<VideoRequestRow | undefined> {
    const { tracking, storage, config, metrics } = this.deps;
    metrics.ambiguousAttempts.inc();
    await tracking.incrementAmbiguous(lease);
    log.warn(
      { attempt: attempt.attempt, outputPrefix: attempt.outputPrefix },
      'ambiguous submit attempt: checking its output folder',
    );
    const graceEnds = new Date(attempt.createdAt).getTime() + config.resume.ambiguousGraceMs;
    for (;;) {
      this.checkStop(options.signal);
      const outputs = await storage.listOutputs(attempt.outputPrefix);
      if (outputs.length > 0) {
        log.info(
          { outputs: outputs.length },
          'ambiguous attempt had produced a video; delivering it without a new submit',
        );
        return this.complete(
          row,
          lease,
          outputs.map((o) => o.gsUri),
          outputs[0]!.size,
          attempt.outputPrefix,
          ['pending', 'generating'],
        );
      }
      if (this.now() >= graceEnds) {
        await tracking.markAttemptAbandoned(attempt.id);
        log.warn({ attempt: attempt.attempt }, 'no output after the grace period; the attempt is abandoned');
        return undefined;
      }
      if (this.now() >= deadline) throw new StopProcessing('deferred');
      await sleep(Math.min(config.veo.pollIntervalMs, Math.max(0, graceEnds - this.now())), undefined, {
        signal: options.signal,
      }).catch(() => undefined);
    }
  }

  private async pollUntilFinished(
    row: VideoRequestRow,
    lease: Lease,
    options: ProcessOptions,
    deadline: number,
    log: Logger,
  ): Promise<VideoRequestRow> {
    const { veo, tracking, config, metrics, crashPoints } = this.deps;
    const operationName = row.operationName;
    if (!operationName) {
      return tracking.markFailed(lease, 'The request was marked generating but has no Veo operation to check.', 'bot', [
        'generating',
      ]);
    }
    await options.observer?.onPhase?.('generating', row);
    for (;;) {
      this.checkStop(options.signal);
      let result: PollResult;
      try {
        result = await veo.pollOperation(operationName);
        metrics.veoPolls.inc({ result: result.state });
      } catch (error) {
        // Counted once, as an error (not also as "running").
        metrics.veoPolls.inc({ result: 'error' });
        log.warn({ err: error, operationName }, 'polling Veo failed; will try again');
        result = { state: 'running' };
      }
      crashPoints.reach('while-polling');

      switch (result.state) {
        case 'done': {
          await options.observer?.onPhase?.('downloading', row);
          const uris = result.videos.map((v) => v.uri);
          const size = uris[0] ? await this.deps.storage.getSize(uris[0]) : null;
          crashPoints.reach('after-output-ready');
          return this.complete(row, lease, uris, size, row.gcsPrefix, ['generating']);
        }
        case 'failed':
          return tracking.markFailed(lease, `Veo failed: ${result.message}`, result.code === 3 ? 'invalid' : 'google', [
            'generating',
          ]);
        case 'filtered':
          return tracking.markFailed(lease, result.reasons.join('; ') || 'Blocked by safety filters.', 'filtered', [
            'generating',
          ]);
        case 'not_found':
          return tracking.markTimeout(lease, 'The Veo operation no longer exists (expired at Google).', ['generating']);
        case 'running':
          if (this.now() >= deadline) {
            const limit = options.timeoutMs ?? config.resume.requestTimeoutMs;
            const within = limit % MINUTE === 0 ? `${limit / MINUTE} minute(s)` : formatDuration(limit);
            return tracking.markTimeout(lease, `Veo did not finish within ${within}.`, ['generating']);
          }
          await sleep(config.veo.pollIntervalMs, undefined, { signal: options.signal }).catch(() => undefined);
      }
    }
  }

  private async complete(
    row: VideoRequestRow,
    lease: Lease,
    uris: string[],
    size: number | null,
    gcsPrefix: string | null,
    from: ('pending' | 'generating')[],
  ): Promise<VideoRequestRow> {
    if (uris.length === 0) return this.deps.tracking.markFailed(lease, 'Veo finished without a video.', 'google', from);
    const completed = await this.deps.tracking.markCompleted(
      lease,
      { videoUrls: uris, gcsPrefix, videoSizeBytes: size },
      from,
    );
    this.deps.crashPoints.reach('after-completed');
    return completed;
  }

  private async announce(
    row: VideoRequestRow,
    lease: Lease,
    options: ProcessOptions,
    log: Logger,
  ): Promise<GenerationOutcome> {
    const { tracking, notifier, crashPoints } = this.deps;
    await options.observer?.onPhase?.('delivering', row);
    // Counted before sending: after a crash between sending and recording, the next try looks for the message first.
    const attemptsBefore = row.notificationAttempts;
    await tracking.recordAnnouncementAttempt(lease);
    try {
      const result = await notifier.announce(row, { resumed: options.resumed });
      crashPoints.reach('after-message-sent');
      await tracking.recordAnnouncementSent(lease, result.messageId, result.deliveredAs ?? null);
      log.info(
        { path: result.path, deliveredAs: result.deliveredAs, deduplicated: result.deduplicated, status: row.status },
        'requester told',
      );
      return outcomeOf(row);
    } catch (error) {
      if (error instanceof FencedWriteError) throw error;
      const permanent = error instanceof NotificationError ? error.permanent : false;
      const message = error instanceof Error ? error.message : String(error);
      const giveUp = permanent || attemptsBefore + 1 >= MAX_ANNOUNCEMENT_ATTEMPTS;
      log.warn({ err: error, giveUp }, 'could not tell the requester');
      await tracking.recordAnnouncementFailure(lease, message, giveUp);
      if (!giveUp) await tracking.releaseLease(lease).catch(() => undefined);
      return 'announce_failed';
    }
  }
}

function outcomeOf(row: VideoRequestRow): GenerationOutcome {
  if (row.status === 'completed') return 'completed';
  if (row.status === 'failed') return 'failed';
  if (row.status === 'timeout') return 'timeout';
  return 'deferred';
}
