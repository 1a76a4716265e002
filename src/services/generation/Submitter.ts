import { setTimeout as sleep } from 'node:timers/promises';
import { FencedWriteError } from '../../domain/errors';
import { classify, OPERATION_NAME_WRITE_TRIES, throttleDelayMs } from '../../domain/policy';
import { pendingImages, type SubmitAttemptRow, type VideoRequestRow } from '../../domain/request';
import { isVeoAspectRatio } from '../../domain/videoInput';
import { VeoError, type VideoGenerationParams } from '../VeoService';
import { checkStop, completeWithVideo, StopProcessing, type GenerationDeps, type RequestRun } from './RequestRun';

/**
 * Submits a pending request to Veo (R3), at most once per attempt: each attempt is written ahead of the paid call
 * with its own output folder, and an attempt found without an operation name (the bot died or the answer was lost)
 * is reconciled through that folder before anything is paid again.
 */
export class Submitter {
  private readonly now: () => number;

  public constructor(private readonly deps: GenerationDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The stored request as Veo gets it: a resume submits exactly what the first submit would have (images included). */
  private params(row: VideoRequestRow): VideoGenerationParams {
    return {
      prompt: row.prompt,
      model: row.model ?? this.deps.config.google.veoModel,
      durationSeconds: row.durationSeconds ?? 8,
      aspectRatio: row.aspectRatio as '16:9' | '9:16',
      resolution: row.resolution === '1080p' ? '1080p' : '720p',
      generateAudio: row.generateAudio ?? true,
      negativePrompt: row.negativePrompt,
      seed: row.seed === null || row.seed === undefined ? null : Number(row.seed),
      image: row.imageUri ? { gcsUri: row.imageUri, mimeType: row.imageMimeType ?? '' } : null,
      lastFrame: row.lastFrameUri ? { gcsUri: row.lastFrameUri, mimeType: row.lastFrameMimeType ?? '' } : null,
      video: row.sourceVideoUri ? { gcsUri: row.sourceVideoUri } : null,
    };
  }

  /**
   * Returns the row as it stands after the submit: generating, or finished (refused, invalid, an ambiguous attempt's
   * video found, or Google's quota exhausted for longer than RESUME_REQUEST_TIMEOUT_MS). Each submit waits for its
   * permit in the submit queue first (the permit is its write-ahead attempt row); a 429 sends it back there.
   */
  public async submit(run: RequestRun, row: VideoRequestRow): Promise<VideoRequestRow> {
    const { requests, attempts: attemptLog, storage, veo, config, metrics, crashPoints, queue } = this.deps;
    const { lease, log } = run;
    const observer = run.options.observer;
    // ImageIntake stores them first; a row still waiting for its images must never be sent without them.
    if (pendingImages(row).length > 0) throw new Error('the input images of this request are not stored yet');
    for (;;) {
      checkStop(run);
      const attempts = await attemptLog.getAttempts(row.id);
      const last = attempts.at(-1);

      if (last?.state === 'accepted' && last.operationName) {
        // Died between saving the operation name on the attempt and moving the request: finish that step.
        return attemptLog.recordOperationAccepted(
          lease,
          last.id,
          last.operationName,
          row.model ?? config.google.veoModel,
        );
      }
      if (last?.state === 'submitting') {
        const resolved = await this.reconcileAmbiguous(run, row, last);
        if (resolved) return resolved;
        continue; // abandoned after the grace period: a new attempt may be submitted
      }
      // Submits Google answered 429 were refused for its quota, not for the request, and permits given back were never
      // sent: neither uses up the request's tries.
      const throttled = attempts.filter((a) => a.throttledUntil !== null);
      const unused = throttled.length + attempts.filter((a) => a.state === 'returned').length;
      const spent = Math.max(attempts.length - unused, row.submitAttempts - unused);
      if (spent >= config.resume.maxSubmitAttempts) {
        return requests.finish(lease, classify({ kind: 'submit_attempts_exhausted', attempts: spent }), ['pending']);
      }
      if (!isVeoAspectRatio(row.aspectRatio)) {
        return requests.finish(lease, classify({ kind: 'unsupported_ratio', aspectRatio: row.aspectRatio }), [
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
        const problem = message.replace(/^cannot build an output folder: /, '');
        return requests.finish(lease, classify({ kind: 'unusable_row', problem }), ['pending']);
      }
      const attempt = await queue.acquire({
        lease,
        outputPrefix: prefix,
        signal: run.options.signal,
        // Waiting again after a 429: attempts were recorded, so its Cancel (before any attempt only) is gone.
        onWait: (info) =>
          void Promise.resolve(
            observer?.onPhase?.(
              'queued',
              { ...row, submitAttempts: Math.max(row.submitAttempts, attempts.length) },
              info,
            ),
          ).catch(() => undefined),
      });
      // No permit: shutting down (checked at the top), or an attempt exists already (looked at again at the top).
      if (!attempt) continue;
      crashPoints.reach('after-attempt-recorded');
      // From here Google may bill it: the requester's Cancel is refused, and the progress embed drops its button.
      await observer?.onPhase?.('submitting', { ...row, submitAttempts: row.submitAttempts + 1 });
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
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof VeoError && error.kind === 'throttled') {
          const finished = await this.throttled(run, row, attempt, throttled, error, message);
          if (finished) return finished;
          continue;
        }
        metrics.veoSubmits.inc({ result: 'rejected' });
        await attemptLog.recordAttemptRejected(attempt.id, message);
        log.warn({ err: error, attempt: attemptNo }, 'Veo refused the request');
        const httpStatus = error instanceof VeoError ? error.status : undefined;
        const event =
          httpStatus === 404
            ? ({ kind: 'model_unavailable', model: params.model, message } as const)
            : ({ kind: 'veo_refused', httpStatus, message } as const);
        return requests.finish(lease, classify(event), ['pending']);
      }
      metrics.veoSubmits.inc({ result: 'accepted' });
      metrics.billedVideoSeconds.inc({ model: params.model }, params.durationSeconds);
      if (billedBefore) metrics.duplicateBilledVideoSeconds.inc(params.durationSeconds);
      crashPoints.reach('after-veo-accepted');
      log.info({ operation_name: operationName, attempt: attemptNo, model: params.model }, 'Veo accepted the request');
      // The time allowed for the generation starts now, not when the request began waiting for its permit.
      run.deadline = this.now() + run.timeoutMs;
      return this.storeOperationName(run, attempt, operationName, params.model);
    }
  }

  /**
   * Google answered 429: nothing was billed. The attempt is marked refused with the retry delay (every instance waits
   * it out before the next permit) and the request goes back to its place in the queue, unless 429s have kept it
   * waiting longer than RESUME_REQUEST_TIMEOUT_MS in all: then it fails with the reason (returned).
   */
  private async throttled(
    run: RequestRun,
    row: VideoRequestRow,
    attempt: SubmitAttemptRow,
    earlier: SubmitAttemptRow[],
    error: VeoError,
    message: string,
  ): Promise<VideoRequestRow | undefined> {
    const { attempts: attemptLog, requests, metrics } = this.deps;
    metrics.veoSubmits.inc({ result: 'throttled' });
    metrics.veoRateLimited.inc();
    const delayMs = throttleDelayMs(error.retryAfterMs, await attemptLog.countRecentThrottles());
    await attemptLog.recordAttemptThrottled(attempt.id, message, delayMs);
    const firstAt = earlier[0]?.answeredAt ? new Date(earlier[0].answeredAt).getTime() : this.now();
    const waitedMs = this.now() - firstAt;
    if (waitedMs > run.timeoutMs) {
      run.log.warn({ attempt: attempt.attempt, waited_ms: waitedMs }, 'Veo kept answering 429; giving up');
      return requests.finish(run.lease, classify({ kind: 'veo_busy', waitedMs }), ['pending']);
    }
    run.log.info(
      { attempt: attempt.attempt, retry_after_ms: error.retryAfterMs ?? null, delay_ms: delayMs, waited_ms: waitedMs },
      'Veo answered 429 (quota exhausted); back in the submit queue',
    );
    return undefined;
  }

  /** The operation is paid for: retry the write rather than lose its name, and say so loudly if it cannot be saved. */
  private async storeOperationName(
    run: RequestRun,
    attempt: SubmitAttemptRow,
    operationName: string,
    model: string,
  ): Promise<VideoRequestRow> {
    let lastError: unknown;
    for (let i = 0; i < OPERATION_NAME_WRITE_TRIES; i++) {
      try {
        return await this.deps.attempts.recordOperationAccepted(run.lease, attempt.id, operationName, model);
      } catch (error) {
        if (error instanceof FencedWriteError) throw error;
        lastError = error;
        run.log.error(
          { err: error, operation_name: operationName, attempt_id: attempt.id },
          'could not store the operation name of a paid Veo operation; retrying',
        );
        await sleep(Math.min(200 * 2 ** i, 5_000));
      }
    }
    run.log.fatal(
      { err: lastError, operation_name: operationName, attempt_id: attempt.id },
      'operation name of a paid Veo operation NOT stored; recover it from this log line',
    );
    throw lastError;
  }

  /**
   * An attempt row without an operation name: the bot died (or the network failed) after asking Veo. Veo may have
   * accepted it, so look for its output before paying again; give up on it only after the grace period.
   */
  private async reconcileAmbiguous(
    run: RequestRun,
    row: VideoRequestRow,
    attempt: SubmitAttemptRow,
  ): Promise<VideoRequestRow | undefined> {
    const { attempts, storage, config, metrics } = this.deps;
    const { log } = run;
    metrics.ambiguousAttempts.inc();
    await attempts.incrementAmbiguous(run.lease);
    log.warn(
      { attempt: attempt.attempt, output_prefix: attempt.outputPrefix },
      'ambiguous submit attempt: checking its output folder',
    );
    const graceEnds = new Date(attempt.createdAt).getTime() + config.resume.ambiguousGraceMs;
    for (;;) {
      checkStop(run);
      const outputs = await storage.listOutputs(attempt.outputPrefix);
      if (outputs.length > 0) {
        log.info(
          { outputs: outputs.length },
          'ambiguous attempt had produced a video; delivering it without a new submit',
        );
        return completeWithVideo(
          this.deps,
          run,
          outputs.map((o) => o.gsUri),
          outputs[0]!.size,
          attempt.outputPrefix,
          ['pending', 'generating'],
        );
      }
      if (this.now() >= graceEnds) {
        await attempts.markAttemptAbandoned(attempt.id);
        log.warn({ attempt: attempt.attempt }, 'no output after the grace period; the attempt is abandoned');
        return undefined;
      }
      if (this.now() >= run.deadline) throw new StopProcessing('deferred');
      await sleep(Math.min(config.veo.pollIntervalMs, Math.max(0, graceEnds - this.now())), undefined, {
        signal: run.options.signal,
      }).catch(() => undefined);
    }
  }
}
