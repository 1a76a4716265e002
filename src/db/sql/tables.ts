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
import {
  DEFAULT_DURATION_SECONDS,
  NOT_BILLED_FAILURE_KINDS,
  NOT_BILLED_FAILURE_REASONS,
  QUOTA_COUNTED_FAILURE_KINDS,
  QUOTA_COUNTED_WHEN_BILLED_KINDS,
  SAMPLES_PER_REQUEST,
} from '../../domain/policy';

export const MS = `* interval '1 millisecond'`;
export const REQUESTS = 'video_requests';
export const ATTEMPTS = 'video_request_attempts';
export const GUILD_SETTINGS = 'guild_settings';
export const GUILD_SETTING_CHANGES = 'guild_setting_changes';

/** Rows a worker may claim: unfinished, or finished with an announcement still due. */
export const CLAIMABLE = `(status IN ('pending', 'generating') OR announcement = 'due')`;
/** CLAIMABLE of the request row aliased `r`. */
export const CLAIMABLE_R = `(r.status IN ('pending', 'generating') OR r.announcement = 'due')`;
export const INSTANCES = 'bot_instances';

/**
 * The instance `owner` (an SQL expression naming a lease owner) is known and dead: it stopped cleanly, or it has not
 * beaten for its own `dead_after_ms`. An owner with no row (an older bot version, or a row pruned long after its
 * leases ran out) is not known to be dead: its leases wait for their expiry.
 */
export function ownerDead(owner: string): string {
  return `EXISTS (SELECT 1 FROM ${INSTANCES} dead_i WHERE dead_i.instance_id = ${owner}
      AND (dead_i.stopped_at IS NOT NULL OR dead_i.last_beat_at < now() - dead_i.dead_after_ms ${MS}))`;
}

/** The lease of request row `r` is free: empty, run out, or held by an instance that stopped beating. */
export function leaseFree(r: string): string {
  return `(${r}.lease_expires_at IS NULL OR ${r}.lease_expires_at < now() OR ${ownerDead(`${r}.lease_owner`)})`;
}

/** Lease empty, run out, or its holder dead (the claim statements' table is not aliased). */
export const LEASE_FREE = leaseFree(REQUESTS);
/** The lease a fenced write is made under: `$id`, `$fence`, `$owner` (FenceValues). */
export const FENCED = `id = $id AND fence = $fence AND lease_owner = $owner`;
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** policy.maybeBilled of the request row `r`: it has an operation, or an attempt sent to Veo that Veo did not refuse. */
export function maybeBilled(r: string): string {
  return `(${r}.operation_name IS NOT NULL OR EXISTS (SELECT 1 FROM ${ATTEMPTS} billed_a
      WHERE billed_a.request_id = ${r}.id AND billed_a.state NOT IN ('rejected', 'returned')))`;
}

/**
 * policy.countsAgainstQuota of the request row `r`: failed or timed-out rows count only when the user caused them, or
 * when an admin expired them after a submit.
 */
export function countsAgainstQuota(r: string): string {
  return `(${r}.status NOT IN ('failed', 'timeout') OR ${r}.failure_kind IN (${list(QUOTA_COUNTED_FAILURE_KINDS)})
      OR (${r}.failure_kind IN (${list(QUOTA_COUNTED_WHEN_BILLED_KINDS)}) AND ${maybeBilled(r)}))`;
}

/**
 * policy.holdsReservation of the request row `r`, the rule of every budget: held unless nothing was billed (never
 * submitted, every submit refused, or Google failed or filtered the operation).
 */
export function holdsReservation(r: string): string {
  return `(${r}.status NOT IN ('failed', 'timeout') OR (
      COALESCE(${r}.failure_kind, '') NOT IN (${list(NOT_BILLED_FAILURE_KINDS)})
      AND COALESCE(${r}.failure_reason, '') NOT IN (${list(NOT_BILLED_FAILURE_REASONS)})
      AND ${maybeBilled(r)}))`;
}

/** policy.reservedSeconds of the request row `r`. */
export function reservedSeconds(r: string): string {
  return `(COALESCE(${r}.duration_seconds, ${DEFAULT_DURATION_SECONDS}) * ${SAMPLES_PER_REQUEST})`;
}

export const HOURS = `* interval '1 hour'`;
/** Milliseconds from created_at to now, capped to the integer column. */
export const DURATION_MS = `LEAST(round(extract(epoch FROM (now() - created_at)) * 1000), 2147483647)::integer`;
