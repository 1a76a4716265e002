/**
 * The claim query on a table of 1,000,000 rows, 1% unfinished (`npm run bench`, figure 3): what a resume sweep runs
 * to take the oldest free request must stay an index scan; its median and p99 over CLAIM_SAMPLES claims.
 */
import { performance } from 'node:perf_hooks';
import { claim } from '../src/db/sql/leases';
import type { Figure } from './report';
import { percentile, round } from './stats';
import { type BenchWorld, log, MODEL } from './world';

const CLAIM_TABLE_ROWS = 1_000_000;
const CLAIM_SAMPLES = 1_000;

export async function benchClaim(world: BenchWorld) {
  const { db } = world;
  await world.emptyTables();
  const started = performance.now();
  // 1% unfinished (pending and generating alternately), the rest finished and announced; one row a second, oldest first.
  await db.query(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
       generate_audio, status, model, created_at, updated_at, announcement, completed_at)
     SELECT 'u' || (i % 5000), 'g' || (i % 200), 'c' || (i % 1000), 'prompt ' || i, 8, '16:9', '720p', true,
       CASE WHEN i % 100 = 0 THEN (CASE WHEN i % 200 = 0 THEN 'generating' ELSE 'pending' END) ELSE 'completed' END,
       $1, now() - ((${CLAIM_TABLE_ROWS} - i) || ' seconds')::interval, now(),
       CASE WHEN i % 100 = 0 THEN NULL ELSE 'sent' END,
       CASE WHEN i % 100 = 0 THEN NULL ELSE now() END
     FROM generate_series(1, ${CLAIM_TABLE_ROWS}) i`,
    [MODEL],
  );
  await db.query('VACUUM ANALYZE video_requests');
  const buildMs = Math.round(performance.now() - started);
  log(`claim table built: ${CLAIM_TABLE_ROWS} rows in ${buildMs} ms`);

  const params = (owner: string) =>
    claim.bind({ owner, leaseMs: 60_000, guildId: null, requestId: null, excludeIds: [] });
  await db.query('BEGIN');
  const explain = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) ${claim.text}`,
    params('bench-explain'),
  );
  await db.query('ROLLBACK');
  const plan = explain.rows.map((r) => r['QUERY PLAN']);
  const planText = plan.join('\n');

  // What a sweep does: claim the oldest free row, work on it, finish it; only the claim is timed.
  const samples: number[] = [];
  for (let i = 0; i < CLAIM_SAMPLES + 20; i++) {
    const t0 = performance.now();
    const claimed = await db.query<{ id: string }>(claim.text, params(`bench-${i % 3}`));
    const elapsed = performance.now() - t0;
    if (i >= 20) samples.push(elapsed); // the first few warm the cache
    const id = claimed.rows[0]?.id;
    if (!id) throw new Error('the claim query found nothing to claim');
    await db.query(
      `UPDATE video_requests SET status = 'completed', announcement = 'sent', lease_owner = NULL, lease_expires_at = NULL WHERE id = $1`,
      [id],
    );
  }
  samples.sort((a, b) => a - b);
  await world.emptyTables();
  return {
    rows: CLAIM_TABLE_ROWS,
    unfinishedRows: CLAIM_TABLE_ROWS / 100,
    buildMs,
    samples: samples.length,
    medianMs: round(percentile(samples, 50), 3),
    p99Ms: round(percentile(samples, 99), 3),
    indexScan:
      /Index (Only )?Scan using idx_video_requests_claimable/.test(planText) &&
      !/Seq Scan on video_requests/.test(planText),
    plan,
  };
}

export function claimFigures(result: Awaited<ReturnType<typeof benchClaim>>): Figure[] {
  return [
    {
      name: `claim query, ${result.rows} rows (1% unfinished)`,
      value: `median ${result.medianMs} ms, p99 ${result.p99Ms} ms, ${result.indexScan ? 'index scan' : 'NOT an index scan'}`,
      target: 'index scan',
      met: result.indexScan,
    },
  ];
}
