/**
 * Spend control under a burst (issue #13, point 7), for `npm run bench` (hooked into bench/run.ts; `BENCH_ONLY=spend`
 * runs it alone): 300 `/video` in 10 s from 30 servers, against the real bot and a Veo emulator that allows 50 submits
 * a window and answers 429 RESOURCE_EXHAUSTED (with RetryInfo) beyond. The bot is told the same quota
 * (VEO_SUBMITS_PER_MINUTE=50) and keeps VEO_MAX_IN_FLIGHT at its default.
 *
 * Time: the "minute" of the quota is shortened to SPEND_WINDOW_MS (VEO_SUBMIT_WINDOW_MS for the bot, the same window
 * for the emulator) and Veo takes 1-3 s per video, so the busy period lasts about six windows instead of six minutes.
 * The burst keeps its real 10 s. Every figure is a ratio measured in this one run:
 *
 * - requests failed because of 429 (goal 0), and 429 answers seen (the queue's own window should avoid most);
 * - submit rate over the busy period as a ratio of the quota. A quota of Q per sliding window W is used in full when
 *   every submit comes exactly W after the one Q submits before it, so the ratio is W / the mean of those gaps over
 *   the busy period (goal 0.95-1.0: above 1 would mean the quota was passed). Also reported: the most submits Google
 *   saw in any window (must not pass Q), and submits / (Q × the windows the busy period spans), which also counts the
 *   spread of the first and last batch (arrivals, VEO_MAX_IN_FLIGHT) against the rate;
 * - queue wait per server as a ratio of the fair-share ideal: each server's mean wait (arrival → its permit) divided by
 *   its mean wait in an ideal round-robin schedule of the same permits at the same times (the server served longest
 *   ago first, first come first served within a server). First-come-first-served of the same permits is shown too.
 */
import type { Client } from 'pg';
import type { DiscordEmulator, InteractionHandle } from '../tests/emulators/discord';
import type { WorldGuild } from '../tests/emulators/discord/world';
import type { GoogleEmulator } from '../tests/emulators/google';
import type { BotProcess } from '../tests/helpers/botProcess';

const REQUESTS = 300;
const SERVERS = 30;
const BURST_MS = 10_000;
const QUOTA = 50;
const SPEND_WINDOW_MS = Number(process.env.SPEND_WINDOW_MS) || 15_000;
const OPERATION_MS = { min: 1_000, max: 3_000 };
/** A few busy servers and many quiet ones: fairness is about the quiet ones not waiting behind the busy ones. */
const BUSY_SERVERS = 3;
const BUSY_SHARE = 0.5;

export interface SpendBenchWorld {
  discord: DiscordEmulator;
  google: GoogleEmulator;
  db: Client;
  startBot(extra?: Record<string, string>): Promise<BotProcess>;
  killBots(): Promise<void>;
  emptyTables(): Promise<void>;
}

