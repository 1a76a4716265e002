import type { Logger } from 'pino';
import type { AttemptRepository, RequestRepository } from '../../db/repositories';
import type { GenerationOutcome } from '../../domain/outcomes';
import { classify } from '../../domain/policy';
import type { ProgressObserver } from '../../domain/ports';
import type { Lease, VideoRequestRow } from '../../domain/request';
import type { Config } from '../../lib/config';
import type { CrashPoints } from '../../lib/crashPoints';
import type { Metrics } from '../../lib/metrics';
import type { AnnouncementService } from '../AnnouncementService';
import type { ImageInputService } from '../ImageInputService';
import type { LeaseManager } from '../LeaseManager';
import type { StorageService } from '../StorageService';
import type { SubmitQueue } from '../SubmitQueue';
import type { VeoService } from '../VeoService';

export interface ProcessOptions {
  /** true when this process is picking up a request it did not start (restart, takeover, admin run) */
  resumed: boolean;
  observer?: ProgressObserver;
  /** stop driving this request (mark timeout) after this many ms */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What the steps of a generation share. */
export interface GenerationDeps {
  requests: RequestRepository;
  attempts: AttemptRepository;
  leases: LeaseManager;
  veo: VeoService;
  storage: StorageService;
  announcements: AnnouncementService;
  /** input images still on Discord are fetched and stored before any submit (ImageIntake) */
  images: ImageInputService;
  /** the submit queue: a permit before every Veo submit */
  queue: SubmitQueue;
  config: Pick<Config, 'resume' | 'veo' | 'google'>;
  logger: Logger;
  metrics: Metrics;
  crashPoints: CrashPoints;
  now?: () => number;
}

/** One request being driven by this process: the lease its writes are made under and everything the steps need. */
export interface RequestRun {
  readonly lease: Lease;
  readonly options: ProcessOptions;
  /** when to stop polling and mark the request timed out (epoch ms); set again once Veo accepted the submit */
  deadline: number;
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** Ends the drive early with an outcome (shutdown, or an ambiguous submit still in its grace period). */
export class StopProcessing extends Error {
  public constructor(public readonly outcome: GenerationOutcome) {
    super(outcome);
  }
}

export function checkStop(run: RequestRun): void {
  if (run.options.signal?.aborted) throw new StopProcessing('interrupted');
}

/** Records the video Veo made (or, with none, the failure), from the `from` statuses. */
export async function completeWithVideo(
  deps: Pick<GenerationDeps, 'requests' | 'crashPoints'>,
  run: RequestRun,
  uris: string[],
  size: number | null,
  gcsPrefix: string | null,
  from: ('pending' | 'generating')[],
): Promise<VideoRequestRow> {
  if (uris.length === 0) return deps.requests.finish(run.lease, classify({ kind: 'no_video' }), from);
  const completed = await deps.requests.markCompleted(
    run.lease,
    { videoUrls: uris, gcsPrefix, videoSizeBytes: size },
    from,
  );
  deps.crashPoints.reach('after-completed');
  return completed;
}
