/**
 * Shared pieces of the request SQL (pg-boss style: statements grouped by concern in this folder, each next to the
 * values it binds; tests/unit/statements.test.ts checks their structure without a database).
 *
 * Conventions:
 * - Times come from the database clock (`now()`), never from an instance's clock, so instances agree on leases.
 * - Durations are passed as numbers: milliseconds (`$n * interval '1 millisecond'`) or hours.
 * - Every state transition is one conditional UPDATE fenced by `id`, `fence` and `lease_owner` (FENCED) and, where it
 *   matters, the expected status; zero rows = FencedWriteError in the repository.
 */
import { QUOTA_COUNTED_FAILURE_KINDS } from '../../domain/policy';

export const REQUESTS = 'video_requests';
export const ATTEMPTS = 'video_request_attempts';

/** Rows a worker may claim: unfinished, or finished with an announcement still due. */
export const CLAIMABLE = `(status IN ('pending', 'generating') OR announcement = 'due')`;
/** Lease empty or run out. */
export const LEASE_FREE = `(lease_expires_at IS NULL OR lease_expires_at < now())`;
/** The lease a fenced write is made under: `$id`, `$fence`, `$owner` (FenceValues). */
export const FENCED = `id = $id AND fence = $fence AND lease_owner = $owner`;
/** Failed or timed-out rows count against the quota only when the user caused them (policy). */
export const COUNTS_AGAINST_QUOTA = `(status NOT IN ('failed', 'timeout') OR failure_kind IN (${QUOTA_COUNTED_FAILURE_KINDS.map(
  (k) => `'${k}'`,
).join(', ')}))`;

export const MS = `* interval '1 millisecond'`;
export const HOURS = `* interval '1 hour'`;
/** Milliseconds from created_at to now, capped to the integer column. */
export const DURATION_MS = `LEAST(round(extract(epoch FROM (now() - created_at)) * 1000), 2147483647)::integer`;
