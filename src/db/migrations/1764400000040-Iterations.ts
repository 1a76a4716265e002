import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue #16, iterating from a result:
 * - input images and the video an extension continues, as `gs://` locations in the bucket (copied there before the
 *   row is written, so a resume submits the same inputs after Discord's attachment URLs have expired);
 * - the request a result button made this one from (`parent_request_id`), which button (`origin`) and which press of
 *   it (`origin_seq`); unique together, so a double click or two instances handling one press make one request;
 * - `reply_message_id`: the message the requester watches, for `/history` links before the result exists;
 * - `duration_seconds` may be 7 (a Veo extension adds 7 seconds) and `failure_kind` 'cancelled' (the requester's Cancel
 *   before the request reached Veo): both CHECK constraints are replaced (the first is the original bot's, under the
 *   name PostgreSQL gave it).
 * Every new column is nullable: rows made before keep NULL and mean what they meant.
 */
export class Iterations1764400000040 implements MigrationInterface {
  public readonly name = 'Iterations1764400000040';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE video_requests
      ADD COLUMN IF NOT EXISTS image_uri text,
      ADD COLUMN IF NOT EXISTS image_mime_type text,
      ADD COLUMN IF NOT EXISTS last_frame_uri text,
      ADD COLUMN IF NOT EXISTS last_frame_mime_type text,
      ADD COLUMN IF NOT EXISTS source_video_uri text,
      ADD COLUMN IF NOT EXISTS source_video_seconds integer,
      ADD COLUMN IF NOT EXISTS parent_request_id uuid,
      ADD COLUMN IF NOT EXISTS origin text,
      ADD COLUMN IF NOT EXISTS origin_seq integer,
      ADD COLUMN IF NOT EXISTS reply_message_id text`);
    await q.query(`ALTER TABLE video_requests
      DROP CONSTRAINT IF EXISTS video_requests_duration_seconds_check,
      ADD CONSTRAINT video_requests_duration_seconds_check CHECK (duration_seconds IN (4, 6, 7, 8)),
      DROP CONSTRAINT IF EXISTS video_requests_failure_kind_check,
      ADD CONSTRAINT video_requests_failure_kind_check
        CHECK (failure_kind IS NULL OR failure_kind IN ('filtered', 'google', 'bot', 'expired', 'admin', 'invalid', 'cancelled')),
      ADD CONSTRAINT video_requests_origin_check
        CHECK (origin IS NULL OR origin IN ('reroll', 'extend', 'edit', 'retry')),
      ADD CONSTRAINT video_requests_image_mime_type_check
        CHECK (image_mime_type IS NULL OR image_mime_type IN ('image/png', 'image/jpeg', 'image/webp')),
      ADD CONSTRAINT video_requests_last_frame_mime_type_check
        CHECK (last_frame_mime_type IS NULL OR last_frame_mime_type IN ('image/png', 'image/jpeg', 'image/webp'))`);
    await q.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS uq_video_requests_origin
        ON video_requests (parent_request_id, origin, origin_seq) WHERE parent_request_id IS NOT NULL`,
    );
    // /history: one member's latest requests in one server.
    await q.query(
      `CREATE INDEX IF NOT EXISTS idx_video_requests_guild_user_created ON video_requests (guild_id, user_id, created_at DESC)`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS idx_video_requests_guild_user_created`);
    await q.query(`DROP INDEX IF EXISTS uq_video_requests_origin`);
    await q.query(`ALTER TABLE video_requests
      DROP CONSTRAINT IF EXISTS video_requests_last_frame_mime_type_check,
      DROP CONSTRAINT IF EXISTS video_requests_image_mime_type_check,
      DROP CONSTRAINT IF EXISTS video_requests_origin_check,
      DROP CONSTRAINT IF EXISTS video_requests_failure_kind_check,
      ADD CONSTRAINT video_requests_failure_kind_check
        CHECK (failure_kind IS NULL OR failure_kind IN ('filtered', 'google', 'bot', 'expired', 'admin', 'invalid')),
      DROP CONSTRAINT IF EXISTS video_requests_duration_seconds_check,
      ADD CONSTRAINT video_requests_duration_seconds_check CHECK (duration_seconds IN (4, 6, 8))`);
    for (const column of [
      'reply_message_id',
      'origin_seq',
      'origin',
      'parent_request_id',
      'source_video_seconds',
      'source_video_uri',
      'last_frame_mime_type',
      'last_frame_uri',
      'image_mime_type',
      'image_uri',
    ]) {
      await q.query(`ALTER TABLE video_requests DROP COLUMN IF EXISTS ${column}`);
    }
  }
}
