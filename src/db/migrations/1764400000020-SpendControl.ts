import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Spend control (issue #13).
 *
 * - `video_request_attempts.answered_at`: when Veo's answer to a submit arrived. The submit rate
 *   (VEO_SUBMITS_PER_MINUTE) is counted from it: Google counts a submit when it receives it, which is before we hear
 *   its answer, so a window counted from the answer never runs ahead of Google's. Backfilled for the last day (older
 *   attempts are outside every window).
 * - `video_request_attempts.throttled_until`: Veo answered 429 (quota exhausted); no submit before this time. Such an
 *   attempt was refused, so nothing was billed.
 * - Attempt state `returned`: a submit permit given back unused (the request stopped waiting while its permit was
 *   written; it was never sent to Veo).
 * - `guild_settings`: what a server set with `/settings set` (NULL = the operator's default), and
 *   `guild_setting_changes`, who changed what and when.
 * - Indexes for the budgets (24-hour sums over all servers), the submit window and the queue of pending requests.
 */
export class SpendControl1764400000020 implements MigrationInterface {
  public readonly name = 'SpendControl1764400000020';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE video_request_attempts
        ADD COLUMN IF NOT EXISTS answered_at timestamptz,
        ADD COLUMN IF NOT EXISTS throttled_until timestamptz`);
    await q.query(`
      ALTER TABLE video_request_attempts
        DROP CONSTRAINT IF EXISTS video_request_attempts_state_check,
        ADD CONSTRAINT video_request_attempts_state_check
          CHECK (state IN ('submitting', 'accepted', 'rejected', 'abandoned', 'returned'))`);
    await q.query(`
      UPDATE video_request_attempts SET answered_at = COALESCE(accepted_at, created_at)
        WHERE state <> 'submitting' AND created_at > now() - interval '1 day'`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_request_attempts_answered ON video_request_attempts (answered_at)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_request_attempts_submitting ON video_request_attempts (request_id)
        WHERE state = 'submitting'`,
    );
    await q.query(`CREATE INDEX IF NOT EXISTS idx_video_requests_created ON video_requests (created_at)`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_queued ON video_requests (guild_id, created_at)
        WHERE status = 'pending'`,
    );
    await q.query(`
      CREATE TABLE IF NOT EXISTS guild_settings (
        guild_id text PRIMARY KEY,
        allowed_channel_ids text[],
        member_daily_quota integer CHECK (member_daily_quota >= 0),
        daily_video_seconds integer CHECK (daily_video_seconds >= 0),
        allow_hd boolean,
        allow_audio boolean,
        max_length_seconds integer CHECK (max_length_seconds IN (4, 6, 8)),
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
      )`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS guild_setting_changes (
        id bigserial PRIMARY KEY,
        guild_id text NOT NULL,
        user_id text NOT NULL,
        setting text NOT NULL,
        old_value text,
        new_value text,
        changed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_guild_setting_changes_guild ON guild_setting_changes (guild_id, changed_at DESC)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS guild_setting_changes`);
    await q.query(`DROP TABLE IF EXISTS guild_settings`);
    await q.query(`DROP INDEX IF EXISTS idx_video_requests_queued`);
    await q.query(`DROP INDEX IF EXISTS idx_video_requests_created`);
    await q.query(`DROP INDEX IF EXISTS idx_video_request_attempts_submitting`);
    await q.query(`DROP INDEX IF EXISTS idx_video_request_attempts_answered`);
    await q.query(`UPDATE video_request_attempts SET state = 'rejected' WHERE state = 'returned'`);
    await q.query(`
      ALTER TABLE video_request_attempts
        DROP CONSTRAINT IF EXISTS video_request_attempts_state_check,
        ADD CONSTRAINT video_request_attempts_state_check
          CHECK (state IN ('submitting', 'accepted', 'rejected', 'abandoned'))`);
    await q.query(`
      ALTER TABLE video_request_attempts
        DROP COLUMN IF EXISTS throttled_until,
        DROP COLUMN IF EXISTS answered_at`);
  }
}
