import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import type { GenerationOutcome, GenerationService, ProgressObserver } from './GenerationService';
import type { Lease, RequestTrackingService, VideoRequestRow } from './RequestTrackingService';

/** A `/video` request written to the database and leased by this instance, not yet started. */
export type RecordedRequest = { row: VideoRequestRow; lease: Lease };

export const PROMPT_MAX_LENGTH = 2000;
export const NEGATIVE_PROMPT_MAX_LENGTH = 1000;
export const SEED_MAX = 4_294_967_295;
// Unicode's default-ignorable code points: zero-width and bidi controls, but also soft hyphens, Hangul fillers,
// variation selectors and tag characters, which render as nothing and would let an invisible prompt through.
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

export interface VideoCommandInput {
  prompt: string | null;
  length: number | null;
  ratio: string | null;
  hd: boolean | null;
  audio: boolean | null;
  negativePrompt: string | null;
  seed: number | null;
}

export interface ValidVideoInput {
  prompt: string;
  durationSeconds: 4 | 6 | 8;
  aspectRatio: '16:9' | '9:16';
  resolution: '720p' | '1080p';
  generateAudio: boolean;
  negativePrompt: string | null;
  seed: number | null;
}

export interface InteractionContext {
  guildId: string;
  channelId: string;
  userId: string;
  applicationId: string;
  interactionToken: string;
  interactionCreatedAt: Date;
  /** the idempotency key of the request: several instances may receive the same interaction */
  interactionId: string;
  attachmentSizeLimit: number | null;
}

/** Removes invisible and direction-control characters and folds whitespace; user text is otherwise kept as typed. */
export function cleanText(text: string): string {
  return text.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}

/** Checks every `/video` option; returns either the clean input or every problem in plain words. */
export function validateVideoInput(
  input: VideoCommandInput,
): { ok: true; value: ValidVideoInput } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const prompt = cleanText(input.prompt ?? '');
  if (!prompt)
    problems.push(
      'The prompt is empty. Describe the video you want, for example "a red fox running through snow at dawn".',
    );
  else if (prompt.length < 3) problems.push('The prompt is too short: use at least 3 characters.');
  else if (prompt.length > PROMPT_MAX_LENGTH)
    problems.push(`The prompt is ${prompt.length} characters long; the limit is ${PROMPT_MAX_LENGTH}.`);

  const length = input.length ?? 8;
  if (![4, 6, 8].includes(length)) problems.push('Length must be 4, 6 or 8 seconds.');

  const ratio = input.ratio ?? '16:9';
  if (ratio !== '16:9' && ratio !== '9:16') problems.push('Ratio must be 16:9 (landscape) or 9:16 (portrait).');

  const negative = input.negativePrompt === null ? null : cleanText(input.negativePrompt) || null;
  if (negative && negative.length > NEGATIVE_PROMPT_MAX_LENGTH) {
    problems.push(
      `The negative prompt is ${negative.length} characters long; the limit is ${NEGATIVE_PROMPT_MAX_LENGTH}.`,
    );
  }

  const seed = input.seed;
  if (seed !== null && (!Number.isSafeInteger(seed) || seed < 0 || seed > SEED_MAX)) {
    problems.push(`The seed must be a whole number from 0 to ${SEED_MAX}.`);
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      prompt,
      durationSeconds: length as 4 | 6 | 8,
      aspectRatio: ratio as '16:9' | '9:16',
      resolution: input.hd ? '1080p' : '720p',
      generateAudio: input.audio ?? true,
      negativePrompt: negative,
      seed,
    },
  };
}

export type Admission = { ok: true } | { ok: false; reason: string };

export interface VideoRequestServiceDeps {
  tracking: RequestTrackingService;
  generation: GenerationService;
  config: Pick<Config, 'video' | 'resume' | 'google'>;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  /** tests only: `after-claim` is reached once the new row is written, leased by this instance */
  crashPoints?: CrashPoints;
  now?: () => number;
}

/** Interaction tokens are valid for 15 minutes after the interaction was created. */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60_000;

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
      return { ok: false, reason: `Videos can only be made in ${allowed.map((id) => `<#${id}>`).join(', ')}.` };
    }
    return { ok: true };
  }

  /** A quick check before acknowledging; `record` enforces the quota again, atomically. */
  public async checkQuota(userId: string): Promise<Admission> {
    const used = await this.deps.tracking.countQuotaUsage(userId, this.quotaWindowStart());
    return used >= this.deps.config.video.dailyQuota ? { ok: false, reason: this.quotaReason() } : { ok: true };
  }

  public quotaReason(): string {
    const quota = this.deps.config.video.dailyQuota;
    return quota === 0
      ? 'Video generation is turned off on this bot.'
      : `You have used your ${quota} videos for the last 24 hours. Failures caused by the bot or Google do not count; try again later.`;
  }

  private quotaWindowStart(): Date {
    return new Date(this.now() - 24 * 3600_000);
  }

  /**
   * Writes the pending row, leased by this instance, if the user is within their quota (QuotaExceededError otherwise). `/video` calls this before acknowledging the interaction, so
   * a crash right after the acknowledgement can never leave a requester waiting on a request nobody recorded.
   */
  public async record(input: ValidVideoInput, context: InteractionContext): Promise<RecordedRequest> {
    const { tracking, config, metrics, instanceId } = this.deps;
    const claim = await tracking.createRequest(
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
        model: config.google.veoModel,
        attachmentSizeLimit: context.attachmentSizeLimit,
        applicationId: context.applicationId,
        interactionToken: context.interactionToken,
        interactionExpiresAt: new Date(context.interactionCreatedAt.getTime() + INTERACTION_TOKEN_LIFETIME_MS),
        interactionId: context.interactionId,
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

  /** Generates a recorded request in the background. */
  public run(
    claim: RecordedRequest,
    observer?: ProgressObserver,
  ): { requestId: string; done: Promise<GenerationOutcome> } {
    const { generation, config } = this.deps;
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
          { err: error, requestId: claim.row.id },
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
