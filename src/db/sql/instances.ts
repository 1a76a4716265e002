/**
 * Instances (table bot_instances): every bot process records itself and beats; a lease held by an instance that
 * stopped beating is free at once (tables.ts `leaseFree`). See src/services/InstanceHeartbeat.ts.
 */
import { statement } from './statement';
import { CLAIMABLE_R, INSTANCES, leaseFree, MS, REQUESTS } from './tables';

/** An instance is dead when it stopped cleanly or has not beaten for its own `dead_after_ms`. */
const DEAD = (i: string) => `(${i}.stopped_at IS NOT NULL OR ${i}.last_beat_at < now() - ${i}.dead_after_ms ${MS})`;

/** The row of one instance id, with how long it has been quiet by the database clock. */
export const getInstance = statement<{ instanceId: string }>(
  ['instanceId'],
  `SELECT i.instance_id, i.incarnation, i.last_beat_at, i.beat_interval_ms, i.dead_after_ms,
      (i.stopped_at IS NOT NULL) AS stopped, ${DEAD('i')} AS dead,
      GREATEST(0, extract(epoch FROM (now() - i.last_beat_at)) * 1000)::double precision AS quiet_ms
    FROM ${INSTANCES} i WHERE i.instance_id = $instanceId`,
);

/** The values `registerInstance` binds (InstanceRepository.register takes them as they are). */
export interface InstanceRegistration {
  instanceId: string;
  incarnation: string;
  /** the incarnation seen under this id (null: no row), replaced only if it is still that one and not beating */
  previous: string | null;
  /** the only process on this database (embedded): replace the previous incarnation without waiting */
  exclusive: boolean;
  shards: number[];
  beatIntervalMs: number;
  deadAfterMs: number;
}

/**
 * Records this process as `instanceId` under a new `incarnation`. A row already there is replaced only when it is the
 * incarnation the caller saw (`previous`) and that one stopped, or has been quiet for two of its beats (a restart of a
 * process that was killed: a live one beats within one interval), or at once when the caller is `exclusive` (the
 * embedded database: its DATA_DIR lock already proved every earlier process gone). Returns the row when recorded,
 * nothing otherwise.
 */
export const registerInstance = statement<InstanceRegistration>(
  ['instanceId', 'incarnation', 'previous', 'exclusive', 'shards', 'beatIntervalMs', 'deadAfterMs'],
  `INSERT INTO ${INSTANCES} AS i (instance_id, incarnation, shards, started_at, last_beat_at, beat_interval_ms,
      dead_after_ms, stopped_at)
    VALUES ($instanceId, $incarnation, $shards::integer[], now(), now(), $beatIntervalMs::integer,
      $deadAfterMs::integer, NULL)
    ON CONFLICT (instance_id) DO UPDATE
      SET incarnation = EXCLUDED.incarnation, shards = EXCLUDED.shards, started_at = EXCLUDED.started_at,
        last_beat_at = EXCLUDED.last_beat_at, beat_interval_ms = EXCLUDED.beat_interval_ms,
        dead_after_ms = EXCLUDED.dead_after_ms, stopped_at = NULL
      WHERE i.incarnation = $previous::text AND ($exclusive::boolean OR i.stopped_at IS NOT NULL
        OR i.last_beat_at < now() - LEAST(i.dead_after_ms, 2 * i.beat_interval_ms) ${MS})
    RETURNING i.instance_id, i.started_at`,
);

/**
 * Frees every lease held under `instanceId` (its previous incarnation's, when a process starts with the id of a
 * dead one): the rows become claimable at once, and the old incarnation's fenced writes are refused (the lease owner
 * no longer matches; the claim that follows bumps the fence too).
 */
export const freeLeasesOf = statement<{ instanceId: string }>(
  ['instanceId'],
  `UPDATE ${REQUESTS} SET lease_owner = NULL, lease_expires_at = NULL
    WHERE lease_owner = $instanceId
    RETURNING id`,
);

/**
 * The embedded database admits one process at a time (its DATA_DIR lock): every other instance recorded in it is gone,
 * whatever its last beat says. Marked stopped, so their leases are free at once and admins do not see them as live.
 */
export const stopOtherInstances = statement<{ instanceId: string }>(
  ['instanceId'],
  `UPDATE ${INSTANCES} SET stopped_at = now()
    WHERE instance_id <> $instanceId AND stopped_at IS NULL
    RETURNING instance_id`,
);

/** The server runs (`/resume run`) a dead incarnation of `instanceId` held. */
export const endAdminRunsOf = statement<{ instanceId: string }>(
  ['instanceId'],
  `DELETE FROM admin_runs WHERE owner = $instanceId`,
);

/** One beat of the live incarnation (nothing returned: the row is gone or another process holds the id now). */
export const beat = statement<{ instanceId: string; incarnation: string; shards: number[] }>(
  ['instanceId', 'incarnation', 'shards'],
  `UPDATE ${INSTANCES} SET last_beat_at = now(), shards = $shards::integer[]
    WHERE instance_id = $instanceId AND incarnation = $incarnation AND stopped_at IS NULL
    RETURNING instance_id`,
);

/** A clean stop: the row stays (for the operator) but every lease still under the id is free at once. */
export const markStopped = statement<{ instanceId: string; incarnation: string }>(
  ['instanceId', 'incarnation'],
  `UPDATE ${INSTANCES} SET stopped_at = now()
    WHERE instance_id = $instanceId AND incarnation = $incarnation
    RETURNING instance_id`,
);

/** The instances not stopped, the longest running first, with whether each still beats. */
export const listInstances = statement<Record<string, never>>(
  [],
  `SELECT i.instance_id, i.shards, i.started_at, i.last_beat_at, ${DEAD('i')} AS dead
    FROM ${INSTANCES} i
    WHERE i.stopped_at IS NULL
    ORDER BY i.started_at, i.instance_id`,
);

/**
 * Forgets instances quiet for an hour (no lease outlives LEASE_DURATION_MS's maximum of an hour, so none of theirs
 * is held any more): a fleet with a fresh INSTANCE_ID per start does not pile up rows.
 */
export const pruneInstances = statement<{ instanceId: string }>(
  ['instanceId'],
  `DELETE FROM ${INSTANCES}
    WHERE instance_id <> $instanceId AND last_beat_at < now() - interval '1 hour'
    RETURNING instance_id`,
);

/**
 * Whether another instance's work can be taken now: a claimable request whose lease some other owner held and that
 * is free (its holder stopped beating, or the lease ran out); or, while another instance stopped cleanly within its
 * own `dead_after_ms`, a claimable request with no lease at all (a graceful shutdown gives its leases back, so they
 * carry no owner: without this they would wait for the next sweep, SWEEP_INTERVAL_MS, during a rolling restart).
 * Other released leases (a request deferred to a later sweep) are left to the sweeps.
 */
export const takeoverWaiting = statement<{ owner: string }>(
  ['owner'],
  `SELECT EXISTS (SELECT 1 FROM ${REQUESTS} r
      WHERE ${CLAIMABLE_R} AND r.lease_owner IS NOT NULL AND r.lease_owner <> $owner AND ${leaseFree('r')}
    ) OR (
      EXISTS (SELECT 1 FROM ${INSTANCES} s
        WHERE s.instance_id <> $owner AND s.stopped_at IS NOT NULL AND s.stopped_at > now() - s.dead_after_ms ${MS})
      AND EXISTS (SELECT 1 FROM ${REQUESTS} r WHERE ${CLAIMABLE_R} AND r.lease_owner IS NULL)
    ) AS waiting`,
);
