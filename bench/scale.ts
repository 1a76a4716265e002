/**
 * Scale-out (issue #15, `npm run bench`, BENCH_ONLY=scale): real bot processes sharing one PostgreSQL and one Redis.
 *
 * 1. kill -9 of an instance → the first poll of each of its requests by the other instance (the survivor), with the
 *    survivor idle and with it busy with long Veo operations of its own (one it resumed at startup, so a sweep of its
 *    own stays open, and two live `/video` requests): KILLS kills each, median and max. Default INSTANCE_DEAD_AFTER_MS
 *    (15 s), LEASE_DURATION_MS (60 s) and SWEEP_INTERVAL_MS (30 s). To keep the bench to minutes, VICTIMS_PER_ROUND
 *    victims are killed at once per round (each with one request generating), and the survivor has
 *    RESUME_CONCURRENCY=6 so a round's requests all fit in its free slots.
 * 2. same-id restart: a process killed with its request generating is started again with the same INSTANCE_ID;
 *    from its gateway READY to the first poll of that request (and from the kill), RESTARTS times.
 * 3. throughput of 2 processes vs 1 draining the same backlog of pending requests at the same emulated Veo latency
 *    (RESUME_CONCURRENCY default 3 each): requests finished (completed and announced) per minute, and the ratio.
 *
 * Times come from the emulators, which run in this process: a poll is seen within POLL_WATCH_MS of its arrival.
 */
import pino from 'pino';
import { loadConfig } from '../src/lib/config';
import { StorageService } from '../src/services/StorageService';
import { VeoService } from '../src/services/VeoService';
import { WORLD } from '../tests/emulators/discord';
import type { BotProcess } from '../tests/helpers/botProcess';
import type { Figure } from './report';
import { median, round } from './stats';
import { type BenchWorld, CHANNEL, GUILD, log, MODEL, REQUESTER } from './world';

const KILLS = 20;
const VICTIMS_PER_ROUND = 5;
const RESTARTS = 5;
const BACKLOG = 36;
const BACKLOG_VEO_MS = 1_500;
const POLL_WATCH_MS = 20;
/** The survivor's settings: the defaults that matter here, spelt out (and a scaled Veo poll interval). */
const SCALE_ENV = {
  INSTANCE_DEAD_AFTER_MS: '15000',
  LEASE_DURATION_MS: '60000',
  SWEEP_INTERVAL_MS: '30000',
  VEO_POLL_INTERVAL_MS: '1000',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  ms = 120_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`bench scale: timed out waiting for ${what}`);
    await sleep(POLL_WATCH_MS);
  }
}

/** Indexes of gateway sessions that are live now and were not in `known`. */
function newSessions(world: BenchWorld, known: Set<number>): number[] {
  return world.discord.sessions.flatMap((s, i) => (s.ready && s.connected && !known.has(i) ? [i] : []));
}

function pushVideo(world: BenchWorld, prompt: string, sessionIndex: number, userId = REQUESTER) {
  return world.discord.pushInteraction({
    name: 'video',
    guildId: GUILD,
    channelId: CHANNEL,
    userId,
    options: { prompt, length: 4 },
    sessionIndex,
  });
}

async function waitReady(bot: BotProcess): Promise<number> {
  const line = await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready');
  return bot.receivedAt(line);
}

async function generatingOf(world: BenchWorld, prompts: string[]) {
  return until(async () => {
    const r = await world.db.query<{ id: string; operation_name: string; lease_owner: string; status: string }>(
      `SELECT id, operation_name, lease_owner, status FROM video_requests WHERE prompt = ANY($1)`,
      [prompts],
    );
    return r.rows.length === prompts.length && r.rows.every((x) => x.status === 'generating') && r.rows;
  }, 'requests generating');
}

