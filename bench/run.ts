/**
 * `npm run bench`: measures the figures of docs/BENCHMARKS.md against the local Discord and Google emulators, the
 * real bot process (dist/index.js) and a real PostgreSQL (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres;
 * the bench creates and drops a database of its own). Prints a table and writes bench/results/latest.json.
 * Nothing here asserts on speed: the figures are reported beside their targets.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import pino from 'pino';
import { openDatabase } from '../src/db/dataSource';
import { claim } from '../src/db/sql/leases';
import { announcementNonce } from '../src/discord/DiscordNotifier';
import { DiscordEmulator, WORLD } from '../tests/emulators/discord';
import { GoogleEmulator } from '../tests/emulators/google';
import { BotProcess } from '../tests/helpers/botProcess';
import { benchIterate } from './iterate';
import { benchStartupMemory } from './memory';
import { benchSpend } from './spend';

const MiB = 1024 * 1024;
const MODEL = 'veo-3.1-fast-generate-001';
const GUILD = WORLD.guilds.main.id;
const CHANNEL = WORLD.guilds.main.channels.general.id;
const REQUESTER = WORLD.users.member.id;

// Scaled-down settings (real Veo takes about a minute per video and is polled every 10 s).
const READY_RUNS = 5;
const READY_UNFINISHED_ROWS = 10_000;
const RESUMED_REQUESTS = 200;
const RESUME_SLOTS = 3;
const OPERATION_MS = { min: 200, max: 2_000 };
const POLL_INTERVAL_MS = 100;
const CLAIM_TABLE_ROWS = 1_000_000;
const CLAIM_SAMPLES = 1_000;
const MEMORY_VIDEOS = 10;
const MEMORY_VIDEO_BYTES = 19 * MiB;

interface Figure {
  name: string;
  value: string;
  target: string;
  met: boolean | null;
}

// ---------------------------------------------------------------- small helpers

/** Deterministic durations, so every run schedules the same work. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Makespan of jobs taken in order by `slots` workers, each taking the next job the moment it frees (sliding window). */
export function slidingWindowMakespan(durations: number[], slots: number): number {
  const free = Array<number>(slots).fill(0);
  for (const d of durations) {
    const i = free.indexOf(Math.min(...free));
    free[i] = free[i]! + d;
  }
  return Math.max(...free);
}

/** Makespan of the original bot's schedule: three at a time, the next three only once all three are done. */
export function batchMakespan(durations: number[], size: number): number {
  let total = 0;
  for (let i = 0; i < durations.length; i += size) total += Math.max(...durations.slice(i, i + size));
  return total;
}

function serverUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
function processMemory(pid: number): { rss: number; peakRss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- the world

class BenchWorld {
  public readonly bots: BotProcess[] = [];
  private constructor(
    public readonly discord: DiscordEmulator,
    public readonly google: GoogleEmulator,
    public readonly dbUrl: string,
    private readonly dbName: string,
    public readonly db: Client,
    private readonly keyFile: string,
    private readonly tempDir: string,
  ) {}

  public static async start(): Promise<BenchWorld> {
    const dbName = `veobot_bench_${randomBytes(5).toString('hex')}`;
    await withClient(serverUrl(), (c) => c.query(`CREATE DATABASE ${dbName}`));
    const u = new URL(serverUrl());
    u.pathname = `/${dbName}`;
    const dbUrl = u.toString();
    // Migrate with the bot's own code, so the schema (and the claim index) is exactly the bot's.
    const migrated = await openDatabase({ url: dbUrl, dataDir: tmpdir() }, pino({ level: 'silent' }));
    await migrated.close();
    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    const [discord, google] = await Promise.all([DiscordEmulator.start(), GoogleEmulator.start()]);
    const tempDir = mkdtempSync(join(tmpdir(), 'veobot-bench-'));
    const keyFile = google.writeServiceAccountKey(tempDir);
    return new BenchWorld(discord, google, dbUrl, dbName, db, keyFile, tempDir);
  }

  public env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      DISCORD_TOKEN: this.discord.token,
      DISCORD_API_URL: this.discord.apiUrl,
      ...this.google.env(this.keyFile),
      DATABASE_URL: this.dbUrl,
      DATA_DIR: join(this.tempDir, 'data'),
      LOG_LEVEL: 'info',
      DAILY_QUOTA: '1000',
      // Time is scaled down ~60x here: Veo's per-minute quota and the daily budgets would measure nothing but themselves.
      VEO_SUBMITS_PER_MINUTE: '100000',
      GUILD_DAILY_VIDEO_SECONDS: '0',
      GLOBAL_DAILY_VIDEO_SECONDS: '0',
      ...extra,
    };
  }

  /** Spawns the bot as `npm start` runs it (NODE_ENV=production); phases wait for the log lines they need. */
  public async startBot(extra: Record<string, string> = {}): Promise<BotProcess> {
    const bot = await BotProcess.start({ NODE_ENV: 'production', ...this.env(extra) }, { waitForReady: false });
    this.bots.push(bot);
    return bot;
  }

  public async killBots(): Promise<void> {
    await Promise.all(this.bots.splice(0).map((b) => b.kill()));
  }

  public async emptyTables(): Promise<void> {
    await this.db.query('TRUNCATE video_request_attempts, video_requests');
  }

  public async close(): Promise<void> {
    await this.killBots();
    await this.db.end().catch(() => undefined);
    await Promise.allSettled([this.discord.close(), this.google.close()]);
    await withClient(serverUrl(), (c) => c.query(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`)).catch(
      (e: unknown) => log(`could not drop ${this.dbName}: ${String(e)}`),
    );
    rmSync(this.tempDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- 1. gateway READY with 10,000 unfinished rows

async function benchReady(world: BenchWorld) {
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

// ---------------------------------------------------------------- 2. 200 resumed requests with 3 slots; 5. polls and latency

async function benchResume(world: BenchWorld) {
  const random = mulberry32(20_251_129);
  const durations = Array.from(
    { length: RESUMED_REQUESTS },
    () => Math.round((OPERATION_MS.min + random() * (OPERATION_MS.max - OPERATION_MS.min)) / 10) * 10,
  );
  const tag = (i: number) => `[bench-job-${String(i).padStart(4, '0')}]`;
  durations.forEach((ms, i) =>
    world.google.fateForPrompt(tag(i), { kind: 'done', afterMs: ms, videoBytes: 16 * 1024 }),
  );

  await world.emptyTables();
  // Pending rows from a bot that died before submitting them, oldest first in the order of `durations`.
  const inserted = await world.db.query<{ id: string; prompt: string }>(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
       generate_audio, status, model, created_at, updated_at)
     SELECT $1, $2, $3, 'a resumed bench video ' || $4 || lpad((i - 1)::text, 4, '0') || ']', 4, '16:9', '720p', false,
       'pending', $5, now() - ((${RESUMED_REQUESTS} - i) || ' seconds')::interval - interval '10 minutes', now()
     FROM generate_series(1, ${RESUMED_REQUESTS}) i
     RETURNING id, prompt`,
    [REQUESTER, GUILD, CHANNEL, '[bench-job-', MODEL],
  );
  const indexOfRequest = new Map<string, number>();
  for (const r of inserted.rows) indexOfRequest.set(r.id, Number(/\[bench-job-(\d{4})\]/.exec(r.prompt)![1]));

  const submitsBefore = world.google.submits.length;
  const bot = await world.startBot({
    RESUME_CONCURRENCY: String(RESUME_SLOTS),
    VEO_POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
  });
  const finished = await bot.waitForLog(
    (l) => l.msg === 'resume sweep finished' && l.reason === 'startup',
    300_000,
    'the startup resume sweep to finish',
  );
  const measuredMs = Number(finished.total_duration_ms);
  await world.killBots();

  const idealMs = slidingWindowMakespan(durations, RESUME_SLOTS);
  const lowerBoundMs = Math.max(durations.reduce((a, b) => a + b, 0) / RESUME_SLOTS, Math.max(...durations));
  const batchMs = batchMakespan(durations, RESUME_SLOTS);

  // Polls per generation, and the time from an operation finishing to the requester's message.
  const ops = world.google.submits.slice(submitsBefore).map((s) => world.google.operations.get(s.operationName)!);
  const messagesByNonce = new Map(world.discord.messages(CHANNEL).map((m) => [String(m.nonce), m]));
  const polls: { polls: number; bound: number }[] = [];
  const latencies: number[] = [];
  for (const op of ops) {
    const requestId = /\/([0-9a-f-]{36})\/\d+\/?$/.exec(op.storageUri ?? '')?.[1];
    const i = requestId === undefined ? undefined : indexOfRequest.get(requestId);
    if (i === undefined) continue;
    const generationMs = durations[i]!;
    polls.push({ polls: world.google.pollCount(op.name), bound: Math.ceil(generationMs / POLL_INTERVAL_MS) + 1 });
    const message = messagesByNonce.get(announcementNonce(requestId!, 'completed'));
    if (message) latencies.push(message.createdAt - (op.submittedAt + generationMs));
  }
  const counts = await world.db.query<{ status: string; announcement: string | null; n: number }>(
    `SELECT status, announcement, count(*)::integer AS n FROM video_requests GROUP BY 1, 2`,
  );
  await world.emptyTables();
  latencies.sort((a, b) => a - b);
  return {
    resume: {
      requests: RESUMED_REQUESTS,
      slots: RESUME_SLOTS,
      operationMs: OPERATION_MS,
      pollIntervalMs: POLL_INTERVAL_MS,
      summary: {
        completed: finished.successful_completions,
        failures: finished.failures,
        timeouts: finished.timeouts,
        notFinished: finished.not_finished,
      },
      rows: counts.rows,
      submits: ops.length,
      measuredMs,
      idealSlidingWindowMs: idealMs,
      lowerBoundMs: Math.round(lowerBoundMs),
      batchesOfThreeMs: batchMs,
      ratioToIdeal: round(measuredMs / idealMs, 3),
      ratioToBatches: round(measuredMs / batchMs, 3),
    },
    polls: {
      generations: polls.length,
      pollIntervalMs: POLL_INTERVAL_MS,
      meanPolls: round(polls.reduce((a, p) => a + p.polls, 0) / polls.length),
      maxPollsOverBound: Math.max(...polls.map((p) => p.polls - p.bound)),
      overBound: polls.filter((p) => p.polls > p.bound).length,
    },
    latency: {
      messages: latencies.length,
      medianMs: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? NaN,
    },
  };
}

// ---------------------------------------------------------------- 3. the claim query on 1,000,000 rows

async function benchClaim(world: BenchWorld) {
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

// ---------------------------------------------------------------- 4. peak memory delivering ten 19 MiB videos

async function benchMemory(world: BenchWorld) {
  await world.emptyTables();
  const bot = await world.startBot({ VEO_POLL_INTERVAL_MS: String(POLL_INTERVAL_MS) });
  await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready');
  await world.discord.waitFor(
    () => world.discord.commands.global.some((c: { name: string }) => c.name === 'video'),
    30_000,
    'command registration',
  );
  await bot.waitForLog((l) => l.msg === 'resume sweep finished', 60_000, 'the startup sweep');

  const deliver = async (i: number, bytes: number) => {
    world.google.scriptNext({ kind: 'done', afterMs: 300, videoBytes: bytes });
    const handle = world.discord.pushInteraction({
      name: 'video',
      guildId: GUILD,
      channelId: CHANNEL,
      userId: REQUESTER,
      options: { prompt: `memory bench video ${i}`, length: 8 },
      attachmentSizeLimit: 25 * MiB,
    });
    await handle.waitForAck(10_000);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { rows } = await world.db.query<{ delivered_as: string | null }>(
        `SELECT delivered_as FROM video_requests WHERE prompt = $1 AND announcement = 'sent'`,
        [`memory bench video ${i}`],
      );
      if (rows[0]) return rows[0].delivered_as === 'attachment';
      if (Date.now() > deadline) throw new Error(`video ${i} was not delivered in time\n${bot.tail()}`);
      await sleep(50);
    }
  };

  // Warm up every code path with a small video, then take the resting size as the baseline.
  await deliver(-1, 1 * MiB);
  await sleep(1_000);
  const baseline = processMemory(bot.pid);
  let sampledPeak = baseline.rss;
  const sampler = setInterval(() => {
    try {
      sampledPeak = Math.max(sampledPeak, processMemory(bot.pid).rss);
    } catch {
      // the process is gone
    }
  }, 20);
  let attached = 0;
  const growthAfterEach: number[] = [];
  for (let i = 0; i < MEMORY_VIDEOS; i++) {
    if (await deliver(i, MEMORY_VIDEO_BYTES)) attached++;
    growthAfterEach.push(Math.max(processMemory(bot.pid).peakRss, sampledPeak) - baseline.rss);
  }
  clearInterval(sampler);
  const after = processMemory(bot.pid);
  await world.killBots();
  await world.emptyTables();
  const peak = Math.max(after.peakRss, sampledPeak);
  const growth = peak - baseline.rss;
  return {
    videos: MEMORY_VIDEOS,
    videoBytes: MEMORY_VIDEO_BYTES,
    attached,
    baselineRssBytes: baseline.rss,
    peakRssBytes: peak,
    startupPeakRssBytes: baseline.peakRss,
    growthBytes: growth,
    growthToFileSize: round(growth / MEMORY_VIDEO_BYTES, 2),
    firstVideoGrowthBytes: growthAfterEach[0]!,
    firstVideoGrowthToFileSize: round(growthAfterEach[0]! / MEMORY_VIDEO_BYTES, 2),
    /** peak growth over the baseline after each video, cumulative */
    growthAfterEachBytes: growthAfterEach,
  };
}

// ---------------------------------------------------------------- report

function table(figures: Figure[]): string {
  const rows = [
    ['figure', 'measured', 'target', 'met'],
    ...figures.map((f) => [f.name, f.value, f.target, f.met === null ? '-' : f.met ? 'yes' : 'NO']),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

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

    const figures: Figure[] = [
      {
        name: `gateway READY, ${ready.unfinishedRows} unfinished rows vs none`,
        value: `${ready.medianMsUnfinished} ms vs ${ready.medianMsNone} ms = ${ready.ratio}x`,
        target: '<= 1.1x',
        met: ready.ratio <= 1.1,
      },
      {
        name: `${resume.requests} resumed requests, ${resume.slots} slots, vs ideal schedule`,
        value: `${round(resume.measuredMs / 1000, 1)} s vs ${round(resume.idealSlidingWindowMs / 1000, 1)} s = ${resume.ratioToIdeal}x`,
        target: '<= 1.1x',
        met: resume.ratioToIdeal <= 1.1,
      },
      {
        name: `  same, vs batches of three (original bot)`,
        value: `${round(resume.measuredMs / 1000, 1)} s vs ${round(resume.batchesOfThreeMs / 1000, 1)} s = ${resume.ratioToBatches}x`,
        target: 'reported',
        met: null,
      },
      {
        name: `claim query, ${claim.rows} rows (1% unfinished)`,
        value: `median ${claim.medianMs} ms, p99 ${claim.p99Ms} ms, ${claim.indexScan ? 'index scan' : 'NOT an index scan'}`,
        target: 'index scan',
        met: claim.indexScan,
      },
      {
        name: `peak memory growth, first 19 MiB video`,
        value: `${round(memory.firstVideoGrowthBytes / MiB, 1)} MiB = ${memory.firstVideoGrowthToFileSize}x file size`,
        target: '<= 2x',
        met: memory.firstVideoGrowthToFileSize <= 2,
      },
      {
        name: `  same, ${memory.videos} x 19 MiB videos one after another`,
        value: `${round(memory.growthBytes / MiB, 1)} MiB = ${memory.growthToFileSize}x file size (${memory.attached}/${memory.videos} attached)`,
        target: '<= 2x',
        met: memory.growthToFileSize <= 2,
      },
      {
        name: `polls per generation (interval ${polls.pollIntervalMs} ms)`,
        value: `mean ${polls.meanPolls}, ${polls.overBound}/${polls.generations} over bound (max ${polls.maxPollsOverBound >= 0 ? '+' : ''}${polls.maxPollsOverBound})`,
        target: '<= ceil(t/interval)+1',
        met: polls.overBound === 0,
      },
      {
        name: `operation finished -> requester's message`,
        value: `median ${latency.medianMs} ms, p99 ${latency.p99Ms} ms (${latency.messages} messages)`,
        target: 'reported',
        met: null,
      },
      ...iterate.figures,
      ...startupMemory.figures,
      ...spend.figures,
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
