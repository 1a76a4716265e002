/**
 * Gateway READY with 10,000 unfinished rows vs none (`npm run bench`, figure 1): the startup resume sweep must not
 * hold up the bot's connection to Discord. Median of READY_RUNS starts each, alternating.
 */
import type { Figure } from './report';
import { median, round } from './stats';
import { type BenchWorld, CHANNEL, GUILD, log, MODEL, REQUESTER } from './world';

const READY_RUNS = 5;
const READY_UNFINISHED_ROWS = 10_000;

export async function benchReady(world: BenchWorld) {
  world.google.setDefaultFate({ kind: 'done', afterMs: 1_000, videoBytes: 16 * 1024 });
  const timings: { none: number[]; unfinished: number[] } = { none: [], unfinished: [] };
  for (let run = 0; run < READY_RUNS; run++) {
    for (const kind of ['none', 'unfinished'] as const) {
      await world.emptyTables();
      if (kind === 'unfinished') {
        // Half pending, half generating, all recent: everything the startup sweep will have to resume.
        await world.db.query(
          `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
             generate_audio, status, operation_name, model, created_at, updated_at)
           SELECT $1, $2, $3, 'unfinished request ' || i, 8, '16:9', '720p', true,
             CASE WHEN i % 2 = 0 THEN 'pending' ELSE 'generating' END,
             CASE WHEN i % 2 = 0 THEN NULL ELSE 'projects/p/locations/l/publishers/google/models/${MODEL}/operations/bench-' || i END,
             $4, now() - (i || ' seconds')::interval, now()
           FROM generate_series(1, ${READY_UNFINISHED_ROWS}) i`,
          [REQUESTER, GUILD, CHANNEL, MODEL],
        );
        await world.db.query('ANALYZE video_requests');
      }
      const bot = await world.startBot();
      const ready = await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready');
      timings[kind].push(bot.receivedAt(ready) - bot.startedAt);
      await world.killBots();
      log(
        `READY with ${kind === 'none' ? 'no' : READY_UNFINISHED_ROWS} unfinished rows: ${bot.receivedAt(ready) - bot.startedAt} ms`,
      );
    }
  }
  await world.emptyTables();
  const none = median(timings.none);
  const unfinished = median(timings.unfinished);
  return {
    runs: READY_RUNS,
    unfinishedRows: READY_UNFINISHED_ROWS,
    msNone: timings.none,
    msUnfinished: timings.unfinished,
    medianMsNone: none,
    medianMsUnfinished: unfinished,
    ratio: round(unfinished / none, 3),
  };
}

export function readyFigures(ready: Awaited<ReturnType<typeof benchReady>>): Figure[] {
  return [
    {
      name: `gateway READY, ${ready.unfinishedRows} unfinished rows vs none`,
      value: `${ready.medianMsUnfinished} ms vs ${ready.medianMsNone} ms = ${ready.ratio}x`,
      target: '<= 1.1x',
      met: ready.ratio <= 1.1,
    },
  ];
}
