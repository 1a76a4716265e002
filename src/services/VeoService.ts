import {
  ApiError,
  GenerateVideosOperation,
  GoogleGenAI,
  type GenerateVideosConfig,
  type HttpOptions,
} from '@google/genai';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';

export interface VideoGenerationParams {
  prompt: string;
  model: string;
  durationSeconds: 4 | 6 | 8;
  aspectRatio: '16:9' | '9:16';
  resolution: '720p' | '1080p';
  generateAudio: boolean;
  negativePrompt?: string | null;
  seed?: number | null;
}

export type PollResult =
  | { state: 'running' }
  | { state: 'done'; videos: { uri: string; mimeType?: string }[] }
  | { state: 'failed'; code?: number; message: string }
  | { state: 'filtered'; reasons: string[] }
  | { state: 'not_found'; message: string };

/**
 * - `rejected`: Google answered with a final refusal (400/401/403/404 …), or the parameters are invalid. Nothing was
 *   created; nothing is billed. `status` is the HTTP status when there was one.
 * - `ambiguous`: the submit may have reached Google and we never heard the answer (dropped socket, timeout, reset,
 *   unreadable success). An operation may exist and be billed: reconcile through the output folder, do not resubmit.
 * - `transient`: retries exhausted on answers that prove nothing was created (429/5xx, connection refused), or a
 *   poll kept failing. Safe to try again later.
 */
