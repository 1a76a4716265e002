import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Columns and tables of docs/architecture.md. Every new column is nullable or defaulted, so the original bot's rows
 * stay valid; its finished rows keep `announcement = NULL` (nothing to announce: they must never be notified).
 * `updated_at` stays NULL on old rows and defaults to now() for new ones.
 */
export class ResumeTracking1764400000001 implements MigrationInterface {
  public readonly name = 'ResumeTracking1764400000001';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE video_requests
        ADD COLUMN IF NOT EXISTS model text,
        ADD COLUMN IF NOT EXISTS negative_prompt text,
        ADD COLUMN IF NOT EXISTS seed bigint,
        ADD COLUMN IF NOT EXISTS attachment_size_limit bigint,
        ADD COLUMN IF NOT EXISTS application_id text,
        ADD COLUMN IF NOT EXISTS interaction_token text,
        ADD COLUMN IF NOT EXISTS interaction_expires_at timestamptz,
        ADD COLUMN IF NOT EXISTS lease_owner text,
        ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
        ADD COLUMN IF NOT EXISTS fence bigint NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS announcement text,
        ADD COLUMN IF NOT EXISTS notified_at timestamptz,
        ADD COLUMN IF NOT EXISTS notification_message_id text,
        ADD COLUMN IF NOT EXISTS notification_error text,
        ADD COLUMN IF NOT EXISTS notification_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS video_size_bytes bigint,
        ADD COLUMN IF NOT EXISTS delivered_as text,
        ADD COLUMN IF NOT EXISTS expired_by text,
        ADD COLUMN IF NOT EXISTS failure_kind text,
        ADD COLUMN IF NOT EXISTS submit_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS ambiguous_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS updated_at timestamptz`);
    // Old rows keep NULL (never touched by this bot); new rows get now().
    await q.query(`ALTER TABLE video_requests ALTER COLUMN updated_at SET DEFAULT now()`);
    await q.query(`
      ALTER TABLE video_requests
        ADD CONSTRAINT video_requests_announcement_check
          CHECK (announcement IS NULL OR announcement IN ('due', 'sent', 'gave_up')),
        ADD CONSTRAINT video_requests_delivered_as_check
          CHECK (delivered_as IS NULL OR delivered_as IN ('attachment', 'link')),
        ADD CONSTRAINT video_requests_failure_kind_check
          CHECK (failure_kind IS NULL OR failure_kind IN ('filtered', 'google', 'bot', 'expired', 'admin', 'invalid'))`);

    await q.query(`
      CREATE TABLE IF NOT EXISTS video_request_attempts (
        id bigserial PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES video_requests (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        output_prefix text NOT NULL,
        state text NOT NULL DEFAULT 'submitting'
          CHECK (state IN ('submitting', 'accepted', 'rejected', 'abandoned')),
        operation_name text,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        accepted_at timestamptz,
        CONSTRAINT video_request_attempts_request_attempt_key UNIQUE (request_id, attempt)
      )`);

    // The claim query: unfinished rows and finished rows whose announcement is still due, oldest first.
    await q.query(`
      CREATE INDEX IF NOT EXISTS idx_video_requests_claimable ON video_requests (created_at)
        WHERE status IN ('pending', 'generating') OR announcement = 'due'`);
    // Admin views (always scoped to one guild).
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_guild_status_created ON video_requests (guild_id, status, created_at)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS idx_video_requests_guild_status_created`);
    await q.query(`DROP INDEX IF EXISTS idx_video_requests_claimable`);
    await q.query(`DROP TABLE IF EXISTS video_request_attempts`);
    await q.query(`
      ALTER TABLE video_requests
        DROP CONSTRAINT IF EXISTS video_requests_announcement_check,
        DROP CONSTRAINT IF EXISTS video_requests_delivered_as_check,
        DROP CONSTRAINT IF EXISTS video_requests_failure_kind_check`);
    await q.query(`
      ALTER TABLE video_requests
        DROP COLUMN IF EXISTS model,
        DROP COLUMN IF EXISTS negative_prompt,
        DROP COLUMN IF EXISTS seed,
        DROP COLUMN IF EXISTS attachment_size_limit,
        DROP COLUMN IF EXISTS application_id,
        DROP COLUMN IF EXISTS interaction_token,
        DROP COLUMN IF EXISTS interaction_expires_at,
        DROP COLUMN IF EXISTS lease_owner,
        DROP COLUMN IF EXISTS lease_expires_at,
        DROP COLUMN IF EXISTS fence,
        DROP COLUMN IF EXISTS announcement,
        DROP COLUMN IF EXISTS notified_at,
        DROP COLUMN IF EXISTS notification_message_id,
        DROP COLUMN IF EXISTS notification_error,
        DROP COLUMN IF EXISTS notification_attempts,
        DROP COLUMN IF EXISTS video_size_bytes,
        DROP COLUMN IF EXISTS delivered_as,
        DROP COLUMN IF EXISTS expired_by,
        DROP COLUMN IF EXISTS failure_kind,
        DROP COLUMN IF EXISTS submit_attempts,
        DROP COLUMN IF EXISTS ambiguous_attempts,
        DROP COLUMN IF EXISTS updated_at`);
  }
}
