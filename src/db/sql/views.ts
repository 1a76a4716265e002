/** Read-only views: metrics counts (all guilds) and the admin views of one guild. */
import { statement } from './statement';
import { ATTEMPTS, CLAIMABLE, leaseFree, REQUESTS } from './tables';

/** All guilds (metrics): claimable rows by state. */
export const countUnfinishedByState = statement<Record<string, never>>(
  [],
  `SELECT
      count(*) FILTER (WHERE status = 'pending')::integer AS pending,
      count(*) FILTER (WHERE status = 'generating')::integer AS generating,
      count(*) FILTER (WHERE announcement = 'due')::integer AS awaiting_announcement
    FROM ${REQUESTS}
    WHERE ${CLAIMABLE}`,
);

/** Admin summary of one guild. */
export const guildSummary = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT
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
    WHERE guild_id = $guildId`,
);

/** The guild's latest failed or timed-out requests of the last 24 hours, newest first. */
export const recentFailures = statement<{ guildId: string; limit: number }>(
  ['guildId', 'limit'],
  `SELECT * FROM ${REQUESTS}
    WHERE guild_id = $guildId AND status IN ('failed', 'timeout')
      AND COALESCE(completed_at, created_at) >= now() - interval '24 hours'
    ORDER BY COALESCE(completed_at, created_at) DESC
    LIMIT $limit`,
);

/** The guild's claimable rows with lease liveness and attempt count, oldest first. */
export const listUnfinished = statement<{ guildId: string; limit: number; offset: number }>(
  ['guildId', 'limit', 'offset'],
  `SELECT r.*,
      (r.lease_owner IS NOT NULL AND NOT ${leaseFree('r')}) AS lease_live,
      (SELECT count(*) FROM ${ATTEMPTS} a WHERE a.request_id = r.id)::integer AS attempt_count
    FROM ${REQUESTS} r
    WHERE r.guild_id = $guildId AND (r.status IN ('pending', 'generating') OR r.announcement = 'due')
    ORDER BY r.created_at ASC, r.id
    LIMIT $limit OFFSET $offset`,
);

export const countUnfinished = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT count(*)::integer AS count FROM ${REQUESTS}
    WHERE guild_id = $guildId AND ${CLAIMABLE}`,
);

/**
 * Autocomplete: the guild's requests whose id starts with `idPrefix` (hex digits and dashes only; the repository
 * cleans it), newest first; with `unfinishedOnly` only pending and generating ones.
 */
export const findForGuild = statement<{ guildId: string; idPrefix: string; limit: number; unfinishedOnly: boolean }>(
  ['guildId', 'idPrefix', 'limit', 'unfinishedOnly'],
  `SELECT * FROM ${REQUESTS}
    WHERE guild_id = $guildId AND id::text LIKE $idPrefix || '%'
      AND (NOT $unfinishedOnly::boolean OR status IN ('pending', 'generating'))
    ORDER BY created_at DESC
    LIMIT $limit`,
);

/** `/history`: one member's latest requests in one guild, newest first. */
export const history = statement<{ guildId: string; userId: string; limit: number }>(
  ['guildId', 'userId', 'limit'],
  `SELECT * FROM ${REQUESTS}
    WHERE guild_id = $guildId AND user_id = $userId
    ORDER BY created_at DESC, id
    LIMIT $limit`,
);
