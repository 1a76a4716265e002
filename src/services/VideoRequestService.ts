import type { Logger } from 'pino';
import type { RequestRepository } from '../db/repositories';
import type { GenerationOutcome } from '../domain/outcomes';
import { QUOTA_RULE_TEXT, QUOTA_WINDOW_MS } from '../domain/policy';
import type { ProgressObserver } from '../domain/ports';
import type { LeasedRequest } from '../domain/request';
import type { Origin, VideoSpec } from '../domain/iteration';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import type { GenerationService } from './generation/GenerationService';

/** A `/video` request written to the database and leased by this instance, not yet started. */
export type RecordedRequest = LeasedRequest;

/** Where a `/video` came from. */
export interface InteractionContext {
  guildId: string;
  channelId: string;
  userId: string;
  applicationId: string;
  /** Secret: never log it. */
  interactionToken: string;
  /** when Discord stops accepting edits of the reply (src/discord/interactionToken) */
  interactionExpiresAt: Date;
  /** the idempotency key of the request: several instances may receive the same interaction */
  interactionId: string;
  attachmentSizeLimit: number | null;
}

export type Admission = { ok: true } | { ok: false; reason: string };

export interface VideoRequestServiceDeps {
  requests: RequestRepository;
  generation: GenerationService;
  config: Pick<Config, 'video' | 'resume' | 'google'>;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  /** tests only: `after-claim` is reached once the new row is written, leased by this instance */
  crashPoints?: CrashPoints;
  now?: () => number;
}

/**
 * The `/video` flow behind the command: admission (channel allow-list, quota), the request row written before any
 * paid call and leased by this instance, then the generation itself in the background.
 */
export class VideoRequestService {
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<GenerationOutcome>>();
  private readonly now: () => number;

  public constructor(private readonly deps: VideoRequestServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  public get accepting(): boolean {
    return !this.shutdown.signal.aborted;
  }

  public checkChannel(channelId: string): Admission {
    const allowed = this.deps.config.video.allowedChannelIds;
    if (allowed.length > 0 && !allowed.includes(channelId)) {
      // A long allow-list would overflow the reply (2,000 characters): name the first few.
      const shown = allowed.slice(0, 10).map((id) => `<#${id}>`);
      const more = allowed.length > shown.length ? ` and ${allowed.length - shown.length} more channels` : '';
      return { ok: false, reason: `Videos can only be made in ${shown.join(', ')}${more}.` };
    }
    return { ok: true };
  }

  /** A quick check before acknowledging; `record` enforces the quota again, atomically. */
  public async checkQuota(userId: string): Promise<Admission> {
    const used = await this.deps.requests.countQuotaUsage(userId, this.quotaWindowStart());
    return used >= this.deps.config.video.dailyQuota ? { ok: false, reason: this.quotaReason() } : { ok: true };
  }

  public quotaReason(): string {
    const quota = this.deps.config.video.dailyQuota;
    return quota === 0
      ? 'Video generation is turned off on this bot.'
      : `You have used your ${quota} videos for the last 24 hours. ${QUOTA_RULE_TEXT}; try again later.`;
  }

  private quotaWindowStart(): Date {
    return new Date(this.now() - QUOTA_WINDOW_MS);
  }

  /**
   * Writes the pending row, leased by this instance, if the user is within their quota (QuotaExceededError
   * otherwise). `/video` and every result button (Reroll, Extend, Edit prompt, Retry: `origin` says which press) come
   * through here, so every admission rule applies to all of them. `/video` calls this before acknowledging the
   * interaction, so a crash right after the acknowledgement can never leave a requester waiting on a request nobody
   * recorded. DuplicateInteractionError: this interaction, or this press of the button, already made a request.
   */
  public async record(input: VideoSpec, context: InteractionContext, origin?: Origin): Promise<RecordedRequest> {
    const { requests, config, metrics, instanceId } = this.deps;
    const claim = await requests.createRequest(
      {
        userId: context.userId,
        guildId: context.guildId,
        channelId: context.channelId,
        prompt: input.prompt,
        durationSeconds: input.durationSeconds,
        aspectRatio: input.aspectRatio,
        resolution: input.resolution,
        generateAudio: input.generateAudio,
        negativePrompt: input.negativePrompt,
        seed: input.seed,
        model: input.model ?? config.google.veoModel,
        attachmentSizeLimit: context.attachmentSizeLimit,
        applicationId: context.applicationId,
        interactionToken: context.interactionToken,
        interactionExpiresAt: context.interactionExpiresAt,
        interactionId: context.interactionId,
        imageUri: input.image?.uri ?? null,
        imageMimeType: input.image?.mimeType ?? null,
        lastFrameUri: input.lastFrame?.uri ?? null,
        lastFrameMimeType: input.lastFrame?.mimeType ?? null,
        sourceVideoUri: input.sourceVideo?.uri ?? null,
        sourceVideoSeconds: input.sourceVideo?.seconds ?? null,
        parentRequestId: origin?.parentId ?? null,
        origin: origin?.kind ?? null,
        originSeq: origin?.seq ?? null,
      },
      instanceId,
      config.resume.leaseDurationMs,
      { limit: config.video.dailyQuota, since: this.quotaWindowStart() },
    );
    metrics.requestsCreated.inc();
    // Writing the row leased to this instance is the live path's claim.
    this.deps.crashPoints?.reach('after-claim');
    return claim;
  }

  /** Remembers the message the requester watches (for /history); a failure here costs only that link. */
  public async noteReplyMessage(requestId: string, messageId: string): Promise<void> {
    await this.deps.requests.setReplyMessage(requestId, messageId).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, request_id: requestId }, 'could not record the reply message id');
    });
  }

  /** Generates a recorded request in the background. */
  public run(
    claim: RecordedRequest,
    observer?: ProgressObserver,
  ): { requestId: string; done: Promise<GenerationOutcome> } {
    const { generation, config } = this.deps;
    this.deps.crashPoints?.reach('before-run');
    const done = generation
      .process(claim, {
        resumed: false,
        observer,
        signal: this.shutdown.signal,
        timeoutMs: config.resume.requestTimeoutMs,
      })
      .catch((error) => {
        // The row stays claimable: the sweep of this or another instance picks it up once the lease runs out.
        this.deps.logger.error(
          { err: error, request_id: claim.row.id },
          'generation stopped on an error; the resume sweep will retry it',
        );
        return 'interrupted' as GenerationOutcome;
      });
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return { requestId: claim.row.id, done };
  }

  /** Stops taking requests and lets in-flight ones reach a safe point (their leases are released). */
  public async stop(timeoutMs = 10_000): Promise<void> {
    this.shutdown.abort();
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
