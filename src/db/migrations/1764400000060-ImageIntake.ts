import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `/video image:` records the request before acknowledging it (the core guarantee: once Discord shows "thinking…" the
 * request is recorded), so its images are not in the bucket yet: the row holds where Discord serves each one and what
 * Discord declared, and the worker fetches, checks and stores them before any submit, then clears these columns.
 * - `image_source_url`/`_name`/`_type` and `last_frame_source_*`: the signed CDN URL (secret: it opens the user's file
 *   for about a day), the file name and the declared content type;
 * - `failure_kind` may be 'input': an image that turned out unusable (not a PNG, JPEG or WebP of at most 20 MB, or no
 *   longer served by Discord), found before any submit: nothing billed, not counted against the quota.
 * Every new column is nullable: rows made before keep NULL and mean what they meant.
 */
export class ImageIntake1764400000060 implements MigrationInterface {
  public readonly name = 'ImageIntake1764400000060';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE video_requests
      ADD COLUMN IF NOT EXISTS image_source_url text,
      ADD COLUMN IF NOT EXISTS image_source_name text,
      ADD COLUMN IF NOT EXISTS image_source_type text,
      ADD COLUMN IF NOT EXISTS last_frame_source_url text,
      ADD COLUMN IF NOT EXISTS last_frame_source_name text,
      ADD COLUMN IF NOT EXISTS last_frame_source_type text`);
    await q.query(`ALTER TABLE video_requests
      DROP CONSTRAINT IF EXISTS video_requests_failure_kind_check,
      ADD CONSTRAINT video_requests_failure_kind_check
        CHECK (failure_kind IS NULL OR failure_kind IN ('filtered', 'google', 'bot', 'expired', 'admin', 'invalid', 'cancelled', 'input'))`);
  }

  public async down(q: QueryRunner): Promise<void> {
    // Rows of the new kind read as the bot's own failure to the version before (nothing billed either way).
    await q.query(`UPDATE video_requests SET failure_kind = 'bot' WHERE failure_kind = 'input'`);
    await q.query(`ALTER TABLE video_requests
      DROP CONSTRAINT IF EXISTS video_requests_failure_kind_check,
      ADD CONSTRAINT video_requests_failure_kind_check
        CHECK (failure_kind IS NULL OR failure_kind IN ('filtered', 'google', 'bot', 'expired', 'admin', 'invalid', 'cancelled'))`);
    for (const column of [
      'last_frame_source_type',
      'last_frame_source_name',
      'last_frame_source_url',
      'image_source_type',
      'image_source_name',
      'image_source_url',
    ]) {
      await q.query(`ALTER TABLE video_requests DROP COLUMN IF EXISTS ${column}`);
    }
  }
}
