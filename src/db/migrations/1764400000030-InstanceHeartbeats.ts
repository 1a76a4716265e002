import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `bot_instances` (issue #15): every bot process records itself here and beats every few seconds. A lease whose
 * holder has stopped beating for its own `dead_after_ms` is free at once (src/db/sql/tables.ts `leaseFree`), and a
 * process that starts again with the same INSTANCE_ID replaces its dead incarnation and takes its work back.
 *
 * One row per INSTANCE_ID: `incarnation` is the random token of the process that holds the id now, so a second live
 * process misconfigured with the same id is told apart from a restart (src/services/InstanceHeartbeat.ts).
 * `dead_after_ms` and `beat_interval_ms` are the holder's own settings, so every instance judges it by the same rule.
 */
export class InstanceHeartbeats1764400000030 implements MigrationInterface {
  public readonly name = 'InstanceHeartbeats1764400000030';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS bot_instances (
      instance_id text PRIMARY KEY,
      incarnation text NOT NULL,
      shards integer[] NOT NULL DEFAULT '{}',
      started_at timestamptz NOT NULL DEFAULT now(),
      last_beat_at timestamptz NOT NULL DEFAULT now(),
      beat_interval_ms integer NOT NULL,
      dead_after_ms integer NOT NULL,
      stopped_at timestamptz
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS bot_instances`);
  }
}
