/**
 * Budgets: the video-seconds reserved per rolling window by one server and by all of them together, counted over the
 * request rows themselves (policy.holdsReservation), so there is no second source of truth to drift. Checked under
 * advisory locks taken in the transaction that inserts the row, always in the order global → guild → user
 * (RequestRepository.createRequest), so concurrent requests on any number of instances can never overshoot.
 */
import { statement } from './statement';
import { countsAgainstQuota, holdsReservation, MS, REQUESTS, reservedSeconds } from './tables';

/** Serialises budget checks of all servers together until the end of the transaction (taken first). */
export const lockGlobalBudget = statement<Record<string, never>>(
  [],
  `SELECT pg_advisory_xact_lock(hashtext('veobot:budget:global'))`,
);

/** Serialises budget checks of one server until the end of the transaction (taken after the global lock). */
export const lockGuildBudget = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT pg_advisory_xact_lock(hashtext('veobot:budget:guild:' || $guildId::text))`,
);

/** Video-seconds the server's requests since `since` hold. */
export const guildBudgetUse = statement<{ guildId: string; since: Date }>(
  ['guildId', 'since'],
  `SELECT COALESCE(sum(${reservedSeconds('r')}), 0)::integer AS used
    FROM ${REQUESTS} r
    WHERE r.guild_id = $guildId AND r.created_at >= $since::timestamptz AND ${holdsReservation('r')}`,
);

/** Video-seconds all requests since `since` hold. */
export const globalBudgetUse = statement<{ since: Date }>(
  ['since'],
  `SELECT COALESCE(sum(${reservedSeconds('r')}), 0)::integer AS used
    FROM ${REQUESTS} r
    WHERE r.created_at >= $since::timestamptz AND ${holdsReservation('r')}`,
);

/**
 * When room frees up for `need` more seconds: the oldest reservations leave the window one by one; the first whose
 * leaving brings `used` down to `limit - need` says when (its created_at + the window). No row: not within the window.
 */
function freesAt(scope: string): string {
  return `SELECT t.created_at + $windowMs::bigint ${MS} AS frees_at FROM (
      SELECT r.created_at, sum(${reservedSeconds('r')}) OVER (ORDER BY r.created_at, r.id) AS freed
      FROM ${REQUESTS} r
      WHERE ${scope} r.created_at >= $since::timestamptz AND ${holdsReservation('r')}
    ) t
    WHERE $used::integer - t.freed + $need::integer <= $limit::integer
    ORDER BY t.created_at
    LIMIT 1`;
}

interface FreesAtValues {
  since: Date;
  windowMs: number;
  used: number;
  need: number;
  limit: number;
}
const FREES_AT_NAMES = ['since', 'windowMs', 'used', 'need', 'limit'] as const;

export const guildBudgetFreesAt = statement<FreesAtValues & { guildId: string }>(
  [...FREES_AT_NAMES, 'guildId'],
  freesAt('r.guild_id = $guildId AND'),
);

export const globalBudgetFreesAt = statement<FreesAtValues>(FREES_AT_NAMES, freesAt(''));

/**
 * The user's requests counting against the quota since `since` (policy.countsAgainstQuota): in every server, or only
 * in `guildId` (a server's own member quota).
 */
export const quotaUse = statement<{ userId: string; since: Date; requestType: string; guildId: string | null }>(
  ['userId', 'since', 'requestType', 'guildId'],
  `SELECT count(*)::integer AS count
    FROM ${REQUESTS} r
    WHERE r.user_id = $userId AND r.request_type = $requestType AND r.created_at >= $since::timestamptz
      AND ($guildId::text IS NULL OR r.guild_id = $guildId::text)
      AND ${countsAgainstQuota('r')}`,
);

/**
 * When the user's next quota slot frees: the `offset`-th oldest request counting against the quota (0-based, in every
 * server or only in `guildId`) leaves the window then. No row: nothing to wait for.
 */
export const quotaSlotFreesAt = statement<{
  userId: string;
  since: Date;
  requestType: string;
  guildId: string | null;
  offset: number;
  windowMs: number;
}>(
  ['userId', 'since', 'requestType', 'guildId', 'offset', 'windowMs'],
  `SELECT r.created_at + $windowMs::bigint ${MS} AS frees_at
    FROM ${REQUESTS} r
    WHERE r.user_id = $userId AND r.request_type = $requestType AND r.created_at >= $since::timestamptz
      AND ($guildId::text IS NULL OR r.guild_id = $guildId::text)
      AND ${countsAgainstQuota('r')}
    ORDER BY r.created_at, r.id
    OFFSET $offset::integer LIMIT 1`,
);
