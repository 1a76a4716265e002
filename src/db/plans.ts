/**
 * Every SQL statement of the request tracking, pg-boss style: one exported function per statement, parameterised
 * ($1, $2 …), no values ever interpolated. Each function documents its parameters in order. Callers:
 * src/services/RequestTrackingService.ts. tests/unit/plans.test.ts checks their structure without a database.
 *
 * Conventions:
 * - Times come from the database clock (`now()`), never from an instance's clock, so instances agree on leases.
 * - Durations are passed as numbers: milliseconds (`$n * interval '1 millisecond'`) or hours.
 * - Every state transition is one conditional UPDATE fenced by `id`, `fence` and `lease_owner` (FENCE_PREDICATE)
 *   and, where it matters, the expected status; zero rows = FencedWriteError in the service.
 */

export const REQUESTS = 'video_requests';
export const ATTEMPTS = 'video_request_attempts';

/** Rows a worker may claim: unfinished, or finished with an announcement still due. */
export const CLAIMABLE = `(status IN ('pending', 'generating') OR announcement = 'due')`;
/** Lease empty or run out. */
export const LEASE_FREE = `(lease_expires_at IS NULL OR lease_expires_at < now())`;
/** `$1` id, `$2` fence, `$3` lease owner. */
export const FENCE_PREDICATE = `id = $1 AND fence = $2 AND lease_owner = $3`;

const MS = `* interval '1 millisecond'`;
const HOURS = `* interval '1 hour'`;
/** Milliseconds from created_at to now, capped to the integer column. */
const DURATION_MS = `LEAST(round(extract(epoch FROM (now() - created_at)) * 1000), 2147483647)::integer`;

/**
 * Insert a new request, `pending` and already leased by its creator (fence 1).
 * $1 id (null = generated) · $2 user_id · $3 guild_id · $4 channel_id · $5 prompt · $6 duration_seconds ·
 * $7 aspect_ratio · $8 resolution · $9 generate_audio · $10 request_type · $11 model · $12 negative_prompt · $13 seed ·
 * $14 attachment_size_limit · $15 application_id · $16 interaction_token · $17 interaction_expires_at ·
 * $18 lease_owner · $19 lease ms
 */
export function insertRequest(): string {
  return `INSERT INTO ${REQUESTS} (
      id, user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio,
      request_type, model, negative_prompt, seed, attachment_size_limit, application_id, interaction_token,
      interaction_expires_at, status, lease_owner, lease_expires_at, fence, updated_at, interaction_id)
    VALUES (COALESCE($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9,
      $10, $11, $12, $13, $14, $15, $16,
      $17, 'pending', $18, now() + $19::bigint ${MS}, 1, now(), $20)
    ON CONFLICT (interaction_id) WHERE interaction_id IS NOT NULL DO NOTHING
    RETURNING *`;
}

/** $1 id */
export function getById(): string {
  return `SELECT * FROM ${REQUESTS} WHERE id = $1::uuid`;
}

/**
 * The seed's task 1: pending and generating requests created within the last $1 hours, oldest first.
 * $1 max age in hours
 */
export function getIncompleteRequests(): string {
  return `SELECT * FROM ${REQUESTS}
    WHERE status IN ('pending', 'generating')
      AND created_at >= now() - $1::double precision ${HOURS}
    ORDER BY created_at ASC`;
}

/**
 * Counts of pending and generating requests (any age; optionally one guild), for the log line that opens a sweep:
 * a count, not the rows, since sweeps run every SWEEP_INTERVAL_MS. $1 guild_id or null
 */
export function countIncompleteRequests(): string {
  return `SELECT
      count(*) FILTER (WHERE status = 'pending')::integer AS pending,
      count(*) FILTER (WHERE status = 'generating')::integer AS generating
    FROM ${REQUESTS}
    WHERE status IN ('pending', 'generating') AND ($1::text IS NULL OR guild_id = $1::text)`;
}

/**
 * Claim the oldest claimable row whose lease is free (optionally in one guild), or with $4 one given row:
 * `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`. The CTE also returns the previous lease owner
 * (takeover detection). Sets owner and expiry and increments the fence.
 * $5 lists requests the claimer is itself still driving (its lease may have run out during a database outage):
 * those are never claimed a second time by the same process.
 * $1 owner · $2 lease ms · $3 guild_id or null · $4 request id or null · $5 excluded ids (uuid[])
 */
