/**
 * The rules of the bot in one place: how a failure is classified (and so whether it counts against the quota), how
 * often things are retried, and the limits that end a request. docs/requirements.md names the requirement (R#) each
 * rule serves.
 */
import type { FailureKind, FailureReason } from './request';
import { formatDuration, HOUR_MS, MINUTE_MS, SECOND_MS } from './time';

/** Unexpected errors (bugs, not Veo or Discord answers) a request may hit before it is failed with the reason. */
export const MAX_PROCESSING_ERRORS = 5;
/** A passing Discord failure of an announcement is retried by later sweeps this many times in all. */
export const MAX_ANNOUNCEMENT_ATTEMPTS = 5;
/** Writes of a paid operation's name are retried this often before the bot logs it for recovery by hand. */
export const OPERATION_NAME_WRITE_TRIES = 5;
/** Timed-out operations (paid for) are checked for this long after the request was made (late delivery)… */
export const LATE_DELIVERY_WINDOW_HOURS = 24;
/** …each at most this often… */
export const LATE_CHECK_INTERVAL_MS = 5 * MINUTE_MS;
/**
 * …or, with a faster poll interval, every 30 polls: 5 minutes at the default VEO_POLL_INTERVAL_MS of 10 s, and a few
 * seconds in tests that poll every 100 ms.
 */
export function lateCheckIntervalMs(pollIntervalMs: number): number {
  return Math.min(LATE_CHECK_INTERVAL_MS, 30 * pollIntervalMs);
}
/** …and at most this many per sweep. */
export const LATE_CHECKS_PER_SWEEP = 20;

/** The quota and the budgets count requests of a rolling window of this length. */
export const QUOTA_WINDOW_MS = 24 * HOUR_MS;
/**
 * Failed and timed-out requests count against the quota only when the user caused them; the SQL of the quota count is
 * built from this list. A cancelled request ('cancelled') never reached Veo: it is not counted, nothing was billed.
 */
export const QUOTA_COUNTED_FAILURE_KINDS = ['filtered', 'invalid'] as const satisfies readonly FailureKind[];
/**
 * An admin's expiry counts against the requester's quota when the request may have been billed (it was submitted, or
 * its submit is ambiguous): otherwise `/resume expire` would give unlimited paid generations.
 */
export const QUOTA_COUNTED_WHEN_BILLED_KINDS = ['admin'] as const satisfies readonly FailureKind[];
/** The quota rule as users read it. */
export const QUOTA_RULE_TEXT = 'Failures caused by the bot or Google do not count';

/** What the reservation and quota rules need to know of a request. */
export interface SpendFacts {
  status: string;
  failureKind: FailureKind | null;
  failureReason: FailureReason | null;
  operationName: string | null;
  /**
   * Submit attempts that may have reached Veo and been accepted: any but those Veo refused (`rejected`, 429 included)
   * and permits given back unsent (`returned`). An `abandoned` attempt (ambiguous, no output within the grace period)
   * counts: it may still have been billed.
   */
  maybeBilledAttempts: number;
}

/** Veo may have billed this request: it has an operation, or an attempt Veo did not refuse. */
export function maybeBilled(row: Pick<SpendFacts, 'operationName' | 'maybeBilledAttempts'>): boolean {
  return row.operationName !== null || row.maybeBilledAttempts > 0;
}

export function countsAgainstQuota(row: SpendFacts): boolean {
  if (row.status !== 'failed' && row.status !== 'timeout') return true;
  const kind = row.failureKind ?? '';
  if ((QUOTA_COUNTED_FAILURE_KINDS as readonly string[]).includes(kind)) return true;
  return (QUOTA_COUNTED_WHEN_BILLED_KINDS as readonly string[]).includes(kind) && maybeBilled(row);
}

/**
 * Veo generates one sample per request (VeoService `numberOfVideos`); a request reserves `durationSeconds × samples`
 * video-seconds of every budget when it is recorded.
 */
export const SAMPLES_PER_REQUEST = 1;
/** Rows of the original bot may lack a duration: Veo's default, 8 s, is what they were billed. */
export const DEFAULT_DURATION_SECONDS = 8;

