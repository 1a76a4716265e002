/**
 * How Veo's answers and failures are told apart (VeoService): what proves nothing was created (safe to retry), what
 * is final, and what is ambiguous (a paid operation may exist). Never logs request headers (they carry the token).
 */
import { ApiError } from '@google/genai';

/**
 * - `rejected`: Google answered with a final refusal (400/401/403/404 …), or the parameters are invalid. Nothing was
 *   created; nothing is billed. `status` is the HTTP status when there was one.
 * - `ambiguous`: the submit may have reached Google and we never heard the answer (dropped socket, timeout, reset,
 *   unreadable success). An operation may exist and be billed: reconcile through the output folder, do not resubmit.
 * - `transient`: retries exhausted on answers that prove nothing was created (5xx, connection refused), or a
 *   poll kept failing. Safe to try again later.
 * - `throttled`: Google answered 429 RESOURCE_EXHAUSTED (the project's quota). Nothing was created; the request goes
 *   back to the submit queue, which waits `retryAfterMs` when Google said how long. Never retried inside the call:
 *   every retry would be one more request against the same exhausted quota.
 */
export class VeoError extends Error {
  public override readonly name = 'VeoError';
  /** throttled: the delay Google asked for (RetryInfo.retryDelay or Retry-After), when it gave one */
  public readonly retryAfterMs?: number;
  public constructor(
    public readonly kind: 'rejected' | 'ambiguous' | 'transient' | 'throttled',
    message: string,
    public readonly status?: number,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

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

/** Wraps fetch to learn whether the SDK got as far as sending, and whether an HTTP answer arrived. */
export class RequestProbe {
  public dispatched = false;
  public answeredStatus: number | undefined;
  /** The answer's Retry-After header (ApiError keeps only the body). */
  public retryAfter: string | null = null;
  /** What fetch itself threw (the SDK's retry wrapper may rewrap it and drop the cause). */
  public fetchError: unknown;
  public readonly fetch: FetchFn = async (input, init) => {
    this.dispatched = true;
    try {
      const response = await fetch(input, init);
      this.answeredStatus = response.status;
      this.retryAfter = response.headers.get('retry-after');
      return response;
    } catch (error) {
      this.fetchError = error;
      throw error;
    }
  };
}

export type SubmitVerdict = { kind: 'final'; error: VeoError } | { kind: 'retry'; status?: number; message: string };

export function classifySubmitError(error: unknown, probe: RequestProbe, model: string): SubmitVerdict {
  if (error instanceof ApiError) {
    const status = error.status;
    const msg = googleMessage(error);
    if (status === 429) {
      return {
        kind: 'final',
        error: new VeoError('throttled', `Veo quota exhausted (429): ${msg}`, status, {
          cause: error,
          retryAfterMs: retryDelayMs(error.message, probe.retryAfter),
        }),
      };
    }
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

/**
 * The delay a 429 asks for, in ms: `google.rpc.RetryInfo.retryDelay` in the error's `details` (a protobuf Duration in
 * JSON, e.g. "53s" or "58.934310785s"; googleapis/googleapis google/rpc/error_details.proto: "Clients should wait until
 * `retry_delay` amount of time has passed since receiving the error response before retrying"), else the standard
 * Retry-After header (RFC 9110 §10.2.3: seconds, or an HTTP date). undefined when neither is there or usable.
 */
export function retryDelayMs(body: string, retryAfter: string | null, now = Date.now()): number | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { details?: unknown } };
    const details = Array.isArray(parsed?.error?.details) ? (parsed.error.details as Record<string, unknown>[]) : [];
    for (const d of details) {
      if (d?.['@type'] !== 'type.googleapis.com/google.rpc.RetryInfo') continue;
      const m = /^(\d+(?:\.\d{1,9})?)s$/.exec(String(d.retryDelay ?? ''));
      if (m) return Math.round(Number(m[1]) * 1000);
    }
  } catch {
    // not JSON: fall through to the header
  }
  if (retryAfter) {
    const text = retryAfter.trim();
    if (/^\d+$/.test(text)) return Number(text) * 1000;
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return undefined;
}

/** The `error.message` inside Google's JSON error (ApiError.message is the raw body). */
export function googleMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  try {
    const parsed = JSON.parse(raw) as { error?: { message?: unknown } };
    if (typeof parsed?.error?.message === 'string' && parsed.error.message) return parsed.error.message;
  } catch {
    // not JSON
  }
  return raw.slice(0, 500);
}

export function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function describe(error: unknown): string {
  // Duck-typed: errors from fetch may come from another realm (e.g. under jest) and fail `instanceof Error`.
  const e = error as { name?: unknown; message?: unknown } | null;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'timed out';
  const code = errorCode(error);
  const msg = typeof e?.message === 'string' ? e.message : String(error);
  return code ? `${msg} [${code}]` : msg;
}