export function claim(): string {
  return leaseCandidate(`SELECT id, lease_owner AS previous_lease_owner FROM ${REQUESTS}
      WHERE ${CLAIMABLE}
        AND ${LEASE_FREE}
        AND ($3::text IS NULL OR guild_id = $3::text)
        AND ($4::uuid IS NULL OR id = $4::uuid)
        AND NOT (id = ANY($5::uuid[]))
      ORDER BY created_at
      LIMIT 1
      FOR UPDATE SKIP LOCKED`);
}

/**
 * Claim one timed-out request whose Veo operation may still finish (it was paid for): created within $3 hours,
 * not checked for $4 ms (claiming stamps updated_at), lease free, nothing left to announce.
 * $1 owner · $2 lease ms · $3 window hours · $4 min interval ms
 */
export function claimLateDelivery(): string {
  return leaseCandidate(`SELECT id, lease_owner AS previous_lease_owner FROM ${REQUESTS}
      WHERE status = 'timeout' AND operation_name IS NOT NULL AND failure_kind = 'google'
        AND (announcement IS NULL OR announcement <> 'due')
        AND created_at >= now() - $3::integer ${HOURS}
        AND COALESCE(updated_at, created_at) < now() - $4::bigint ${MS}
        AND ${LEASE_FREE}
      ORDER BY COALESCE(updated_at, created_at)
      LIMIT 1
      FOR UPDATE SKIP LOCKED`);
}

/**
 * Leases the row a `candidate` query (id, previous_lease_owner; locked with SKIP LOCKED) picked: sets owner and
 * expiry, increments the fence. The one way every claim takes a lease. $1 owner · $2 lease ms
 */
function leaseCandidate(candidate: string): string {
  return `WITH candidate AS (
      ${candidate}
    )
    UPDATE ${REQUESTS} r
      SET lease_owner = $1, lease_expires_at = now() + $2::bigint ${MS}, fence = r.fence + 1, updated_at = now()
    FROM candidate c
    WHERE r.id = c.id
    RETURNING r.*, c.previous_lease_owner`;
}

/** Statuses this version does not know (a hand-edited database, or a newer bot's rows), with their counts. */
export function countUnknownStatuses(): string {
  return `SELECT status, count(*)::integer AS count FROM ${REQUESTS}
    WHERE status NOT IN ('pending', 'generating', 'completed', 'failed', 'timeout')
    GROUP BY status ORDER BY status`;
}

/**
 * An unexpected error while driving a request (fenced): counted, lease released. At $5 errors an unfinished request
 * fails with $4 (failure_kind 'bot', announcement due) and a finished one stops trying to announce (gave_up).
 * $1 id · $2 fence · $3 owner · $4 final message · $5 limit
 */
export function processingError(): string {
  const giveUp = `processing_errors + 1 >= $5`;
  const unfinished = `status IN ('pending', 'generating')`;
  return `UPDATE ${REQUESTS}
    SET processing_errors = processing_errors + 1,
      status = CASE WHEN ${giveUp} AND ${unfinished} THEN 'failed' ELSE status END,
      error_message = CASE WHEN ${giveUp} AND ${unfinished} THEN $4 ELSE error_message END,
      failure_kind = CASE WHEN ${giveUp} AND ${unfinished} THEN 'bot' ELSE failure_kind END,
      completed_at = CASE WHEN ${giveUp} AND ${unfinished} THEN now() ELSE completed_at END,
      announcement = CASE
        WHEN NOT (${giveUp}) THEN announcement
        WHEN ${unfinished} THEN 'due'
        WHEN announcement = 'due' THEN 'gave_up'
        ELSE announcement END,
      notification_error = CASE WHEN ${giveUp} AND NOT ${unfinished} AND announcement = 'due' THEN $4 ELSE notification_error END,
      lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE ${FENCE_PREDICATE}
    RETURNING *`;
}

/** Extend the leases $1 holds on claimable rows (all of them, or only those in $3). $1 owner · $2 lease ms · $3 ids or null */
export function renewLeases(): string {
  return `UPDATE ${REQUESTS}
    SET lease_expires_at = now() + $2::bigint ${MS}
    WHERE lease_owner = $1 AND ${CLAIMABLE} AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))
    RETURNING id`;
}