export function reservedSeconds(durationSeconds: number | null): number {
  return (durationSeconds ?? DEFAULT_DURATION_SECONDS) * SAMPLES_PER_REQUEST;
}

/**
 * Failures that prove nothing was billed although the request was submitted: Google failed or filtered the operation.
 * (`cancelled` is the kind of a request cancelled before any submit, `input` of one whose input image could not be
 * used, found before any submit.) The SQL of the budgets is built from these lists.
 */
export const NOT_BILLED_FAILURE_KINDS = ['filtered', 'cancelled', 'input'] as const satisfies readonly FailureKind[];
export const NOT_BILLED_FAILURE_REASONS = ['veo_failed', 'filtered'] as const satisfies readonly FailureReason[];

/**
 * The one rule of every budget (and of late delivery's "paid for"): a request holds its reservation unless nothing was
 * billed — it ended without ever reaching Veo (refused, invalid, cancelled or expired before any submit, or every
 * submit refused, 429 included), or Google failed or filtered its operation. Unfinished and completed requests hold
 * it; so does a request that timed out or was expired by an admin after its submit.
 */
export function holdsReservation(row: SpendFacts): boolean {
  if (row.status !== 'failed' && row.status !== 'timeout') return true;
  if ((NOT_BILLED_FAILURE_KINDS as readonly string[]).includes(row.failureKind ?? '')) return false;
  if ((NOT_BILLED_FAILURE_REASONS as readonly string[]).includes(row.failureReason ?? '')) return false;
  return maybeBilled(row);
}

/** Something ended a request without a video. */
export type FailureEvent =
  | { kind: 'submit_attempts_exhausted'; attempts: number }
  | { kind: 'unsupported_ratio'; aspectRatio: string }
  | { kind: 'unusable_row'; problem: string }
  | { kind: 'veo_refused'; httpStatus?: number; message: string }
  | { kind: 'veo_busy'; waitedMs: number }
  | { kind: 'model_unavailable'; model: string; message: string }
  | { kind: 'veo_failed'; code?: number; message: string }
  | { kind: 'filtered'; reasons: string[] }
  | { kind: 'operation_gone' }
  | { kind: 'deadline'; limitMs: number }
  | { kind: 'no_operation' }
  | { kind: 'no_video' }
  /** an input image, fetched before any submit, is not a PNG, JPEG or WebP of at most 20 MB (`problem` says which) */
  | { kind: 'image_refused'; problem: string }
  /** Discord no longer serves an input image (its signed URL expired) and it was never stored */
  | { kind: 'image_gone'; option: string };

/** How a failure ends the request: its final status, why (for the quota) and the message stored for the requester. */
export interface Verdict {
  status: 'failed' | 'timeout';
  failureKind: FailureKind;
  reason: FailureReason;
  /** the detail, for logs and admins (may hold Google's own words) */
  message: string;
}

/** Google's status code 3 (INVALID_ARGUMENT) in a failed operation: the request itself was unusable. */
const GOOGLE_INVALID_ARGUMENT = 3;

/** The one classification of failures (R4, R6): user-caused ('filtered', 'invalid') or not ('google', 'bot'). */
export function classify(event: FailureEvent): Verdict {
  return { ...judge(event), reason: event.kind };
}

