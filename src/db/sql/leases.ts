/** Leases: claiming a request (one worker each), keeping the claim alive and giving it back. */
import { FENCE_NAMES, statement, type FenceValues } from './statement';
import { ATTEMPTS, CLAIMABLE, FENCED, HOURS, LEASE_FREE, MS, REQUESTS } from './tables';

/**
 * Leases the row a `candidate` query (id, previous_lease_owner; locked with SKIP LOCKED) picked: sets owner and
 * expiry, increments the fence. The one way every claim takes a lease. Uses `$owner` and `$leaseMs`.
 */
function leaseCandidate(candidate: string): string {
  return `WITH candidate AS (
      ${candidate}
    )
    UPDATE ${REQUESTS} r
      SET lease_owner = $owner, lease_expires_at = now() + $leaseMs::bigint ${MS}, fence = r.fence + 1, updated_at = now()
    FROM candidate c
    WHERE r.id = c.id
    RETURNING r.*, c.previous_lease_owner`;
}

/**
 * Claim the oldest claimable row whose lease is free (optionally in one guild, or one given row):
 * `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`. The CTE also returns the previous lease owner
 * (takeover detection). `excludeIds` lists requests the claimer is itself still driving (its lease may have run out
 * during a database outage): those are never claimed a second time by the same process.
 */
export const claim = statement<{
  owner: string;
  leaseMs: number;
  guildId: string | null;
  requestId: string | null;
  excludeIds: string[];
}>(
  ['owner', 'leaseMs', 'guildId', 'requestId', 'excludeIds'],
  leaseCandidate(`SELECT id, lease_owner AS previous_lease_owner FROM ${REQUESTS}
      WHERE ${CLAIMABLE}
        AND ${LEASE_FREE}
        AND ($guildId::text IS NULL OR guild_id = $guildId::text)
        AND ($requestId::uuid IS NULL OR id = $requestId::uuid)
        AND NOT (id = ANY($excludeIds::uuid[]))
      ORDER BY created_at
      LIMIT 1
      FOR UPDATE SKIP LOCKED`),
);

/**
 * Claim one timed-out request whose Veo operation may still finish (it was paid for): timed out waiting for Veo, or
 * expired by an admin after its submit (with an operation on the row or on an attempt accepted after the expiry, or an
 * ambiguous attempt whose output folder may still fill);
 * created within `windowHours`, not checked for `minIntervalMs` (claiming stamps updated_at), lease free, nothing
 * left to announce.
 */
export const claimLateDelivery = statement<{
  owner: string;
  leaseMs: number;
  windowHours: number;
  minIntervalMs: number;
}>(
  ['owner', 'leaseMs', 'windowHours', 'minIntervalMs'],
  leaseCandidate(`SELECT id, lease_owner AS previous_lease_owner FROM ${REQUESTS}
      WHERE status = 'timeout' AND failure_kind IN ('google', 'admin')
        AND (operation_name IS NOT NULL OR EXISTS (SELECT 1 FROM ${ATTEMPTS} a
          WHERE a.request_id = ${REQUESTS}.id AND a.state IN ('submitting', 'accepted')))
        AND (announcement IS NULL OR announcement <> 'due')
        AND created_at >= now() - $windowHours::integer ${HOURS}
        AND COALESCE(updated_at, created_at) < now() - $minIntervalMs::bigint ${MS}
        AND ${LEASE_FREE}
      ORDER BY COALESCE(updated_at, created_at)
      LIMIT 1
      FOR UPDATE SKIP LOCKED`),
);

/** Extend the leases `owner` holds on claimable rows (all of them, or only those in `ids`). */
export const renewLeases = statement<{ owner: string; leaseMs: number; ids: string[] | null }>(
  ['owner', 'leaseMs', 'ids'],
  `UPDATE ${REQUESTS}
    SET lease_expires_at = now() + $leaseMs::bigint ${MS}
    WHERE lease_owner = $owner AND ${CLAIMABLE} AND ($ids::uuid[] IS NULL OR id = ANY($ids::uuid[]))
    RETURNING id`,
);

/** Give a lease back (fenced). */
export const releaseLease = statement<FenceValues>(
  FENCE_NAMES,
  `UPDATE ${REQUESTS}
    SET lease_owner = NULL, lease_expires_at = NULL
    WHERE ${FENCED}
    RETURNING id`,
);
