import type { AnnouncementState, RequestStatus } from './request';
import type { RuleRefusal } from './spend';

/** A request the server or the operator does not allow here or in this form (checked again when the row is written). */
export class RequestRefusedError extends Error {
  public constructor(public readonly refusal: RuleRefusal) {
    super(`request refused: ${refusal.cap}`);
    this.name = 'RequestRefusedError';
  }
}

/** The user has used their quota (counted under a per-user lock, at insert time). */
export class QuotaExceededError extends Error {
  public constructor(
    public readonly used: number,
    public readonly limit: number,
    /** when the oldest counted request leaves the 24-hour window (null: unknown, or a quota of 0) */
    public readonly freesAt: Date | null = null,
    /** 'bot': the operator's DAILY_QUOTA (requests in every server); 'server': the server's own (requests there) */
    public readonly scope: 'bot' | 'server' = 'bot',
  ) {
    super(`quota reached: ${used} of ${limit}`);
    this.name = 'QuotaExceededError';
  }
}

/**
 * A video-seconds budget (the server's or the whole bot's, per rolling 24 h) cannot fit the request: counted under the
 * budget's lock when the row is written, so instances side by side can never overshoot it together.
 */
export class BudgetExceededError extends Error {
  public constructor(
    public readonly budget: 'guild' | 'global',
    public readonly used: number,
    public readonly limit: number,
    /** video-seconds the request needed */
    public readonly need: number,
    /** when enough reservations leave the window for it (null: never, e.g. a budget smaller than the request) */
    public readonly freesAt: Date | null,
  ) {
    super(`${budget} budget reached: ${used} of ${limit} video-seconds used, ${need} more needed`);
    this.name = 'BudgetExceededError';
  }
}

/** Another process already recorded a request for this Discord interaction (it handles it; this one must not). */
export class DuplicateInteractionError extends Error {
  public constructor(public readonly interactionId: string) {
    super(`a request for interaction ${interactionId} is already recorded`);
    this.name = 'DuplicateInteractionError';
  }
}

/** A conditional update hit zero rows: the row moved on (claimed by someone else, finished, expired by an admin). */
export class FencedWriteError extends Error {
  public constructor(
    public readonly requestId: string,
    public readonly action: string,
    /** what the write expected: statuses (or announcement states), fence and owner */
    public readonly expected: { states: readonly string[]; fence: number; owner: string },
    /** what the row holds now (null: the row does not exist; undefined: not looked up) */
    public readonly actual?: {
      status: RequestStatus;
      fence: number;
      leaseOwner: string | null;
      announcement: AnnouncementState | null;
    } | null,
  ) {
    const now =
      actual === undefined
        ? ''
        : actual === null
          ? '; the row does not exist'
          : `; row has status ${actual.status}, fence ${actual.fence}, owner ${actual.leaseOwner ?? 'none'}, announcement ${actual.announcement ?? 'none'}`;
    super(
      `${action} refused for request ${requestId}: expected ${expected.states.join('|') || 'any state'} ` +
        `at fence ${expected.fence} owned by ${expected.owner}${now}`,
    );
    this.name = 'FencedWriteError';
  }
}

/**
 * Telling a requester failed. `permanent`: sending the same message again can never work (missing permission, unknown
 * channel); otherwise a later sweep tries again.
 */
export class DeliveryError extends Error {
  public constructor(
    message: string,
    public readonly permanent: boolean,
    public readonly code?: number | string,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}
