import type { Logger } from 'pino';
import type { BudgetRepository, RequestRepository } from '../db/repositories';
import { BudgetExceededError, QuotaExceededError, RequestRefusedError } from '../domain/errors';
import type { GenerationOutcome } from '../domain/outcomes';
import { QUOTA_WINDOW_MS, reservedSeconds } from '../domain/policy';
import { applyGuildOptions, checkPlace } from '../domain/spend';
import type { ProgressObserver } from '../domain/ports';
import type { LeasedRequest } from '../domain/request';
import type { Origin, VideoSpec } from '../domain/iteration';
import type { ValidVideoInput, VideoCommandInput } from '../domain/videoInput';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import type { GenerationService } from './generation/GenerationService';
import { operatorCaps } from './GuildSettingsService';

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

/** Why a `/video` was refused before anything was written or paid (src/discord/spendViews words it). */
export type Refusal =
  | { cap: 'allowed_guilds' }
  | { cap: 'channel'; allowedChannelIds: string[] }
  | { cap: 'option'; problems: string[] }
  | { cap: 'member_quota'; scope: 'bot' | 'server'; used: number; limit: number; freesAt: Date | null }
  | { cap: 'guild_budget' | 'global_budget'; used: number; limit: number; need: number; freesAt: Date | null };

export type Admission = { ok: true; value: ValidVideoInput } | { ok: false; refusal: Refusal };

export interface VideoRequestServiceDeps {
  requests: RequestRepository;
  budgets: BudgetRepository;
  generation: GenerationService;
  config: Pick<Config, 'video' | 'resume' | 'google' | 'spend'>;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  /** tests only: `after-claim` is reached once the new row is written, leased by this instance */
  crashPoints?: CrashPoints;
  now?: () => number;
}

/**
 * The `/video` flow behind the command: admission (the servers and channels allowed, the server's options, the member
 * quota and the video-seconds budgets), the request row written before any paid call and leased by this instance
 * (the budgets checked again there, atomically), then the generation itself in the background.
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

  /** Refuses (and counts) a request. */
  private refuse(refusal: Refusal): Admission {
    this.deps.metrics.requestsRefused.inc({ cap: refusal.cap });
    return { ok: false, refusal };
  }

  /**
   * Everything that can refuse a valid `/video` before it is recorded, cheapest first: ALLOWED_GUILD_IDS, the server's
   * channels and options, then the quota and budgets as they stand (a quick read; `record` checks them again under
   * their locks). Returns the input with the server's option limits applied.
   */
  public async admit(
    where: { guildId: string; channelId: string; userId: string },
    raw: Pick<VideoCommandInput, 'length' | 'hd' | 'audio'>,
    valid: ValidVideoInput,
  ): Promise<Admission> {
    const caps = operatorCaps(this.deps.config);
    // The operator's server list needs no database read.
    if (caps.allowedGuildIds.length > 0 && !caps.allowedGuildIds.includes(where.guildId))
      return this.refuse({ cap: 'allowed_guilds' });
    const { budgets } = this.deps;
    const limits = await budgets.limitsFor(where.guildId, caps);
    // Where first, then what: the options, with the server's defaults applied to those left unset.
    const place = checkPlace(caps, limits, where);
    if (place) return this.refuse(place);
    const options = applyGuildOptions(raw, valid, limits);
    if (!options.ok) return this.refuse({ cap: 'option', problems: options.problems });
    const since = this.quotaWindowStart();
    const need = reservedSeconds(options.value.durationSeconds);
    if (caps.globalDailySeconds > 0) {
      const use = await budgets.globalUse(since, caps.globalDailySeconds, need);
      if (use.used + need > caps.globalDailySeconds)
        return this.refuse({ cap: 'global_budget', ...use, limit: caps.globalDailySeconds, need });
    }
    if (limits.dailyVideoSeconds !== null) {
      const use = await budgets.guildUse(where.guildId, since, limits.dailyVideoSeconds, need);
      if (use.used + need > limits.dailyVideoSeconds)
        return this.refuse({ cap: 'guild_budget', ...use, limit: limits.dailyVideoSeconds, need });
    }
    for (const quota of await budgets.memberQuotaUses(where.userId, where.guildId, since, caps, limits)) {
      if (quota.used >= quota.limit) return this.refuse({ cap: 'member_quota', ...quota });
    }
    return { ok: true, value: options.value };
  }

  /** The refusal a spend error of `record` stands for (the budgets moved between `admit` and the insert). */
  public refusalOf(error: unknown): Refusal | null {
    let refusal: Refusal | null = null;
    if (error instanceof RequestRefusedError) refusal = error.refusal;
    else if (error instanceof QuotaExceededError)
      refusal = {
        cap: 'member_quota',
        scope: error.scope,
        used: error.used,
        limit: error.limit,
        freesAt: error.freesAt,
      };
    else if (error instanceof BudgetExceededError)
      refusal = {
        cap: error.budget === 'guild' ? 'guild_budget' : 'global_budget',
        used: error.used,
        limit: error.limit,
        need: error.need,
        freesAt: error.freesAt,
      };
    if (refusal) this.deps.metrics.requestsRefused.inc({ cap: refusal.cap });
    return refusal;
  }

  private quotaWindowStart(): Date {
    return new Date(this.now() - QUOTA_WINDOW_MS);
  }

  /**
   * Writes the pending row, leased by this instance, if the server, channel and options are allowed and it fits the
   * member quotas and the budgets, all checked under their locks in the insert's transaction (RequestRefusedError,
   * QuotaExceededError or BudgetExceededError otherwise: `refusalOf` says which). `/video` and every result button
   * (Reroll, Extend, Edit prompt, Retry: `origin` says which press) come through here, so every admission rule applies
   * to all of them. `/video` calls this before acknowledging the interaction (with images, before fetching them: the
   * worker does, `input.imageSource`), so a crash right after the acknowledgement can never leave a requester waiting on
   * a request nobody recorded. DuplicateInteractionError: this
   * interaction, or this press of the button, already made a request.
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
        imageSource: input.imageSource ?? null,
        lastFrameSource: input.lastFrameSource ?? null,
        sourceVideoUri: input.sourceVideo?.uri ?? null,
        sourceVideoSeconds: input.sourceVideo?.seconds ?? null,
        parentRequestId: origin?.parentId ?? null,
        origin: origin?.kind ?? null,
        originSeq: origin?.seq ?? null,
      },
      instanceId,
      config.resume.leaseDurationMs,
      { caps: operatorCaps(config), since: this.quotaWindowStart() },
    );
    metrics.requestsCreated.inc();
    metrics.reservedVideoSeconds.inc(reservedSeconds(claim.row.durationSeconds));
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