/** Waits for the first poll of each operation after `pollsBefore`; returns when each came (epoch ms). */
async function firstPolls(world: BenchWorld, pollsBefore: Map<string, number>): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  await until(
    () => {
      for (const [op, before] of pollsBefore)
        if (!seen.has(op) && world.google.pollCount(op) > before) seen.set(op, Date.now());
      return seen.size === pollsBefore.size;
    },
    'the survivor’s first polls',
    90_000,
  );
  return seen;
}

/**
 * A generating request left by an earlier crash (lease run out) whose Veo operation never ends: inserted pending,
 * submitted with the bot's own clients, then recorded as the bot records an accepted submit.
 */
async function seedNeverEndingRow(world: BenchWorld, prompt: string): Promise<string> {
  const config = loadConfig(world.env());
  const silent = pino({ level: 'silent' });
  const veo = VeoService.create(config.google, silent);
  const storage = StorageService.create(config.google, config.video, silent);
  const { rows } = await world.db.query<{ id: string }>(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
       generate_audio, status, model, created_at, lease_owner, lease_expires_at, fence)
     VALUES ($1, $2, $3, $4, 4, '16:9', '720p', true, 'pending', $5, now() - interval '5 minutes', 'crashed',
       now() - interval '1 second', 2)
     RETURNING id`,
    [REQUESTER, GUILD, CHANNEL, prompt, MODEL],
  );
  const id = rows[0]!.id;
  const prefix = storage.outputPrefix({ guildId: GUILD, channelId: CHANNEL, userId: REQUESTER, requestId: id }, 1);
  world.google.scriptNext({ kind: 'never' });
  const operationName = await veo.startGeneration(
    {
      prompt,
      model: MODEL,
      durationSeconds: 4,
      aspectRatio: '16:9',
      resolution: '720p',
      generateAudio: true,
      negativePrompt: null,
      seed: null,
    },
    storage.outputUri(prefix),
  );
  await world.db.query(
    `UPDATE video_requests SET status = 'generating', operation_name = $2, gcs_prefix = $3, started_at = now(),
       submit_attempts = 1 WHERE id = $1`,
    [id, operationName, prefix],
  );
  await world.db.query(
    `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state, operation_name, accepted_at)
     VALUES ($1, 1, $2, 'accepted', $3, now())`,
    [id, prefix, operationName],
  );
  return id;
}

async function killRounds(world: BenchWorld, busy: boolean): Promise<{ ms: number[]; survivorOwn: number }> {
  await world.emptyTables();
  const survivorEnv = { ...SCALE_ENV, RESUME_CONCURRENCY: '6', INSTANCE_ID: `survivor-${busy ? 'busy' : 'idle'}` };
  let own: string[] = [];
  if (busy) {
    // One request left by an earlier crash, whose operation will not end during the bench: the survivor resumes it at
    // startup, so a sweep of its own is open the whole time (what used to hold every later sweep back).
    own.push(await seedNeverEndingRow(world, 'survivor resumed'));
  }
  const known = new Set(world.discord.sessions.keys());
  const survivor = await world.startBot(survivorEnv);
  await waitReady(survivor);
  const [survivorSession] = await until(() => newSessions(world, known).length > 0 && newSessions(world, known), 's');
  known.add(survivorSession!);
  if (busy) {
    world.google.fateForPrompt('survivor live', { kind: 'never' });
    for (let i = 0; i < 2; i++) pushVideo(world, `survivor live ${i}`, survivorSession!, WORLD.users.member2.id);
    const rows = await generatingOf(world, ['survivor live 0', 'survivor live 1', 'survivor resumed']);
    own = rows.map((r) => r.id);
  }

  const ms: number[] = [];
  const rounds = Math.ceil(KILLS / VICTIMS_PER_ROUND);
  for (let round = 0; round < rounds; round++) {
    const n = Math.min(VICTIMS_PER_ROUND, KILLS - round * VICTIMS_PER_ROUND);
    const victims = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        world.startBot({ ...SCALE_ENV, INSTANCE_ID: `victim-${busy ? 'b' : 'i'}-${round}-${i}` }),
      ),
    );
    await Promise.all(victims.map(waitReady));
    const sessions = await until(() => newSessions(world, known).length >= n && newSessions(world, known), 'victims');
    const prompts = sessions.map((s, i) => `victim ${busy ? 'busy' : 'idle'} round ${round} #${i}`);
    for (const p of prompts) world.google.fateForPrompt(p, { kind: 'done', afterMs: 3_000, videoBytes: 16 * 1024 });
    sessions.forEach((s, i) => {
      known.add(s);
      pushVideo(world, prompts[i]!, s);
    });
    const rows = await generatingOf(world, prompts);
    if (rows.some((r) => !r.lease_owner.startsWith('victim-')))
      throw new Error('a victim request held by the survivor');
    // A moment for every victim to have polled (and beaten) as a live process would have.
    await sleep(1_000);
    const pollsBefore = new Map(rows.map((r) => [r.operation_name, world.google.pollCount(r.operation_name)]));
    const killedAt = Date.now();
    await Promise.all(victims.map((v) => v.kill()));
    const polled = await firstPolls(world, pollsBefore);
    for (const at of polled.values()) ms.push(at - killedAt);
    log(
      `scale: ${busy ? 'busy' : 'idle'} survivor, round ${round + 1}/${rounds}: ${[...polled.values()].map((t) => t - killedAt).join(', ')} ms`,
    );
    // Each victim process leaves a bot row "not responding" and its requests finished by the survivor.
    await until(async () => {
      const r = await world.db.query(`SELECT 1 FROM video_requests WHERE prompt = ANY($1) AND announcement = 'sent'`, [
        prompts,
      ]);
      return r.rows.length === prompts.length;
    }, 'the victims’ requests finished');
    for (const v of victims) world.bots.splice(world.bots.indexOf(v), 1);
  }
  let survivorOwn = 0;
  if (busy) {
    const r = await world.db.query(
      `SELECT 1 FROM video_requests WHERE id = ANY($1::uuid[]) AND status = 'generating'`,
      [own],
    );
    survivorOwn = r.rows.length;
  }
  await world.killBots();
  return { ms, survivorOwn };
}

