import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The original bot's schema, exactly. Every statement is `IF NOT EXISTS`, so a fresh database and a database the
 * original bot already created both end here with the same table, constraints and indexes.
 *
 * Keep this SQL identical to the original table (see tests/helpers/db.ts `LEGACY_SCHEMA_SQL`, the fixture of the
 * original bot's database): later changes go into new migrations.
 */
export class Baseline1764400000000 implements MigrationInterface {
  public readonly name = 'Baseline1764400000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS video_requests (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id text NOT NULL,
        guild_id text NOT NULL,
        channel_id text NOT NULL,
        prompt text NOT NULL,
        duration_seconds integer NULL CHECK (duration_seconds IN (4, 6, 8)),
        aspect_ratio text NOT NULL CHECK (aspect_ratio IN ('16:9', '9:16', '1:1', '4:3', '3:4')),
        resolution text NULL CHECK (resolution IN ('720p', '1080p')),
        generate_audio boolean NULL DEFAULT true,
        status text NOT NULL CHECK (status IN ('pending', 'generating', 'completed', 'failed', 'timeout')),
        operation_name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        completed_at timestamptz,
        duration_ms integer,
        gcs_prefix text,
        video_urls text[],
        error_message text,
        request_type varchar(20) NOT NULL DEFAULT 'veo'
      )`);
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_user_created ON video_requests (user_id, created_at DESC)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_status_created ON video_requests (status, created_at DESC)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_guild_created ON video_requests (guild_id, created_at DESC)`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_user_type_created ON video_requests (user_id, request_type, created_at DESC)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS video_requests`);
  }
}
