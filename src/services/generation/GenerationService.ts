import { FencedWriteError } from '../../domain/errors';
import { outcomeOf, type GenerationOutcome } from '../../domain/outcomes';
import { pendingImages, type LeasedRequest } from '../../domain/request';
import { ImageIntake } from './ImageIntake';
import { Poller } from './Poller';
import { StopProcessing, type GenerationDeps, type ProcessOptions, type RequestRun } from './RequestRun';
import { Submitter } from './Submitter';

export type { GenerationDeps, ProcessOptions } from './RequestRun';

/**
 * Drives one leased request to its end: fetch and store input images still on Discord (ImageIntake), submit
 * (Submitter), poll (Poller), record the result, announce it (AnnouncementService). `/video` and the resume both use it, so a resumed request follows exactly the path a live
 * one does (R3, R4, R6).
 */
export class GenerationService {
  private readonly now: () => number;
  private readonly intake: ImageIntake;
  private readonly submitter: Submitter;
  private readonly poller: Poller;

  public constructor(private readonly deps: GenerationDeps) {
    this.now = deps.now ?? Date.now;
    this.intake = new ImageIntake(deps);
    this.submitter = new Submitter(deps);
    this.poller = new Poller(deps);
  }

  public async process(initial: LeasedRequest, options: ProcessOptions): Promise<GenerationOutcome> {
    const endHold = this.deps.leases.hold(initial.lease);
    let outcome: GenerationOutcome | undefined;
    try {
      outcome = await this.drive(initial, options);
      return outcome;
    } finally {
      endHold();
      // An operation of this process may have ended: a permit may be free for a request waiting here.
      this.deps.queue.kick();
      // A worker that stopped on an error leaves the request to a sweep, whose result must not be overwritten by
      // this worker's progress ticker. One that lost the row (a Cancel, an admin expiry) tells its watcher how it is.
      const observer = options.observer;
      if (observer?.onEnd) {
        const taken =
          outcome === 'lost_lease' ? await this.deps.requests.getById(initial.row.id).catch(() => null) : null;
        await Promise.resolve(observer.onEnd(taken)).catch(() => undefined);
      }
    }
  }

  private async drive(initial: LeasedRequest, options: ProcessOptions): Promise<GenerationOutcome> {
    const { row: first, lease } = initial;
    const timeoutMs = options.timeoutMs ?? this.deps.config.resume.requestTimeoutMs;
    const run: RequestRun = {
      lease,
      options,
      timeoutMs,
      deadline: this.now() + timeoutMs,
      log: this.deps.logger.child({
        request_id: first.id,
        guild_id: first.guildId,
        channel_id: first.channelId,
        user_id: first.userId,
      }),
    };
    let row = first;
    try {
      if (row.status === 'pending' && pendingImages(row).length > 0) row = await this.intake.fetchImages(run, row);
      if (row.status === 'pending') row = await this.submitter.submit(run, row);
      if (row.status === 'generating') row = await this.poller.pollUntilFinished(run, row);
      if (row.announcement === 'due') {
        await options.observer?.onPhase?.('delivering', row);
        const told = await this.deps.announcements.announce(row, lease, { resumed: options.resumed }, run.log);
        // Finished before this call (only its announcement was due): not a completion, failure or timeout made now.
        const finishedBefore = first.status !== 'pending' && first.status !== 'generating';
        return finishedBefore && told !== 'announce_failed' ? 'announced' : told;
      }
      return outcomeOf(row);
    } catch (error) {
      if (error instanceof StopProcessing) {
        if (error.outcome === 'interrupted' || error.outcome === 'deferred') await this.deps.leases.release(lease);
        return error.outcome;
      }
      if (error instanceof FencedWriteError) {
        this.deps.metrics.fencedWritesRefused.inc();
        run.log.warn({ err: error }, 'another instance holds this request now; stopping here');
        return 'lost_lease';
      }
      throw error;
    }
  }

  /**
   * A request marked `timeout` while its operation was still running (timed out, or expired by an admin after its
   * submit): that operation was paid for, so if it finished after all, deliver the video late rather than drop it.
   * The operation is the row's, or the one an attempt accepted after the expiry; with neither (a submit cut off before
   * its answer), the attempt's output folder tells. Anything else leaves the row as it is.
   */
  public async deliverIfFinishedLate(claim: LeasedRequest): Promise<GenerationOutcome | 'still_unfinished'> {
    const { row, lease } = claim;
    const log = this.deps.logger.child({ request_id: row.id, guild_id: row.guildId });
    const endHold = this.deps.leases.hold(lease);
    try {
      const found = await this.findLateVideo(row);
      if (!found) return 'still_unfinished';
      const completed = await this.deps.requests.lateComplete(lease, {
        videoUrls: found.uris,
        gcsPrefix: found.gcsPrefix,
        videoSizeBytes: found.size,
      });
      log.info(
        { operation_name: found.operationName, expired_by_admin: row.expiredBy !== null },
        'a timed-out operation finished after all; delivering the video late',
      );
      return await this.deps.announcements.announce(completed, lease, { resumed: true }, log);
    } catch (error) {
      if (error instanceof FencedWriteError) return 'lost_lease';
      log.warn({ err: error }, 'could not check a timed-out operation');
      return 'still_unfinished';
    } finally {
      endHold();
      await this.deps.leases.release(lease);
    }
  }

  private async findLateVideo(
    row: LeasedRequest['row'],
  ): Promise<{ uris: string[]; size: number | null; gcsPrefix: string | null; operationName: string | null } | null> {
    let operationName = row.operationName;
    let gcsPrefix = row.gcsPrefix;
    if (!operationName) {
      const attempts = await this.deps.attempts.getAttempts(row.id);
      const accepted = attempts.filter((a) => a.state === 'accepted' && a.operationName).at(-1);
      if (accepted) {
        operationName = accepted.operationName;
        gcsPrefix = accepted.outputPrefix;
      } else {
        const cutOff = attempts.filter((a) => a.state === 'submitting').at(-1);
        if (!cutOff) return null;
        const outputs = await this.deps.storage.listOutputs(cutOff.outputPrefix);
        if (outputs.length === 0) return null;
        return {
          uris: outputs.map((o) => o.gsUri),
          size: outputs[0]!.size,
          gcsPrefix: cutOff.outputPrefix,
          operationName: null,
        };
      }
    }
    const result = await this.deps.veo.pollOperation(operationName!);
    this.deps.metrics.veoPolls.inc({ result: result.state });
    if (result.state !== 'done' || result.videos.length === 0) return null;
    const uris = result.videos.map((v) => v.uri);
    return { uris, size: await this.deps.storage.getSize(uris[0]!), gcsPrefix, operationName };
  }
}