function judge(event: FailureEvent): Omit<Verdict, 'reason'> {
  switch (event.kind) {
    case 'submit_attempts_exhausted':
      return failed('bot', `Gave up after ${event.attempts} submit attempts to Veo.`);
    case 'unsupported_ratio':
      // The original bot's table allows ratios Veo cannot make: say so rather than silently change the request.
      return failed('invalid', `Veo cannot make ${event.aspectRatio} videos, only 16:9 and 9:16.`);
    case 'unusable_row':
      return failed('bot', `The request cannot be sent to Veo: ${event.problem}.`);
    case 'veo_refused':
      return failed(event.httpStatus === 400 ? 'invalid' : 'google', `Veo refused the request: ${event.message}`);
    case 'veo_busy':
      // Google kept answering 429 (quota exhausted) for longer than RESUME_REQUEST_TIMEOUT_MS: nothing was billed.
      return failed('google', `Veo kept answering "quota exhausted" (429) for ${formatDuration(event.waitedMs)}.`);
    case 'model_unavailable':
      // Never switched silently to another (differently billed) model: the request fails with the reason.
      return failed('google', `Veo refused the request: ${event.message}`);
    case 'veo_failed':
      return failed(event.code === GOOGLE_INVALID_ARGUMENT ? 'invalid' : 'google', `Veo failed: ${event.message}`);
    case 'filtered':
      return failed('filtered', event.reasons.join('; ') || 'Blocked by safety filters.');
    case 'operation_gone':
      return {
        status: 'timeout',
        failureKind: 'google',
        message: 'The Veo operation no longer exists (expired at Google).',
      };
    case 'deadline': {
      const within =
        event.limitMs % MINUTE_MS === 0 ? `${event.limitMs / MINUTE_MS} minute(s)` : formatDuration(event.limitMs);
      return { status: 'timeout', failureKind: 'google', message: `Veo did not finish within ${within}.` };
    }
    case 'no_operation':
      return failed('bot', 'The request was marked generating but has no Veo operation to check.');
    case 'no_video':
      return failed('google', 'Veo finished without a video.');
    // Found before any submit: nothing billed, and not counted (the user was not told before the request was taken).
    case 'image_refused':
      return failed('input', event.problem);
    case 'image_gone':
      return failed(
        'input',
        `The ${event.option === 'last_frame' ? 'last frame' : 'image'} could no longer be fetched from Discord ` +
          '(its link expired before the bot could copy it).',
      );
  }
}

function failed(failureKind: FailureKind, message: string): Omit<Verdict, 'reason'> {
  return { status: 'failed', failureKind, message };
}

/**
 * How long every submit waits after Google answered 429 (quota exhausted): the delay Google gave (RetryInfo or
 * Retry-After), else 2 s doubling with each 429 of the last minutes, at most a minute; never more than an hour.
 */
export function throttleDelayMs(givenMs: number | undefined, recentThrottles: number): number {
  if (givenMs !== undefined && Number.isFinite(givenMs) && givenMs >= 0) return Math.min(givenMs, HOUR_MS);
  return Math.min(MINUTE_MS, 2 * SECOND_MS * 2 ** Math.max(0, Math.min(10, recentThrottles)));
}

/** R9: a pending request older than RESUME_MAX_AGE_HOURS is expired instead of submitted. */
export function staleExpiryMessage(maxAgeHours: number): string {
  return `Request expired (>${maxAgeHours} hours old)`;
}

export const ADMIN_EXPIRY_MESSAGE = 'Expired by a server admin';
/** The reason stored when the requester pressed Cancel before the request was sent to Veo. */
export const CANCELLED_MESSAGE = 'Cancelled by the requester before it was sent to Veo';

/** `/history` shows a member's latest requests in a server, this many. */
export const HISTORY_SIZE = 10;

/**
 * The first frame is shown as a thumbnail by attaching it to the message (`attachment://`): Discord keeps a message's
 * own attachments and refreshes their signed URLs, while the URL of the attachment the user gave `/video` expires
 * (https://discord.com/developers/docs/reference#signed-attachment-cdn-urls). Images larger than this are not
 * attached again (the message would mostly carry a copy of the input).
 */
export const THUMBNAIL_MAX_BYTES = 8 * 1024 * 1024;
/** Discord's limit on a whole message request with its files (resources/message "Create Message": 25 MiB). */
export const MESSAGE_REQUEST_MAX_BYTES = 25 * 1024 * 1024;

/** The reason stored when a request keeps hitting unexpected errors (at most 1,000 characters). */
export function processingErrorMessage(limit: number, lastError: string): string {
  return `Gave up after ${limit} unexpected errors on the bot side; the last one: ${lastError}`.slice(0, 1000);
}

/**
 * An announcement that failed is given up when Discord's refusal is permanent, or when this was the last allowed
 * attempt; otherwise a later sweep tries again.
 */
export function giveUpAnnouncement(permanent: boolean, attemptsBefore: number): boolean {
  return permanent || attemptsBefore + 1 >= MAX_ANNOUNCEMENT_ATTEMPTS;
}
