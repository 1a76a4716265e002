import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `admin_runs`: the one `/resume run` of a server at a time, across instances. A run holds its row under a lease that
 * its instance renews; a run whose instance died frees the server once that lease runs out.
 */
export class AdminRuns1764400000050 implements MigrationInterface {
  public readonly name = 'AdminRuns1764400000050';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS admin_runs (
      guild_id text PRIMARY KEY,
      admin_id text NOT NULL,
      owner text NOT NULL,
      token text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      lease_expires_at timestamptz NOT NULL
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS admin_runs`);
  }
}
