/** Values of the admin actions behind `/resume` (docs/requirements.md R13). */
import type { GenerationOutcome } from './outcomes';
import type { GuildSummary, RequestStatus, UnfinishedRow, VideoRequestRow } from './request';
import type { BudgetUse } from './spend';

/** Rows per page of `/resume status`. */
export const STATUS_PAGE_SIZE = 10;
/** An expiry must be confirmed by the same admin within this time. */
export const CONFIRMATION_TTL_MS = 60_000;

/**
 * An expiry waiting for its admin's confirmation. It travels inside the confirmation button itself, so whichever
 * instance receives the press (even after a restart) can act on it.
 */
export interface PendingExpiry {
  adminId: string;
  olderThanHours: number;
  includeGenerating: boolean;
  requestId?: string;
  /** epoch milliseconds */
  expiresAt: number;
}

/** Who holds a request, as an admin may see it (never a host name or a process id). */
export type LeaseHolder = 'free' | 'this_bot' | 'other_alive' | 'other_not_responding';

/**
 * A bot process as `/resume status` shows it. Server admins are not the bot's operators: the instance is named by a
 * short label derived from its INSTANCE_ID (logged with the id at start), never by the id itself, which may carry a
 * host name.
 */
export interface InstanceView {
  label: string;
  thisBot: boolean;
  shards: number[];
  startedAt: Date;
  lastBeatAt: Date;
  /** false: it has not beaten for INSTANCE_DEAD_AFTER_MS; its requests are being taken over */
  responding: boolean;
}

/** One page of `/resume status`. */
export interface StatusPage {
  summary: GuildSummary;
  /** the server's video-seconds budget (24 h) and its requests waiting for a submit permit */
  spend?: { budget: BudgetUse; queueLength: number; oldestQueuedAt: Date | null };
  rows: (UnfinishedRow & { holder: LeaseHolder })[];
  /** the guild's latest failed or timed-out requests (24 h), with the detail Google or the bot gave */
  recentFailures: VideoRequestRow[];
  /** the page shown (0-based; the last page that still exists when rows finished meanwhile) */
  page: number;
  pages: number;
  total: number;
  resumeDisabled: boolean;
  /** the bot processes sharing the work (issue #15), the longest running first */
  instances: InstanceView[];
  now: number;
}

/** What `/resume run` would do with each of a guild's unfinished requests. */
export type DryRunAction = 'skip_live' | 'expire' | 'submit' | 'poll' | 'announce';

export interface DryRunPlan {
  items: { row: UnfinishedRow; action: DryRunAction; seconds: number }[];
  /** unfinished rows in all (items holds the first of them) */
  total: number;
  /** video-seconds the submits would bill at most */
  seconds: number;
  maxAgeHours: number;
  now: number;
}

/** The live state of a `/resume run`. */
export interface RunProgress {
  counts: { found: number; running: number; completed: number; failed: number; timeout: number };
  /** each request claimed so far: its status when claimed, and its outcome once done (in claim order) */
  requests: Map<string, { status: RequestStatus; outcome?: GenerationOutcome }>;
  elapsedMs: number;
}
