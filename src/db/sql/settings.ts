/** Per-server settings (`/settings`) and the record of every change, with who made it. */
import { statement } from './statement';
import { GUILD_SETTING_CHANGES, GUILD_SETTINGS } from './tables';

export const getGuildSettings = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT * FROM ${GUILD_SETTINGS} WHERE guild_id = $guildId`,
);

/** Serialises changes of one server's settings until the end of the transaction (read, compare, write, record). */
export const lockGuildSettings = statement<{ guildId: string }>(
  ['guildId'],
  `SELECT pg_advisory_xact_lock(hashtext('veobot:settings:' || $guildId::text))`,
);

/** Writes a server's whole settings row (NULL = the operator's default). */
export const upsertGuildSettings = statement<{
  guildId: string;
  allowedChannelIds: string[] | null;
  memberDailyQuota: number | null;
  dailyVideoSeconds: number | null;
  allowHd: boolean | null;
  allowAudio: boolean | null;
  maxLengthSeconds: number | null;
  updatedBy: string;
}>(
  [
    'guildId',
    'allowedChannelIds',
    'memberDailyQuota',
    'dailyVideoSeconds',
    'allowHd',
    'allowAudio',
    'maxLengthSeconds',
    'updatedBy',
  ],
  `INSERT INTO ${GUILD_SETTINGS} (guild_id, allowed_channel_ids, member_daily_quota, daily_video_seconds, allow_hd,
      allow_audio, max_length_seconds, updated_at, updated_by)
    VALUES ($guildId, $allowedChannelIds::text[], $memberDailyQuota::integer, $dailyVideoSeconds::integer,
      $allowHd::boolean, $allowAudio::boolean, $maxLengthSeconds::integer, now(), $updatedBy)
    ON CONFLICT (guild_id) DO UPDATE SET
      allowed_channel_ids = EXCLUDED.allowed_channel_ids, member_daily_quota = EXCLUDED.member_daily_quota,
      daily_video_seconds = EXCLUDED.daily_video_seconds, allow_hd = EXCLUDED.allow_hd,
      allow_audio = EXCLUDED.allow_audio, max_length_seconds = EXCLUDED.max_length_seconds,
      updated_at = now(), updated_by = EXCLUDED.updated_by
    RETURNING *`,
);

export const insertSettingChange = statement<{
  guildId: string;
  userId: string;
  setting: string;
  oldValue: string | null;
  newValue: string | null;
}>(
  ['guildId', 'userId', 'setting', 'oldValue', 'newValue'],
  `INSERT INTO ${GUILD_SETTING_CHANGES} (guild_id, user_id, setting, old_value, new_value)
    VALUES ($guildId, $userId, $setting, $oldValue, $newValue)
    RETURNING *`,
);

/** A server's latest setting changes, newest first. */
export const recentSettingChanges = statement<{ guildId: string; limit: number }>(
  ['guildId', 'limit'],
  `SELECT * FROM ${GUILD_SETTING_CHANGES} WHERE guild_id = $guildId ORDER BY changed_at DESC, id DESC LIMIT $limit`,
);