async function restarts(world: BenchWorld): Promise<{ readyToPollMs: number[]; killToPollMs: number[] }> {
  await world.emptyTables();
  const readyToPollMs: number[] = [];
  const killToPollMs: number[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    const env = { ...SCALE_ENV, INSTANCE_ID: `veobot-${i}` };
    const known = new Set(world.discord.sessions.keys());
    const first = await world.startBot(env);
    await waitReady(first);
    const [session] = await until(() => newSessions(world, known).length > 0 && newSessions(world, known), 'session');
    const prompt = `restarted ${i}`;
    world.google.fateForPrompt(prompt, { kind: 'done', afterMs: 20_000, videoBytes: 16 * 1024 });
    pushVideo(world, prompt, session!);
    const [row] = await generatingOf(world, [prompt]);
    await sleep(500);
    const pollsBefore = new Map([[row!.operation_name, world.google.pollCount(row!.operation_name)]]);
    const killedAt = Date.now();
    await first.kill();
    const second = await world.startBot(env);
    const polled = await firstPolls(world, pollsBefore);
    const ready = await waitReady(second);
    const at = polled.get(row!.operation_name)!;
    readyToPollMs.push(at - ready);
    killToPollMs.push(at - killedAt);
    log(
      `scale: same-id restart ${i + 1}/${RESTARTS}: READY → first poll ${at - ready} ms (kill → ${at - killedAt} ms)`,
    );
    world.google.completeOperation(row!.operation_name);
    await world.killBots();
  }
  return { readyToPollMs, killToPollMs };
}

