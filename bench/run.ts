/**
 * `npm run bench`: measures the figures of docs/BENCHMARKS.md against the local Discord and Google emulators, the
 * real bot process (dist/index.js) and a real PostgreSQL (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres;
 * the bench creates and drops a database of its own). Prints a table and writes bench/results/latest.json.
 * Nothing here asserts on speed: the figures are reported beside their targets. One file per part (ready.ts, resume.ts,
 * deliveryMemory.ts, claim.ts, iterate.ts, memory.ts, spend.ts, scale.ts) over the world of world.ts; this file runs them
 * (BENCH_ONLY=<part> runs one and prints it) and prints the table (report.ts).
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchClaim, claimFigures } from './claim';
import { benchMemory, memoryFigures } from './deliveryMemory';
import { benchIterate } from './iterate';
import { benchStartupMemory } from './memory';
import { benchReady, readyFigures } from './ready';
import { type Figure, table } from './report';
import { benchResume, pollAndLatencyFigures, RESUMED_REQUESTS, resumeFigures } from './resume';
import { benchScale } from './scale';
import { benchSpend } from './spend';
import { round } from './stats';
import { BenchWorld, log, serverUrl } from './world';

export { batchMakespan, slidingWindowMakespan } from './resume';

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  log(`PostgreSQL: ${serverUrl().replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`);
  const only = process.env.BENCH_ONLY;
  const world = await BenchWorld.start();
  try {
    const pgVersion = (await world.db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    if (only === 'spend') {
      process.stdout.write(`${JSON.stringify(await benchSpend(world), null, 2)}\n`);
      return;
    }
    if (only === 'scale') {
      // BENCH_ONLY=scale: the scale-out figures (issue #15), printed as a table and JSON.
      const scale = await benchScale(world);
      process.stdout.write(`\n${table(scale.figures)}\n\n${JSON.stringify(scale.result, null, 2)}\n`);
      return;
    }
    if (only === 'memory') {
      // BENCH_ONLY=memory: just the memory figure, printed (latest.json is left as it is).
      process.stdout.write(`${JSON.stringify(await benchMemory(world), null, 2)}\n`);
      return;
    }
    if (only === 'iterate') return void process.stdout.write(`${JSON.stringify(await benchIterate(world), null, 2)}\n`);
    if (only === 'startup-memory')
      return void process.stdout.write(`\n${table((await benchStartupMemory(world, undefined, log)).figures)}\n`);
    log('1/4 gateway READY with and without unfinished rows');
    const ready = await benchReady(world);
    log('2/4 resumed requests (also polls per generation and notification latency)');
    const { resume, polls, latency } = await benchResume(world);
    log(`resumed ${RESUMED_REQUESTS} requests in ${resume.measuredMs} ms (ideal ${resume.idealSlidingWindowMs} ms)`);
    log('3/4 peak memory delivering 19 MiB videos');
    const memory = await benchMemory(world);
    log('4/4 the claim query on a table of 1,000,000 rows');
    const claim = await benchClaim(world);
    const iterate = await benchIterate(world);
    const startupMemory = await benchStartupMemory(world, undefined, log);
    log('and: spend control, a burst of 300 /video from 30 servers against a Veo quota of 50 a window');
    const spend = await benchSpend(world);
    log('and: scale-out, kill -9 of one of two instances, same-id restarts, 2 processes vs 1');
    const scale = await benchScale(world);

    const figures: Figure[] = [
      ...readyFigures(ready),
      ...resumeFigures(resume),
      ...claimFigures(claim),
      ...memoryFigures(memory),
      ...pollAndLatencyFigures(polls, latency),
      ...iterate.figures,
      ...startupMemory.figures,
      ...spend.figures,
      ...scale.figures,
    ];
    const result = {
      startedAt: startedAt.toISOString(),
      durationSeconds: round((performance.now() - t0) / 1000, 1),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryBytes: totalmem(),
        kernel: release(),
        node: process.version,
        postgres: pgVersion,
      },
      figures,
      ready,
      resume,
      claim,
      memory,
      polls,
      latency,
      iterate: iterate.details,
      startupMemory: startupMemory.result,
      spend: spend.result,
      scale: scale.result,
    };
    const dir = join(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `\n${table(figures)}\n\nmachine: ${result.machine.cpus} x ${result.machine.cpuModel}, Node ${result.machine.node}, PostgreSQL ${pgVersion}; ${result.durationSeconds} s in all\nwritten: bench/results/latest.json\n`,
    );
  } finally {
    await world.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