/** Extend one lease (fenced). $1 id · $2 fence · $3 owner · $4 lease ms */
export function renewLease(): string {
  return `UPDATE ${REQUESTS}
    SET lease_expires_at = now() + $4::bigint ${MS}
    WHERE ${FENCE_PREDICATE}
    RETURNING id, lease_expires_at`;
}

/** Give a lease back (fenced). $1 id · $2 fence · $3 owner */
export function releaseLease(): string {
  return `UPDATE ${REQUESTS}
    SET lease_owner = NULL, lease_expires_at = NULL
    WHERE ${FENCE_PREDICATE}
    RETURNING id`;
}

/** Current status, fence and owner of a row (diagnostics of a refused write). $1 id */
export function getFenceState(): string {
  return `SELECT id, status, fence, lease_owner, lease_expires_at, announcement FROM ${REQUESTS} WHERE id = $1::uuid`;
}

/**
 * Write-ahead submit attempt, one statement (so one transaction): fenced on the request being `pending`, increments
 * `submit_attempts` and inserts attempt n+1 in state `submitting`. No row returned = refused.
 * $1 id · $2 fence · $3 owner · $4 output_prefix
 */
export function insertSubmitAttempt(): string {
  return `WITH req AS (
      UPDATE ${REQUESTS}
        SET submit_attempts = submit_attempts + 1, updated_at = now()
      WHERE ${FENCE_PREDICATE} AND status = 'pending'
      RETURNING id
    )
    INSERT INTO ${ATTEMPTS} (request_id, attempt, output_prefix, state)
    SELECT req.id,
      COALESCE((SELECT max(a.attempt) FROM ${ATTEMPTS} a WHERE a.request_id = req.id), 0) + 1,
      $4, 'submitting'
    FROM req
    RETURNING *`;
}

/**
 * Veo accepted: store the operation name on the attempt, unconditionally (a paid operation's name is never lost).
 * $1 attempt id · $2 operation name
 */
export function acceptAttempt(): string {
  return `UPDATE ${ATTEMPTS}
    SET operation_name = $2, state = 'accepted', accepted_at = COALESCE(accepted_at, now())
    WHERE id = $1::bigint
    RETURNING *`;
}

/**
 * Veo accepted: the request moves pending → generating (fenced), with the operation name, the model and the
 * attempt's output folder. $1 id · $2 fence · $3 owner · $4 operation name · $5 model · $6 attempt id
 */
export function markGenerating(): string {
  return `UPDATE ${REQUESTS}
    SET status = 'generating', operation_name = $4, model = COALESCE($5, model), started_at = now(),
      gcs_prefix = COALESCE((SELECT a.output_prefix FROM ${ATTEMPTS} a WHERE a.id = $6::bigint), gcs_prefix),
      updated_at = now()
    WHERE ${FENCE_PREDICATE} AND status = 'pending'
    RETURNING *`;
}

/** Veo refused a submit. Only a `submitting` attempt changes. $1 attempt id · $2 error */
export function rejectAttempt(): string {
  return `UPDATE ${ATTEMPTS} SET state = 'rejected', error = $2
    WHERE id = $1::bigint AND state = 'submitting'
    RETURNING *`;
}

/** An ambiguous attempt produced nothing within the grace period. $1 attempt id · $2 error or null */
export function abandonAttempt(): string {
  return `UPDATE ${ATTEMPTS} SET state = 'abandoned', error = COALESCE($2, error)
    WHERE id = $1::bigint AND state = 'submitting'
    RETURNING *`;
}

/** Count one more ambiguous attempt (fenced). $1 id · $2 fence · $3 owner */
export function incrementAmbiguous(): string {
  return `UPDATE ${REQUESTS}
    SET ambiguous_attempts = ambiguous_attempts + 1, updated_at = now()
    WHERE ${FENCE_PREDICATE}
    RETURNING *`;
}

/** $1 request id */
export function getAttempts(): string {
  return `SELECT * FROM ${ATTEMPTS} WHERE request_id = $1::uuid ORDER BY attempt ASC`;
}

/** $1 request id */
export function latestAttempt(): string {
  return `SELECT * FROM ${ATTEMPTS} WHERE request_id = $1::uuid ORDER BY attempt DESC LIMIT 1`;
}