async function throughput(world: BenchWorld, processes: number): Promise<{ ms: number; perMinute: number }> {
  await world.emptyTables();
  world.google.fateForPrompt('[backlog]', { kind: 'done', afterMs: BACKLOG_VEO_MS, videoBytes: 16 * 1024 });
  await world.db.query(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
       generate_audio, status, model, created_at, updated_at)
     SELECT $1, $2, $3, '[backlog] request ' || i, 4, '16:9', '720p', false, 'pending', $4,
       now() - interval '5 minutes' + (i || ' milliseconds')::interval, now()
     FROM generate_series(1, ${BACKLOG}) i`,
    [REQUESTER, GUILD, CHANNEL, MODEL],
  );
  const bots = await Promise.all(
    Array.from({ length: processes }, (_, i) =>
      world.startBot({ ...SCALE_ENV, INSTANCE_ID: `drain-${processes}-${i}` }),
    ),
  );
  // From the first READY: each process claims from its own READY on, so a slower start counts against the pair.
  const started = Math.min(...(await Promise.all(bots.map(waitReady))));
  await until(
    async () => {
      const r = await world.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM video_requests WHERE status = 'completed' AND announcement = 'sent'`,
      );
      return r.rows[0]!.n === BACKLOG;
    },
    'the backlog drained',
    300_000,
  );
  const ms = Date.now() - started;
  await world.killBots();
  const perMinute = round(BACKLOG / (ms / 60_000), 1);
  log(`scale: ${processes} process(es) drained ${BACKLOG} requests in ${ms} ms = ${perMinute}/min`);
  return { ms, perMinute };
}

export async function benchScale(world: BenchWorld) {
  const idle = await killRounds(world, false);
  const busy = await killRounds(world, true);
  const restart = await restarts(world);
  const one = await throughput(world, 1);
  const two = await throughput(world, 2);
  const summary = (ms: number[]) => ({ medianMs: median(ms), maxMs: Math.max(...ms), ms });
  const result = {
    kills: KILLS,
    victimsPerRound: VICTIMS_PER_ROUND,
    settings: SCALE_ENV,
    idle: summary(idle.ms),
    busy: { ...summary(busy.ms), survivorOwnStillRunning: busy.survivorOwn },
    restart: {
      readyToFirstPoll: summary(restart.readyToPollMs),
      killToFirstPoll: summary(restart.killToPollMs),
    },
    throughput: {
      backlog: BACKLOG,
      veoMs: BACKLOG_VEO_MS,
      oneProcess: one,
      twoProcesses: two,
      ratio: round(two.perMinute / one.perMinute, 2),
    },
  };
  const s = (ms: number) => `${round(ms / 1000, 1)} s`;
  const figures: Figure[] = [
    {
      name: `kill -9 of 1 of 2 → first poll by the idle survivor (${KILLS} kills)`,
      value: `median ${s(result.idle.medianMs)}, max ${s(result.idle.maxMs)}`,
      target: 'max <= 20 s',
      met: result.idle.maxMs <= 20_000,
    },
    {
      name: `kill -9 of 1 of 2 → first poll by the busy survivor (${KILLS} kills)`,
      value: `median ${s(result.busy.medianMs)}, max ${s(result.busy.maxMs)}`,
      target: 'max <= 20 s',
      met: result.busy.maxMs <= 20_000 && busy.survivorOwn === 3,
    },
    {
      name: `same-id restart: READY → first poll of its request (${RESTARTS} restarts)`,
      value: `median ${s(result.restart.readyToFirstPoll.medianMs)}, max ${s(result.restart.readyToFirstPoll.maxMs)} (kill → poll max ${s(result.restart.killToFirstPoll.maxMs)})`,
      target: '<= 5 s',
      met: result.restart.readyToFirstPoll.maxMs <= 5_000,
    },
    {
      name: `throughput, ${BACKLOG} requests at ${BACKLOG_VEO_MS} ms of Veo: 2 processes vs 1`,
      value: `${two.perMinute}/min vs ${one.perMinute}/min = ${result.throughput.ratio}x`,
      target: '-',
      met: null,
    },
  ];
  return { figures, result };
}
