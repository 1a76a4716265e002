import {
  ApiError,
  GenerateVideosOperation,
  GoogleGenAI,
  type GenerateVideosConfig,
  type GenerateVideosSource,
  type HttpOptions,
} from '@google/genai';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import { SAMPLES_PER_REQUEST } from '../domain/policy';
import { isImageMimeType } from '../domain/images';
import { EXTENSION_SECONDS } from '../domain/iteration';
import { isSeed, VEO_ASPECT_RATIOS, VEO_DURATIONS, VEO_RESOLUTIONS } from '../domain/videoInput';
import { classifySubmitError, describe, googleMessage, RequestProbe, VeoError } from './veoErrors';

export { VeoError } from './veoErrors';

export interface VideoGenerationParams {
  prompt: string;
  model: string;
  /** 4, 6 or 8; EXTENSION_SECONDS (7) with `video` */
  durationSeconds: number;
  aspectRatio: '16:9' | '9:16';
  resolution: '720p' | '1080p';
  generateAudio: boolean;
  negativePrompt?: string | null;
  seed?: number | null;
  /** the first frame, in the bucket (`source.image`) */
  image?: { gcsUri: string; mimeType: string } | null;
  /** the last frame (`config.lastFrame`); only with `image` */
  lastFrame?: { gcsUri: string; mimeType: string } | null;
  /** an earlier Veo output to extend (`source.video`); not with `image` */
  video?: { gcsUri: string } | null;
}

export type PollResult =
  | { state: 'running' }
  | { state: 'done'; videos: { uri: string; mimeType?: string }[] }
  | { state: 'failed'; code?: number; message: string }
  | { state: 'filtered'; reasons: string[] }
  | { state: 'not_found'; message: string };

