import { setTimeout as sleep } from 'node:timers/promises';
import { classify } from '../../domain/policy';
import type { VideoRequestRow } from '../../domain/request';
import type { PollResult } from '../VeoService';
import { checkStop, completeWithVideo, type GenerationDeps, type RequestRun } from './RequestRun';

/** Polls a generating request's stored operation (R4) until it is done, failed, filtered, gone or out of time. */
export class Poller {
  private readonly now: () => number;

  public constructor(private readonly deps: GenerationDeps) {
    this.now = deps.now ?? Date.now;
  }

  public async pollUntilFinished(run: RequestRun, row: VideoRequestRow): Promise<VideoRequestRow> {
    const { veo, requests, config, metrics, crashPoints } = this.deps;
    const { lease, log } = run;
    const operationName = row.operationName;
    if (!operationName) return requests.finish(lease, classify({ kind: 'no_operation' }), ['generating']);
    await run.options.observer?.onPhase?.('generating', row);
    for (;;) {
      checkStop(run);
      let result: PollResult;
      try {
        result = await veo.pollOperation(operationName);
        metrics.veoPolls.inc({ result: result.state });
      } catch (error) {
        // Counted once, as an error (not also as "running").
        metrics.veoPolls.inc({ result: 'error' });
        log.warn({ err: error, operation_name: operationName }, 'polling Veo failed; will try again');
        result = { state: 'running' };
      }
      crashPoints.reach('while-polling');

      switch (result.state) {
        case 'done': {
          await run.options.observer?.onPhase?.('downloading', row);
          const uris = result.videos.map((v) => v.uri);
          const size = uris[0] ? await this.deps.storage.getSize(uris[0]) : null;
          crashPoints.reach('after-output-ready');
          return completeWithVideo(this.deps, run, uris, size, row.gcsPrefix, ['generating']);
        }
        case 'failed':
          return requests.finish(lease, classify({ kind: 'veo_failed', code: result.code, message: result.message }), [
            'generating',
          ]);
        case 'filtered':
          return requests.finish(lease, classify({ kind: 'filtered', reasons: result.reasons }), ['generating']);
        case 'not_found':
          return requests.finish(lease, classify({ kind: 'operation_gone' }), ['generating']);
        case 'running':
          if (this.now() >= run.deadline) {
            return requests.finish(lease, classify({ kind: 'deadline', limitMs: run.timeoutMs }), ['generating']);
          }
          await sleep(config.veo.pollIntervalMs, undefined, { signal: run.options.signal }).catch(() => undefined);
      }
    }
  }
}