interface Figure {
  name: string;
  value: string;
  target: string;
  met: boolean | null;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] spend: ${message}\n`);

/** Adds servers to the Discord emulator's world (before the bot connects), shaped like its "other" server. */
function addServers(discord: DiscordEmulator, n: number): WorldGuild[] {
  const guilds = discord.world.guilds as unknown as Record<string, WorldGuild>;
  const base = discord.world.guilds.other;
  const made: WorldGuild[] = [];
  for (let i = 0; i < n; i++) {
    const id = (suffix: string) => `14000000000${String(i).padStart(6, '0')}${suffix}`;
    const guild: WorldGuild = structuredClone(base);
    guild.id = id('01');
    guild.name = `Bench ${i}`;
    guild.roles.everyone.id = guild.id;
    guild.roles.admins.id = id('02');
    guild.roles.bot.id = id('03');
    guild.channels = { general: { ...base.channels.general, id: id('11'), overwrites: [] } };
    guild.members = base.members.map((m) => ({
      ...m,
      roles: m.roles.map((r) => (r === base.roles.bot.id ? guild.roles.bot.id : guild.roles.admins.id)),
    }));
    guild.members.push({ userId: discord.world.users.member2.id, roles: [], joinedAt: base.members[0]!.joinedAt });
    guilds[`bench${i}`] = guild;
    made.push(guild);
  }
  return made;
}

/** Who is served at each permit time: requests by arrival, a rule picking among those waiting. */
function schedule(
  arrivals: { server: number; at: number }[],
  permits: number[],
  pick: (waiting: number[], lastServed: Map<number, number>) => number,
): number[] {
  const order = arrivals.map((_, i) => i).sort((a, b) => arrivals[a]!.at - arrivals[b]!.at);
  const waits = Array<number>(arrivals.length).fill(NaN);
  const lastServed = new Map<number, number>();
  let next = 0;
  const waiting: number[] = [];
  for (const t of [...permits].sort((a, b) => a - b)) {
    while (next < order.length && arrivals[order[next]!]!.at <= t) waiting.push(order[next++]!);
    if (waiting.length === 0) continue;
    const chosen = pick(waiting, lastServed);
    waiting.splice(waiting.indexOf(chosen), 1);
    waits[chosen] = t - arrivals[chosen]!.at;
    lastServed.set(arrivals[chosen]!.server, t);
  }
  return waits;
}

export async function benchSpend(world: SpendBenchWorld): Promise<{ figures: Figure[]; result: object }> {
  const random = mulberry32(20_261_201);
  const servers = addServers(world.discord, SERVERS);
  await world.emptyTables();
  world.google.setSubmitRateLimit({ limit: QUOTA, windowMs: SPEND_WINDOW_MS });
  const span = OPERATION_MS.max - OPERATION_MS.min;
  for (let i = 0; i < REQUESTS; i++) {
    world.google.fateForPrompt(`[spend-${String(i).padStart(3, '0')}]`, {
      kind: 'done',
      afterMs: OPERATION_MS.min + Math.round(random() * span),
      videoBytes: 16 * 1024,
    });
  }
  // Earlier benchmarks of the same run used the same emulator: count only what this one sends.
  const submitsBefore = world.google.submits.length;
  const throttledBefore = world.google.rateLimited.length;
  const bot = await world.startBot({
    VEO_SUBMITS_PER_MINUTE: String(QUOTA),
    VEO_SUBMIT_WINDOW_MS: String(SPEND_WINDOW_MS),
    VEO_POLL_INTERVAL_MS: '250',
    GUILD_DAILY_VIDEO_SECONDS: '600',
    GLOBAL_DAILY_VIDEO_SECONDS: '1800',
  });
  await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready');
  await world.discord.waitFor(
    () => world.discord.commands.global.some((c: { name: string }) => c.name === 'video'),
    30_000,
    'command registration',
  );

  // Who asks when: half the requests from three busy servers, the rest spread over 27 quiet ones; times uniform in
  // the 10 s burst (a fixed pseudo-random sequence, so every run asks the same).
  const plan = Array.from({ length: REQUESTS }, (_, i) => {
    const busy = random() < BUSY_SHARE;
    const server = busy
      ? Math.floor(random() * BUSY_SERVERS)
      : BUSY_SERVERS + Math.floor(random() * (SERVERS - BUSY_SERVERS));
    return { i, server, offset: Math.round(random() * BURST_MS) };
  }).sort((a, b) => a.offset - b.offset);
  const users = [world.discord.world.users.member.id, world.discord.world.users.member2.id];
  const started = Date.now();
  const sent: { handle: InteractionHandle; server: number; at: number }[] = [];
  log(`sending ${REQUESTS} /video from ${SERVERS} servers in ${BURST_MS / 1000} s (window ${SPEND_WINDOW_MS} ms)`);
  for (const p of plan) {
    const wait = started + p.offset - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const guild = servers[p.server]!;
    const handle = world.discord.pushInteraction({
      name: 'video',
      guildId: guild.id,
      channelId: guild.channels.general.id,
      userId: users[p.i % users.length]!,
      options: { prompt: `a burst of lanterns [spend-${String(p.i).padStart(3, '0')}]`, length: 4 },
    });
    sent.push({ handle, server: p.server, at: Date.now() });
  }
  const acks = await Promise.all(sent.map((s) => s.handle.waitForAck(15_000).catch(() => 0)));
  log(`burst sent; ${acks.filter((a) => a === 5).length} accepted, ${acks.filter((a) => a !== 5).length} not`);

  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    const { rows } = await world.db.query<{ left: number }>(
      `SELECT count(*)::int AS left FROM video_requests WHERE status IN ('pending', 'generating') OR announcement = 'due'`,
    );
    if (rows[0]!.left === 0) break;
    if (Date.now() > deadline) throw new Error(`spend bench: ${rows[0]!.left} requests unfinished\n${bot.tail()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await world.killBots();

  const { rows } = await world.db.query<{
    interaction_id: string;
    status: string;
    failure_reason: string | null;
    permit_ms: string | null;
  }>(
    `SELECT r.interaction_id, r.status, r.failure_reason,
       (extract(epoch FROM (SELECT min(a.created_at) FROM video_request_attempts a
          WHERE a.request_id = r.id AND a.state = 'accepted')) * 1000)::text AS permit_ms
     FROM video_requests r`,
  );
  const byInteraction = new Map(rows.map((r) => [r.interaction_id, r]));
  // Permit → Veo's answer (what each submit holds the window for beyond the window itself).
  const trips = (
    await world.db.query<{ ms: number }>(
      `SELECT (extract(epoch FROM answered_at - created_at) * 1000)::float8 AS ms FROM video_request_attempts
        WHERE state = 'accepted'`,
    )
  ).rows.map((r) => r.ms);
  const recorded = sent.filter((s) => byInteraction.has(s.handle.id));
  const failed429 = rows.filter((r) => r.failure_reason === 'veo_busy').length;
  const failedAll = rows.filter((r) => r.status !== 'completed').length;

  // Submit rate over the busy period, as Google saw it.
  const submitTimes = world.google.submits
    .slice(submitsBefore)
    .map((s) => s.at.getTime())
    .sort((a, b) => a - b);
  const busyMs = submitTimes.at(-1)! - submitTimes[0]!;
  const spannedRatio = submitTimes.length / (QUOTA * (busyMs / SPEND_WINDOW_MS + 1));
  const gaps = submitTimes.slice(QUOTA).map((t, k) => t - submitTimes[k]!);
  const rateRatio = SPEND_WINDOW_MS / mean(gaps);
  let peak = 0;
  for (const t of submitTimes)
    peak = Math.max(peak, submitTimes.filter((u) => u >= t && u < t + SPEND_WINDOW_MS).length);

  // Queue wait per server, measured against the ideal round-robin and against first come, first served.
  const arrivals = recorded.map((s) => ({ server: s.server, at: s.at }));
  const permits = recorded.map((s) => Number(byInteraction.get(s.handle.id)!.permit_ms));
  const measured = recorded.map((s, k) => permits[k]! - s.at);
  const roundRobin = schedule(arrivals, permits, (waiting, last) =>
    waiting.reduce((best, c) => {
      const lb = last.get(arrivals[best]!.server) ?? -Infinity;
      const lc = last.get(arrivals[c]!.server) ?? -Infinity;
      return lc < lb || (lc === lb && arrivals[c]!.at < arrivals[best]!.at) ? c : best;
    }),
  );
  const fcfs = schedule(arrivals, permits, (waiting) => waiting[0]!);
  const perServer = Array.from({ length: SERVERS }, (_, server) => {
    const idx = arrivals.map((a, k) => (a.server === server ? k : -1)).filter((k) => k >= 0);
    const m = mean(idx.map((k) => measured[k]!));
    const ideal = mean(idx.map((k) => roundRobin[k]!));
    const first = mean(idx.map((k) => fcfs[k]!));
    return { server, requests: idx.length, busy: server < BUSY_SERVERS, measuredMs: m, idealMs: ideal, fcfsMs: first };
  }).filter((s) => s.requests > 0);
  // Per server, only where the ideal wait is over 1 s (below that the ratio of two tiny numbers says nothing). Servers
  // of one or two requests are noisy either way: the group figures (quiet, busy) are the steady ones.
  const ratios = perServer.filter((s) => s.idealMs >= 1_000).map((s) => s.measuredMs / s.idealMs);
  const quiet = perServer.filter((s) => !s.busy);
  const busy = perServer.filter((s) => s.busy);

  const result = {
    requests: REQUESTS,
    recorded: recorded.length,
    servers: SERVERS,
    busyServers: BUSY_SERVERS,
    burstMs: BURST_MS,
    quota: QUOTA,
    windowMs: SPEND_WINDOW_MS,
    operationMs: OPERATION_MS,
    failedBecauseOf429: failed429,
    failedAll,
    answers429: world.google.rateLimited.length - throttledBefore,
    submits: submitTimes.length,
    busyPeriodMs: busyMs,
    permitToAnswerMs: { median: Math.round(quantile(trips, 0.5)), p90: Math.round(quantile(trips, 0.9)) },
    submitRateToQuota: round(rateRatio, 3),
    meanGapToSubmitQuotaBeforeMs: Math.round(mean(gaps)),
    submitsToQuotaOverWindowsSpanned: round(spannedRatio, 3),
    peakSubmitsInAWindow: peak,
    waitToFairShare: {
      quietServers: round(mean(quiet.map((s) => s.measuredMs)) / mean(quiet.map((s) => s.idealMs)), 3),
      busyServers: round(mean(busy.map((s) => s.measuredMs)) / mean(busy.map((s) => s.idealMs)), 3),
      serversCompared: ratios.length,
      median: round(quantile(ratios, 0.5), 3),
      p90: round(quantile(ratios, 0.9), 3),
      worst: round(Math.max(...ratios), 3),
      best: round(Math.min(...ratios), 3),
    },
    meanWaitMs: {
      quietServers: {
        measured: Math.round(mean(quiet.map((s) => s.measuredMs))),
        roundRobin: Math.round(mean(quiet.map((s) => s.idealMs))),
        fcfs: Math.round(mean(quiet.map((s) => s.fcfsMs))),
      },
      busyServers: {
        measured: Math.round(mean(busy.map((s) => s.measuredMs))),
        roundRobin: Math.round(mean(busy.map((s) => s.idealMs))),
        fcfs: Math.round(mean(busy.map((s) => s.fcfsMs))),
      },
    },
    perServer: perServer.map((s) => ({
      ...s,
      measuredMs: Math.round(s.measuredMs),
      idealMs: Math.round(s.idealMs),
      fcfsMs: Math.round(s.fcfsMs),
    })),
  };
  world.google.setSubmitRateLimit(null);
  await world.emptyTables();
  const q = result.meanWaitMs.quietServers;
  const figures: Figure[] = [
    {
      name: `requests failed because of 429 (${REQUESTS} /video in 10 s, 30 servers)`,
      value: `${failed429} of ${recorded.length} (${failedAll} not completed in all; ${result.answers429} 429 answers)`,
      target: '0',
      met: failed429 === 0,
    },
    {
      name: `  submit rate over the busy period / quota (window ${SPEND_WINDOW_MS / 1000} s)`,
      value:
        `${result.submitRateToQuota} (submit n+${QUOTA} came ${round(mean(gaps) / 1000, 2)} s after submit n; ` +
        `peak ${peak}/${QUOTA} in a window; ${submitTimes.length} in ${round(busyMs / 1000, 1)} s = ` +
        `${result.submitsToQuotaOverWindowsSpanned} of the windows spanned)`,
      target: '0.95-1.0',
      met: rateRatio >= 0.95 && rateRatio <= 1.0 && peak <= QUOTA,
    },
    {
      name: `  queue wait per server / fair-share ideal`,
      value:
        `quiet servers ${result.waitToFairShare.quietServers}, busy ${result.waitToFairShare.busyServers}; per server ` +
        `median ${result.waitToFairShare.median}, p90 ${result.waitToFairShare.p90}, worst ${result.waitToFairShare.worst}`,
      target: 'reported',
      met: null,
    },
    {
      name: `  quiet servers' mean wait: bot vs round-robin vs FCFS`,
      value: `${round(q.measured / 1000, 1)} s vs ${round(q.roundRobin / 1000, 1)} s vs ${round(q.fcfs / 1000, 1)} s`,
      target: 'reported',
      met: null,
    },
  ];
  log(`done: ${JSON.stringify({ failed429, rate: result.submitRateToQuota, peak, fair: result.waitToFairShare })}`);
  return { figures, result };
}