export class VeoError extends Error {
  public override readonly name = 'VeoError';
  public constructor(
    public readonly kind: 'rejected' | 'ambiguous' | 'transient',
    message: string,
    public readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RetryPolicy {
  /** Total tries, including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000 };
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const DURATIONS = new Set([4, 6, 8]);
const ASPECT_RATIOS = new Set(['16:9', '9:16']);
const RESOLUTIONS = new Set(['720p', '1080p']);
const MODEL_ID = /^[a-z0-9][a-z0-9.-]{0,127}$/;
const GCS_URI = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/(?:[^\s]*\/)?$/;
const OPERATION_NAME =
  /^projects\/[^/\s]+\/locations\/[^/\s]+\/publishers\/google\/models\/[^/\s:]+\/operations\/[^/\s]+$/;
/** Errors raised while connecting: the request never left this machine, so nothing can have been created. */
const CONNECT_PHASE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

type FetchFn = typeof fetch;

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

  /** Submits one generation writing into `outputUri` (a gs:// folder); returns the operation name to persist. */
  public async startGeneration(params: VideoGenerationParams, outputUri: string): Promise<string> {
    validateParams(params);
    if (!GCS_URI.test(outputUri))
      throw new VeoError('rejected', `output folder ${JSON.stringify(outputUri)} is not a gs://bucket/folder/ URI`);
    const config: GenerateVideosConfig = {
      numberOfVideos: 1,
      outputGcsUri: outputUri,
      durationSeconds: params.durationSeconds,
      aspectRatio: params.aspectRatio,
      resolution: params.resolution,
      generateAudio: params.generateAudio,
      personGeneration: 'allow_adult',
    };
    if (params.negativePrompt) config.negativePrompt = params.negativePrompt;
    if (params.seed !== null && params.seed !== undefined) config.seed = params.seed;
    const log = this.logger.child({ model: params.model, outputUri });

    for (let attempt = 1; ; attempt++) {
      const probe = new RequestProbe();
      try {
        const op = await this.client.models.generateVideos({
          model: params.model,
          source: { prompt: params.prompt },
          config: { ...config, httpOptions: this.httpOptions(probe) },
        });
        if (typeof op.name !== 'string' || !OPERATION_NAME.test(op.name)) {
          // Google answered 2xx, so an operation probably exists, but we cannot name it.
          throw new VeoError(
            'ambiguous',
            `Veo accepted the request but returned no usable operation name (${JSON.stringify(op.name ?? null)})`,
          );
        }
        log.info({ operationName: op.name, attempt }, 'Veo accepted the generation');
        return op.name;
      } catch (error) {
        if (error instanceof VeoError) throw error;
        const verdict = classifySubmitError(error, probe, params.model);
        if (verdict.kind !== 'retry') {
          log.warn(
            { err: errorSummary(error), attempt, status: verdict.error.status, kind: verdict.error.kind },
            'Veo submit did not succeed',
          );
          throw verdict.error;
        }
        if (attempt >= this.retry.attempts) {
          log.warn({ err: errorSummary(error), attempt, status: verdict.status }, 'Veo submit retries exhausted');
          throw new VeoError('transient', `${verdict.message} (gave up after ${attempt} attempts)`, verdict.status, {
            cause: error,
          });
        }
        const delay = this.backoff(attempt);
        log.info(
          { err: errorSummary(error), attempt, status: verdict.status, delayMs: delay },
          'Veo submit not accepted; retrying',
        );
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
          { err: errorSummary(error), operationName, attempt, delayMs: delay },
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

/** Wraps fetch to learn whether the SDK got as far as sending, and whether an HTTP answer arrived. */
class RequestProbe {
  public dispatched = false;
  public answeredStatus: number | undefined;
  /** What fetch itself threw (the SDK's retry wrapper may rewrap it and drop the cause). */
  public fetchError: unknown;
  public readonly fetch: FetchFn = async (input, init) => {
    this.dispatched = true;
    try {
      const response = await fetch(input, init);
      this.answeredStatus = response.status;
      return response;
    } catch (error) {
      this.fetchError = error;
      throw error;
    }
  };
}

type SubmitVerdict = { kind: 'final'; error: VeoError } | { kind: 'retry'; status?: number; message: string };

function classifySubmitError(error: unknown, probe: RequestProbe, model: string): SubmitVerdict {
  if (error instanceof ApiError) {
    const status = error.status;
    const msg = googleMessage(error);
    if (status === 429) return { kind: 'retry', status, message: `Veo quota exhausted (429): ${msg}` };
    if (status >= 500) return { kind: 'retry', status, message: `Veo server error (${status}): ${msg}` };
    if (status === 408) {
      // A request timeout reported by a proxy: the request may have been forwarded.
      return {
        kind: 'final',
        error: new VeoError('ambiguous', `Veo request timed out at the server (408): ${msg}`, status, { cause: error }),
      };
    }
    if (status === 404) {
      return {
        kind: 'final',
        error: new VeoError('rejected', `model ${model} is not available (retired or unknown)`, status, {
          cause: error,
        }),
      };
    }
    if (status === 400)
      return {
        kind: 'final',
        error: new VeoError('rejected', `Veo rejected the request: ${msg}`, status, { cause: error }),
      };
    if (status === 401)
      return {
        kind: 'final',
        error: new VeoError('rejected', `Google did not accept the bot's credentials: ${msg}`, status, {
          cause: error,
        }),
      };
    if (status === 403)
      return {
        kind: 'final',
        error: new VeoError('rejected', `the bot's Google account may not use Veo here: ${msg}`, status, {
          cause: error,
        }),
      };
    return {
      kind: 'final',
      error: new VeoError('rejected', `Veo refused the request (${status}): ${msg}`, status, { cause: error }),
    };
  }
  if (!probe.dispatched) {
    // Failed before any byte left (credentials, request building): nothing can exist at Google.
    return { kind: 'retry', message: `could not send the request to Veo: ${describe(error)}` };
  }
  const cause = probe.fetchError ?? error;
  if (probe.answeredStatus === undefined && CONNECT_PHASE_CODES.has(errorCode(cause) ?? '')) {
    return { kind: 'retry', message: `could not connect to Veo: ${describe(cause)}` };
  }
  const when =
    probe.answeredStatus === undefined ? 'before Veo answered' : `while reading Veo's ${probe.answeredStatus} answer`;
  return {
    kind: 'final',
    error: new VeoError(
      'ambiguous',
      `the connection failed ${when} (${describe(cause)}); Veo may have accepted the request`,
      undefined,
      { cause: error },
    ),
  };
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
  if (!DURATIONS.has(p?.durationSeconds))
    problems.push(`durationSeconds must be 4, 6 or 8 (got ${JSON.stringify(p?.durationSeconds)})`);
  if (!ASPECT_RATIOS.has(p?.aspectRatio))
    problems.push(`aspectRatio must be 16:9 or 9:16 (got ${JSON.stringify(p?.aspectRatio)})`);
  if (!RESOLUTIONS.has(p?.resolution))
    problems.push(`resolution must be 720p or 1080p (got ${JSON.stringify(p?.resolution)})`);
  if (typeof p?.generateAudio !== 'boolean') problems.push('generateAudio must be true or false');
  if (p?.negativePrompt !== undefined && p.negativePrompt !== null && typeof p.negativePrompt !== 'string')
    problems.push('negativePrompt must be text');
  if (p?.seed !== undefined && p.seed !== null && (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 4_294_967_295)) {
    problems.push('seed must be a whole number from 0 to 4294967295');
  }
  if (problems.length > 0) throw new VeoError('rejected', `invalid video request: ${problems.join('; ')}`);
}

/** The `error.message` inside Google's JSON error (ApiError.message is the raw body). */
function googleMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  try {
    const parsed = JSON.parse(raw) as { error?: { message?: unknown } };
    if (typeof parsed?.error?.message === 'string' && parsed.error.message) return parsed.error.message;
  } catch {
    // not JSON
  }
  return raw.slice(0, 500);
}

function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function describe(error: unknown): string {
  // Duck-typed: errors from fetch may come from another realm (e.g. under jest) and fail `instanceof Error`.
  const e = error as { name?: unknown; message?: unknown } | null;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'timed out';
  const code = errorCode(error);
  const msg = typeof e?.message === 'string' ? e.message : String(error);
  return code ? `${msg} [${code}]` : msg;
}

/** What gets logged about an error: never request headers (they carry the bearer token). */
function errorSummary(error: unknown): { name?: string; message: string; code?: string; status?: number } {
  return {
    name: typeof (error as { name?: unknown } | null)?.name === 'string' ? (error as { name: string }).name : undefined,
    message: error instanceof ApiError ? googleMessage(error) : describe(error),
    code: errorCode(error),
    status: error instanceof ApiError ? error.status : undefined,
  };
}