export interface RetryPolicy {
  /** Total tries, including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DURATIONS = new Set<number>(VEO_DURATIONS);
const ASPECT_RATIOS = new Set<string>(VEO_ASPECT_RATIOS);
const RESOLUTIONS = new Set<string>(VEO_RESOLUTIONS);
const MODEL_ID = /^[a-z0-9][a-z0-9.-]{0,127}$/;
const GCS_URI = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/(?:[^\s]*\/)?$/;
const GCS_OBJECT = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/[^\s]+[^\s/]$/;
const OPERATION_NAME =
  /^projects\/[^/\s]+\/locations\/[^/\s]+\/publishers\/google\/models\/[^/\s:]+\/operations\/[^/\s]+$/;

/**
 * Veo on Vertex AI through @google/genai. Every accepted submit is billed, so `startGeneration` retries only when
 * Google's answer proves no operation was created, and never lets the SDK retry on its own.
 */
export class VeoService {
  private readonly client: GoogleGenAI;
  private readonly logger: Logger;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  public constructor(opts: {
    client: GoogleGenAI;
    logger: Logger;
    retry?: RetryPolicy;
    /** Per-HTTP-request deadline (default 60 s). A submit that hits it is ambiguous. */
    requestTimeoutMs?: number;
    /** For tests: how to wait between retries. */
    sleep?: (ms: number) => Promise<void>;
  }) {
    this.client = opts.client;
    this.logger = opts.logger;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    if (!Number.isInteger(this.retry.attempts) || this.retry.attempts < 1)
      throw new Error('retry.attempts must be a whole number ≥ 1');
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Vertex mode, API v1; credentials from GOOGLE_APPLICATION_CREDENTIALS (or other ADC); endpoint override for tests. */
  public static create(google: Config['google'], logger: Logger): VeoService {
    const client = new GoogleGenAI({
      vertexai: true,
      project: google.project,
      location: google.location,
      apiVersion: 'v1',
      ...(google.vertexApiEndpoint ? { httpOptions: { baseUrl: google.vertexApiEndpoint } } : {}),
      googleAuthOptions: {
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        ...(google.credentialsFile ? { keyFilename: google.credentialsFile } : {}),
      },
    });
    logger.info(
      {
        project: google.project,
        location: google.location,
        endpoint: google.vertexApiEndpoint ?? 'default',
        credentials: google.credentialsFile ? 'key file' : 'ADC',
      },
      'Veo client ready',
    );
    return new VeoService({ client, logger });
  }

  /**
   * Submits one generation writing into `outputUri` (a gs:// folder); returns the operation name to persist. A 429
   * throws VeoError('throttled') at once (the submit queue decides when to try again); 5xx and connection failures that
   * prove nothing was created are retried here.
   */
  public async startGeneration(params: VideoGenerationParams, outputUri: string): Promise<string> {
    validateParams(params);
    if (!GCS_URI.test(outputUri))
      throw new VeoError('rejected', `output folder ${JSON.stringify(outputUri)} is not a gs://bucket/folder/ URI`);
    const config: GenerateVideosConfig = {
      numberOfVideos: SAMPLES_PER_REQUEST,
      outputGcsUri: outputUri,
      durationSeconds: params.durationSeconds,
      aspectRatio: params.aspectRatio,
      resolution: params.resolution,
      generateAudio: params.generateAudio,
      personGeneration: 'allow_adult',
    };
    if (params.negativePrompt) config.negativePrompt = params.negativePrompt;
    if (params.seed !== null && params.seed !== undefined) config.seed = params.seed;
    // Field names of @google/genai 2.32 (GenerateVideosSource.image / .video, GenerateVideosConfig.lastFrame), sent
    // by its Vertex converters as instances[0].image / .video / .lastFrame.
    if (params.lastFrame) config.lastFrame = { gcsUri: params.lastFrame.gcsUri, mimeType: params.lastFrame.mimeType };
    const source: GenerateVideosSource = { prompt: params.prompt };
    if (params.image) source.image = { gcsUri: params.image.gcsUri, mimeType: params.image.mimeType };
    if (params.video) source.video = { uri: params.video.gcsUri, mimeType: 'video/mp4' };
    const log = this.logger.child({ model: params.model, output_uri: outputUri });

    for (let attempt = 1; ; attempt++) {
      const probe = new RequestProbe();
      try {
        const op = await this.client.models.generateVideos({
          model: params.model,
          source,
          config: { ...config, httpOptions: this.httpOptions(probe) },
        });
        if (typeof op.name !== 'string' || !OPERATION_NAME.test(op.name)) {
          // Google answered 2xx, so an operation probably exists, but we cannot name it.
          throw new VeoError(
            'ambiguous',
            `Veo accepted the request but returned no usable operation name (${JSON.stringify(op.name ?? null)})`,
          );
        }
        log.info({ operation_name: op.name, attempt }, 'Veo accepted the generation');
        return op.name;
      } catch (error) {
        if (error instanceof VeoError) throw error;
        const verdict = classifySubmitError(error, probe, params.model);
        if (verdict.kind !== 'retry') {
          log.warn(
            { err: error, attempt, status: verdict.error.status, kind: verdict.error.kind },
            'Veo submit did not succeed',
          );
          throw verdict.error;
        }
        if (attempt >= this.retry.attempts) {
          log.warn({ err: error, attempt, status: verdict.status }, 'Veo submit retries exhausted');
          throw new VeoError('transient', `${verdict.message} (gave up after ${attempt} attempts)`, verdict.status, {
            cause: error,
          });
        }
        const delay = this.backoff(attempt);
        log.info({ err: error, attempt, status: verdict.status, delay_ms: delay }, 'Veo submit not accepted; retrying');
        await this.sleep(delay);
      }
    }
  }

  /** One look at an operation by its stored name. Throws VeoError('transient') only when retries are exhausted. */
  public async pollOperation(operationName: string): Promise<PollResult> {
    if (typeof operationName !== 'string' || !OPERATION_NAME.test(operationName)) {
      return { state: 'not_found', message: `malformed Veo operation name ${JSON.stringify(operationName)}` };
    }
    const operation = Object.assign(new GenerateVideosOperation(), { name: operationName });
    for (let attempt = 1; ; attempt++) {
      const probe = new RequestProbe();
      let polled: GenerateVideosOperation;
      try {
        polled = await this.client.operations.getVideosOperation({
          operation,
          config: { httpOptions: this.httpOptions(probe) },
        });
      } catch (error) {
        const status = error instanceof ApiError ? error.status : undefined;
        if (status === 404 || status === 400) {
          return {
            state: 'not_found',
            message: `Veo has no operation ${operationName} (${status}: ${googleMessage(error)})`,
          };
        }
        if (status !== undefined && status !== 429 && status !== 408 && status < 500) {
          throw new VeoError(
            'rejected',
            `Veo refused to report on the operation (${status}): ${googleMessage(error)}`,
            status,
            { cause: error },
          );
        }
        if (attempt >= this.retry.attempts) {
          throw new VeoError(
            'transient',
            `could not reach Veo to check the operation: ${describe(probe.fetchError ?? error)} (gave up after ${attempt} attempts)`,
            status,
            {
              cause: error,
            },
          );
        }
        const delay = this.backoff(attempt);
        this.logger.debug(
          { err: error, operation_name: operationName, attempt, delay_ms: delay },
          'Veo poll failed; retrying',
        );
        await this.sleep(delay);
        continue;
      }
      return mapOperation(polled);
    }
  }

  /** No SDK retries (we decide), a per-request deadline, and a fetch that records whether the request went out. */
  private httpOptions(probe: RequestProbe): HttpOptions {
    return {
      timeout: this.requestTimeoutMs,
      retryOptions: { attempts: 1, httpStatusCodes: [] },
      fetch: probe.fetch,
    };
  }

  /** Exponential backoff with jitter in [50 %, 100 %] of the capped delay. */
  private backoff(attempt: number): number {
    const capped = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(capped / 2 + Math.random() * (capped / 2));
  }
}

function mapOperation(op: GenerateVideosOperation): PollResult {
  if (!op.done) return { state: 'running' };
  if (op.error) {
    const code = typeof op.error.code === 'number' ? op.error.code : undefined;
    const message =
      typeof op.error.message === 'string' && op.error.message
        ? op.error.message
        : 'Veo reported a failure without a message';
    return code === undefined ? { state: 'failed', message } : { state: 'failed', code, message };
  }
  const response = op.response;
  const videos = (response?.generatedVideos ?? [])
    .map((g) => g.video)
    .filter(
      (v): v is NonNullable<typeof v> & { uri: string } => typeof v?.uri === 'string' && v.uri.startsWith('gs://'),
    )
    .map((v) => (v.mimeType ? { uri: v.uri, mimeType: v.mimeType } : { uri: v.uri }));
  if ((response?.raiMediaFilteredCount ?? 0) > 0 || videos.length === 0) {
    if ((response?.generatedVideos?.length ?? 0) > 0 && (response?.raiMediaFilteredCount ?? 0) === 0) {
      return { state: 'failed', message: 'Veo returned the video inline instead of writing it to Cloud Storage' };
    }
    return { state: 'filtered', reasons: (response?.raiMediaFilteredReasons ?? []).map(String) };
  }
  return { state: 'done', videos };
}

function validateParams(p: VideoGenerationParams): void {
  const problems: string[] = [];
  if (typeof p?.prompt !== 'string' || p.prompt.trim() === '') problems.push('prompt is empty');
  if (typeof p?.model !== 'string' || !MODEL_ID.test(p.model))
    problems.push(`model ${JSON.stringify(p?.model)} is not a model id`);
  if (p?.video) {
    if (p.durationSeconds !== EXTENSION_SECONDS)
      problems.push(`an extension adds ${EXTENSION_SECONDS} seconds (got ${JSON.stringify(p.durationSeconds)})`);
    if (p.resolution !== '720p') problems.push('an extension is 720p');
    if (p.image) problems.push('an extension takes no image');
    if (typeof p.video.gcsUri !== 'string' || !GCS_OBJECT.test(p.video.gcsUri))
      problems.push(`video ${JSON.stringify(p.video.gcsUri)} is not a gs://bucket/object URI`);
  } else if (!DURATIONS.has(p?.durationSeconds))
    problems.push(`durationSeconds must be 4, 6 or 8 (got ${JSON.stringify(p?.durationSeconds)})`);
  for (const [name, image] of [
    ['image', p?.image],
    ['lastFrame', p?.lastFrame],
  ] as const) {
    if (!image) continue;
    if (typeof image.gcsUri !== 'string' || !GCS_OBJECT.test(image.gcsUri))
      problems.push(`${name} ${JSON.stringify(image.gcsUri)} is not a gs://bucket/object URI`);
    if (!isImageMimeType(image.mimeType)) problems.push(`${name} must be PNG, JPEG or WebP`);
  }
  if (p?.lastFrame && !p.image) problems.push('a last frame needs a first frame');
  if (!ASPECT_RATIOS.has(p?.aspectRatio))
    problems.push(`aspectRatio must be 16:9 or 9:16 (got ${JSON.stringify(p?.aspectRatio)})`);
  if (!RESOLUTIONS.has(p?.resolution))
    problems.push(`resolution must be 720p or 1080p (got ${JSON.stringify(p?.resolution)})`);
  if (typeof p?.generateAudio !== 'boolean') problems.push('generateAudio must be true or false');
  if (p?.negativePrompt !== undefined && p.negativePrompt !== null && typeof p.negativePrompt !== 'string')
    problems.push('negativePrompt must be text');
  if (p?.seed !== undefined && p.seed !== null && !isSeed(p.seed)) {
    problems.push('seed must be a whole number from 0 to 4294967295');
  }
  if (problems.length > 0) throw new VeoError('rejected', `invalid video request: ${problems.join('; ')}`);
}
