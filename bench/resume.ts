/**
 * 200 resumed requests with 3 slots (`npm run bench`, figure 2), measured against the ideal sliding-window schedule
 * and against the original bot's batches of three; from the same run, polls per generation and the time from an
 * operation finishing to the requester's message (figure 5).
 */
import { announcementNonce } from '../src/discord/DiscordNotifier';
import type { Figure } from './report';
import { mulberry32, percentile, round } from './stats';
import { type BenchWorld, CHANNEL, GUILD, MODEL, POLL_INTERVAL_MS, REQUESTER } from './world';

// Scaled-down settings (real Veo takes about a minute per video).
export const RESUMED_REQUESTS = 200;
const RESUME_SLOTS = 3;
const OPERATION_MS = { min: 200, max: 2_000 };

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

export async function benchResume(world: BenchWorld) {
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

type ResumeResult = Awaited<ReturnType<typeof benchResume>>;

export function resumeFigures(resume: ResumeResult['resume']): Figure[] {
  return [
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
  ];
}

export function pollAndLatencyFigures(polls: ResumeResult['polls'], latency: ResumeResult['latency']): Figure[] {
  return [
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
  ];
}