/**
 * → completed from the statuses in $7 (generating, or pending when an ambiguous attempt's output showed up; timeout
 * for a late completion), announcement due in the same UPDATE.
 * $1 id · $2 fence · $3 owner · $4 video_urls · $5 gcs_prefix or null (keep) · $6 video_size_bytes ·
 * $7 expected statuses
 */
export function markCompleted(): string {
  return `UPDATE ${REQUESTS}
    SET status = 'completed', video_urls = $4::text[], gcs_prefix = COALESCE($5, gcs_prefix),
      video_size_bytes = $6::bigint, error_message = NULL, failure_kind = NULL,
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', notification_error = NULL, updated_at = now()
    WHERE ${FENCE_PREDICATE} AND status = ANY($7::text[])
    RETURNING *`;
}

/**
 * → failed or timeout ($4) from the statuses in $7, with the message and why, announcement due.
 * $1 id · $2 fence · $3 owner · $4 new status · $5 error_message · $6 failure_kind · $7 expected statuses
 */
export function markFinishedUnsuccessfully(): string {
  return `UPDATE ${REQUESTS}
    SET status = $4, error_message = $5, failure_kind = $6,
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', updated_at = now()
    WHERE ${FENCE_PREDICATE} AND status = ANY($7::text[])
    RETURNING *`;
}

/**
 * Stale pending rows → timeout ('expired'), announcement due, lease cleared and fence bumped (a former owner's later
 * writes are refused). Skips leased rows and rows with a `submitting` attempt (an ambiguous paid submit: the resume
 * reconciles it first). $1 max age in hours · $2 error_message · $3 guild_id or null (all guilds)
 */
export function expireStalePending(): string {
  return `UPDATE ${REQUESTS} r
    SET status = 'timeout', error_message = $2, failure_kind = 'expired',
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', fence = r.fence + 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE r.status = 'pending'
      AND r.created_at < now() - $1::double precision ${HOURS}
      AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())
      AND NOT EXISTS (SELECT 1 FROM ${ATTEMPTS} a WHERE a.request_id = r.id AND a.state = 'submitting')
      AND ($3::text IS NULL OR r.guild_id = $3::text)
    RETURNING r.*`;
}

/**
 * Filters of the admin expiry (shared by expire and count). $1 guild_id · $2 older than hours · $3 include generating
 * · $4 request id (text) or null
 */
const EXPIRABLE = `guild_id = $1
      AND (status = 'pending' OR ($3::boolean AND status = 'generating'))
      AND created_at <= now() - $2::double precision ${HOURS}
      AND ($4::text IS NULL OR id::text = $4::text)`;

/**
 * Admin expiry → timeout ('admin'), `expired_by`, announcement due, fence bumped and lease cleared so a live worker's
 * later writes are refused. Idempotent: a finished row no longer matches.
 * $1 guild_id · $2 older than hours · $3 include generating · $4 request id or null · $5 admin user id · $6 message
 */
export function expireRequests(): string {
  return `UPDATE ${REQUESTS}
    SET status = 'timeout', error_message = $6, expired_by = $5, failure_kind = 'admin',
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE ${EXPIRABLE}
    RETURNING *`;
}

/** Same filters as expireRequests. $1 guild_id · $2 older than hours · $3 include generating · $4 request id or null */
export function countExpirable(): string {
  return `SELECT count(*)::integer AS count FROM ${REQUESTS} WHERE ${EXPIRABLE}`;
}

/** due → sent (fenced). $1 id · $2 fence · $3 owner · $4 message id · $5 delivered_as or null (keep) */
export function announcementSent(): string {
  return `UPDATE ${REQUESTS}
    SET announcement = 'sent', notified_at = now(), notification_message_id = $4,
      delivered_as = COALESCE($5, delivered_as), updated_at = now()
    WHERE ${FENCE_PREDICATE} AND announcement = 'due'
    RETURNING *`;
}

/**
 * Write-ahead of an announcement (fenced, while due): counted before the message is sent, so a bot that dies after
 * sending knows on restart that it must look for its earlier message. $1 id · $2 fence · $3 owner
 */
export function announcementAttempt(): string {
  return `UPDATE ${REQUESTS}
    SET notification_attempts = notification_attempts + 1, updated_at = now()
    WHERE ${FENCE_PREDICATE} AND announcement = 'due'
    RETURNING *`;
}

