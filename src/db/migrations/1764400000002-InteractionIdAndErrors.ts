import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `processing_errors`: unexpected errors while driving a request; past a limit the request fails with the reason
 * instead of being retried by every sweep for ever.
 *
 * The Discord interaction id of a `/video` request, unique when set. Discord delivers an interaction to every gateway
 * session on its shard, so with several instances each of them sees the same `/video`: the unique key lets exactly
 * one record it (and pay for it). Rows of the original bot and rows made without an interaction keep NULL.
 */
export class InteractionIdAndErrors1764400000002 implements MigrationInterface {
  public readonly name = 'InteractionIdAndErrors1764400000002';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE video_requests ADD COLUMN IF NOT EXISTS interaction_id text`);
    await q.query(`ALTER TABLE video_requests ADD COLUMN IF NOT EXISTS processing_errors integer NOT NULL DEFAULT 0`);
    await q.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS uq_video_requests_interaction_id ON video_requests (interaction_id) WHERE interaction_id IS NOT NULL`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS uq_video_requests_interaction_id`);
    await q.query(`ALTER TABLE video_requests DROP COLUMN IF EXISTS processing_errors`);
    await q.query(`ALTER TABLE video_requests DROP COLUMN IF EXISTS interaction_id`);
  }
}
