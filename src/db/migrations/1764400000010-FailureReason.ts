import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `failure_reason`: what ended a request without a video, as a code (src/domain/policy.ts `classify`). Requesters are
 * told in plain words chosen by it; `error_message` keeps the detail (Google's own text included) for logs and
 * admins. Rows finished before this migration keep NULL and are worded by their `failure_kind`.
 */
export class FailureReason1764400000010 implements MigrationInterface {
  public readonly name = 'FailureReason1764400000010';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE video_requests ADD COLUMN IF NOT EXISTS failure_reason text`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE video_requests DROP COLUMN IF EXISTS failure_reason`);
  }
}
