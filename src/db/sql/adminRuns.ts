/** The one `/resume run` of a server at a time (table admin_runs): taken, kept alive and given back under a token. */
import { MS, ownerDead } from './tables';
import { statement } from './statement';

/**
 * Takes the server's run if nobody holds it (or its holder's lease ran out, or its instance stopped beating); returns the new row, or nothing when a
 * live run holds it.
 */
export const takeAdminRun = statement<{
  guildId: string;
  adminId: string;
  owner: string;
  token: string;
  leaseMs: number;
}>(
  ['guildId', 'adminId', 'owner', 'token', 'leaseMs'],
  `INSERT INTO admin_runs (guild_id, admin_id, owner, token, started_at, lease_expires_at)
    VALUES ($guildId, $adminId, $owner, $token, now(), now() + $leaseMs::bigint ${MS})
    ON CONFLICT (guild_id) DO UPDATE
      SET admin_id = EXCLUDED.admin_id, owner = EXCLUDED.owner, token = EXCLUDED.token,
        started_at = EXCLUDED.started_at, lease_expires_at = EXCLUDED.lease_expires_at
      WHERE admin_runs.lease_expires_at < now() OR ${ownerDead('admin_runs.owner')}
    RETURNING guild_id`,
);

/** Who runs the server's resume now (a live run only). */
export const currentAdminRun = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT admin_id, started_at FROM admin_runs WHERE guild_id = $guildId AND lease_expires_at >= now()
    AND NOT ${ownerDead('admin_runs.owner')}`,
);

export const renewAdminRun = statement<{ guildId: string; token: string; leaseMs: number }>(
  ['guildId', 'token', 'leaseMs'],
  `UPDATE admin_runs SET lease_expires_at = now() + $leaseMs::bigint ${MS}
    WHERE guild_id = $guildId AND token = $token
    RETURNING guild_id`,
);

export const endAdminRun = statement<{ guildId: string; token: string }>(
  ['guildId', 'token'],
  `DELETE FROM admin_runs WHERE guild_id = $guildId AND token = $token`,
);
