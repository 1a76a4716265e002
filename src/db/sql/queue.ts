/**
 * The submit queue (issue #13): a `pending` request waits for a submit permit, and a permit is the write-ahead attempt
 * row itself, inserted under one advisory lock shared by every instance. What a permit may use is counted in
 * PostgreSQL, from the rows:
 *
 * - the submit window (VEO_SUBMITS_PER_MINUTE): attempts Veo answered within the window, plus those still being sent.
 *   Counted from the answer, which comes after Google counted the submit, so this window never runs ahead of Google's.
 *   Attempts Veo answered with 429 are not counted (Google refused them);
 * - operations in flight (VEO_MAX_IN_FLIGHT): `generating` requests, plus submits still being sent;
 * - the gate: no permit before the latest retry delay Google gave with a 429 (`throttled_until`).
 *
 * The order is round-robin by server (each server's first waiting request, then each one's second, …; within a round
 * the server served longest ago goes first, a server never served first of all), first come first served within a
 * server.
 */
import { statement } from './statement';
import { ATTEMPTS, leaseFree, MS, REQUESTS } from './tables';

/** Serialises permit grants of every instance until the end of the transaction. */
export const lockPermits = statement<Record<string, never>>(
  [],
  `SELECT pg_advisory_xact_lock(hashtext('veobot:submit-permits'))`,
);

/** An attempt being sent counts for an hour at most: past that it is an ambiguous leftover, no longer in flight. */
const SENDING = (a: string) =>
  `(${a}.state = 'submitting' AND ${a}.created_at > now() - interval '1 hour'
      AND EXISTS (SELECT 1 FROM ${REQUESTS} sr WHERE sr.id = ${a}.request_id AND sr.status = 'pending'))`;

/**
 * What permits may use now (QueueCapacity, in ms from now by the database clock): submits counted in the window of
 * `windowMs`, when the oldest of them leaves it, operations in flight, how long Google's retry delay still runs, and
 * how many 429s came in the last ten minutes (the backoff when Google gave no delay).
 */
export const queueCapacity = statement<{ windowMs: number }>(
  ['windowMs'],
  `SELECT
      (SELECT count(*) FROM ${ATTEMPTS} a
        WHERE a.throttled_until IS NULL
          AND (a.answered_at > now() - $windowMs::bigint ${MS}
            OR (${SENDING('a')} AND a.created_at > now() - $windowMs::bigint ${MS})))::integer AS window_used,
      (SELECT GREATEST(0, extract(epoch FROM min(a.answered_at) + $windowMs::bigint ${MS} - now()) * 1000)
        FROM ${ATTEMPTS} a
        WHERE a.throttled_until IS NULL AND a.answered_at > now() - $windowMs::bigint ${MS})::double precision
        AS next_window_free_ms,
      ((SELECT count(*) FROM ${REQUESTS} g WHERE g.status = 'generating')
        + (SELECT count(*) FROM ${ATTEMPTS} a WHERE ${SENDING('a')}))::integer AS in_flight,
      COALESCE((SELECT GREATEST(0, extract(epoch FROM max(a.throttled_until) - now()) * 1000)
        FROM ${ATTEMPTS} a
        WHERE a.throttled_until IS NOT NULL AND a.answered_at > now() - interval '1 hour'), 0)::double precision
        AS gate_ms,
      (SELECT count(*) FROM ${ATTEMPTS} a
        WHERE a.throttled_until IS NOT NULL AND a.answered_at > now() - interval '10 minutes')::integer
        AS recent_throttles`,
);

/**
 * Requests waiting for a permit: pending, with no attempt being sent or accepted. One whose images are still to be
 * fetched from Discord (ImageIntake) does not ask yet, so it holds nobody back; it takes its place (by age) once stored.
 */
const QUEUED = `SELECT r.id, r.guild_id, r.created_at,
        (r.lease_owner IS NOT NULL AND NOT ${leaseFree('r')}) AS live
      FROM ${REQUESTS} r
      WHERE r.status = 'pending' AND r.image_source_url IS NULL AND r.last_frame_source_url IS NULL
        AND NOT EXISTS (SELECT 1 FROM ${ATTEMPTS} qa WHERE qa.request_id = r.id AND qa.state IN ('submitting', 'accepted'))`;

/**
 * The queue in order. `position`: place among every waiting request (what a requester is shown). `grant_position`:
 * place among those a live instance holds (a request whose holder died waits for a sweep to claim it, and holds
 * nobody back meanwhile); a permit goes to the request at grant position p when p permits are free.
 */
const ORDERED = `WITH queued AS (
      ${QUEUED}
    ),
    served AS (
      SELECT sr.guild_id, max(a.created_at) AS last_served
      FROM ${ATTEMPTS} a JOIN ${REQUESTS} sr ON sr.id = a.request_id
      WHERE a.throttled_until IS NULL
        AND (a.answered_at > now() - interval '1 hour' OR a.state = 'submitting')
        AND sr.guild_id IN (SELECT DISTINCT q.guild_id FROM queued q)
      GROUP BY sr.guild_id
    ),
    ranked AS (
      SELECT q.id, q.guild_id, q.live, s.last_served,
        row_number() OVER (PARTITION BY q.guild_id ORDER BY q.created_at, q.id) AS guild_rank,
        row_number() OVER (PARTITION BY q.guild_id, q.live ORDER BY q.created_at, q.id) AS live_rank,
        min(q.created_at) OVER (PARTITION BY q.guild_id) AS guild_head
      FROM queued q LEFT JOIN served s ON s.guild_id = q.guild_id
    ),
    ordered AS (
      SELECT rk.id, rk.guild_id, rk.live,
        row_number() OVER (ORDER BY rk.guild_rank, rk.last_served NULLS FIRST, rk.guild_head, rk.guild_id)
          AS position,
        row_number() OVER (PARTITION BY rk.live
          ORDER BY rk.live_rank, rk.last_served NULLS FIRST, rk.guild_head, rk.guild_id) AS grant_position,
        count(*) OVER () AS length
      FROM ranked rk
    )`;

/**
 * Where each of `ids` stands: its status, fence and lease owner (a holder checks its lease is still its own), and,
 * when it waits for a permit, its position, grant position (null unless a live instance holds it) and the queue's
 * length.
 */
export const queuePositions = statement<{ ids: string[] }>(
  ['ids'],
  `${ORDERED}
    SELECT r.id, r.status, r.fence, r.lease_owner, o.position::integer AS position,
      CASE WHEN o.live THEN o.grant_position::integer END AS grant_position, o.length::integer AS length
    FROM ${REQUESTS} r LEFT JOIN ordered o ON o.id = r.id
    WHERE r.id = ANY($ids::uuid[])`,
);

/** How many of one server's requests wait for a permit, and since when the oldest does. */
export const guildQueueStats = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT count(*)::integer AS length, min(q.created_at) AS oldest
    FROM (${QUEUED} AND r.guild_id = $guildId) q`,
);

/** How many requests of all servers wait for a permit, and since when the oldest does (metrics). */
export const queueStats = statement<Record<string, never>>(
  [],
  `SELECT count(*)::integer AS length, min(q.created_at) AS oldest FROM (${QUEUED}) q`,
);