/**
 * A failed announcement (fenced, while due): the error, and with $5 → gave_up (the attempt was counted by
 * announcementAttempt). $1 id · $2 fence · $3 owner · $4 error · $5 give up
 */
export function announcementFailed(): string {
  return `UPDATE ${REQUESTS}
    SET notification_error = $4,
      announcement = CASE WHEN $5::boolean THEN 'gave_up' ELSE announcement END, updated_at = now()
    WHERE ${FENCE_PREDICATE} AND announcement = 'due'
    RETURNING *`;
}

/**
 * Requests that count against the user's quota since $2: all but failed/timeout rows, which count only when the user
 * caused them (failure_kind 'filtered' or 'invalid'). $1 user_id · $2 since · $3 request_type
 */
export function countQuotaUsage(): string {
  return `SELECT count(*)::integer AS count FROM ${REQUESTS}
    WHERE user_id = $1 AND request_type = $3 AND created_at >= $2::timestamptz
      AND (status NOT IN ('failed', 'timeout') OR failure_kind IN ('filtered', 'invalid'))`;
}

/** Serialises quota checks of one user until the end of the transaction. $1 user_id */
export function lockUserQuota(): string {
  return `SELECT pg_advisory_xact_lock(hashtext('veobot:quota:' || $1::text))`;
}

/** All guilds (metrics): claimable rows by state. No parameters. */
export function countUnfinishedByState(): string {
  return `SELECT
      count(*) FILTER (WHERE status = 'pending')::integer AS pending,
      count(*) FILTER (WHERE status = 'generating')::integer AS generating,
      count(*) FILTER (WHERE announcement = 'due')::integer AS awaiting_announcement
    FROM ${REQUESTS}
    WHERE ${CLAIMABLE}`;
}

/** Admin summary of one guild. $1 guild_id */
export function guildSummary(): string {
  return `SELECT
      count(*) FILTER (WHERE status = 'pending')::integer AS pending,
      count(*) FILTER (WHERE status = 'generating')::integer AS generating,
      count(*) FILTER (WHERE announcement = 'due')::integer AS awaiting_announcement,
      count(*) FILTER (WHERE status = 'failed'
        AND COALESCE(completed_at, created_at) >= now() - interval '24 hours')::integer AS failed_24h,
      count(*) FILTER (WHERE status = 'timeout'
        AND COALESCE(completed_at, created_at) >= now() - interval '24 hours')::integer AS timeout_24h,
      COALESCE(sum(duration_seconds) FILTER (WHERE status IN ('pending', 'generating')), 0)::integer
        AS video_seconds_at_risk,
      min(created_at) FILTER (WHERE status IN ('pending', 'generating')) AS oldest_unfinished_at
    FROM ${REQUESTS}
    WHERE guild_id = $1`;
}

/** The guild's claimable rows with lease liveness and attempt count, oldest first. $1 guild_id · $2 limit · $3 offset */
export function listUnfinished(): string {
  return `SELECT r.*,
      (r.lease_owner IS NOT NULL AND r.lease_expires_at >= now()) AS lease_live,
      (SELECT count(*) FROM ${ATTEMPTS} a WHERE a.request_id = r.id)::integer AS attempt_count
    FROM ${REQUESTS} r
    WHERE r.guild_id = $1 AND (r.status IN ('pending', 'generating') OR r.announcement = 'due')
    ORDER BY r.created_at ASC, r.id
    LIMIT $2 OFFSET $3`;
}

/** $1 guild_id */
export function countUnfinished(): string {
  return `SELECT count(*)::integer AS count FROM ${REQUESTS}
    WHERE guild_id = $1 AND ${CLAIMABLE}`;
}

/**
 * Autocomplete: the guild's requests whose id starts with $2 (hex digits and dashes only; the service cleans it),
 * newest first; with $4 only pending and generating ones. $1 guild_id · $2 id prefix · $3 limit · $4 unfinished only
 */
export function findForGuild(): string {
  return `SELECT * FROM ${REQUESTS}
    WHERE guild_id = $1 AND id::text LIKE $2 || '%'
      AND (NOT $4::boolean OR status IN ('pending', 'generating'))
    ORDER BY created_at DESC
    LIMIT $3`;
}
