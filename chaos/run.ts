// `npm run chaos -- --minutes 3`: crash safety under random kills (issue #7, part 6). Starts the local Discord and
// Google emulators, a fresh PostgreSQL database (and a Redis database when two instances run), and one or two real
// bot processes (`dist/index.js`). For the given time it sends `/video` requests at a steady rate while killing and
// restarting the instances at random: SIGKILL mostly, sometimes SIGTERM, sometimes a restart armed with a random
// CRASH_POINT. Then it drains (one clean instance, until nothing is unfinished), counts what Discord and Veo really
// saw, prints a table and exits non-zero if a request was lost, announced twice or submitted twice (except after a
// failed or filtered Veo operation whose name was lost: it leaves no output to find, so a second submit is by design).
//
//   node --enable-source-maps -r ./sandbox/register.js chaos/run.ts [--minutes N | --seconds N] [--instances 1|2]
//        [--rate requests-per-second] [--keep-logs]
//
// Needs PostgreSQL (CHAOS_DATABASE_URL, TEST_DATABASE_URL, DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres;
// a database is created on that server and dropped afterwards) and, for two instances, Redis (CHAOS_REDIS_URL,
// default redis://127.0.0.1:6379/8, flushed before and after).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { Client } from 'pg';
import { CRASH_POINTS } from '../src/lib/crashPoints';
import { DiscordEmulator, WORLD, type InteractionHandle } from '../tests/emulators/discord';
import { GoogleEmulator } from '../tests/emulators/google';
import { conformanceReportFile } from '../tests/conformance';
import { BotProcess } from '../tests/helpers/botProcess';
import { createEmptyPostgres, serverUrl } from '../tests/helpers/db';
import { ensureBuilt } from '../sandbox/build';
import { pingsFor, resultNotifications, submitsFor } from '../tests/helpers/outcomes';

const ROOT = resolve(__dirname, '..');
/** Bot processes alive right now (killed if this run stops early). */
const running = new Set<BotProcess>();
/** Undo steps for what this run created (database, emulators, Redis keys), run last-first on any exit. */
const cleanups: (() => Promise<unknown>)[] = [];

async function cleanUp(): Promise<void> {
  await Promise.all([...running].map((b) => b.kill()));
  for (const undo of cleanups.splice(0).reverse()) await undo().catch((e) => say(`clean-up step failed: ${String(e)}`));
}

/**
 * A bot killed in the middle of an HTTP request leaves the emulator's half-read request behind ("aborted",
 * ECONNRESET): that is what Discord or Google would see too, not a failure of this run.
 */
function isAbortedRequest(error: unknown): boolean {
  return (
    error instanceof Error && (error as NodeJS.ErrnoException).code === 'ECONNRESET' && error.message === 'aborted'
  );
}

interface Options {
  durationMs: number;
  instances: 1 | 2;
  ratePerSecond: number;
  keepLogs: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { durationMs: 60_000, instances: 2, ratePerSecond: 1, keepLogs: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`);
      return v;
    };
    if (arg === '--minutes') opts.durationMs = value() * 60_000;
    else if (arg === '--seconds') opts.durationMs = value() * 1_000;
    else if (arg === '--instances') {
      const n = value();
      if (n !== 1 && n !== 2) throw new Error('--instances must be 1 or 2');
      opts.instances = n;
    } else if (arg === '--rate') opts.ratePerSecond = value();
    else if (arg === '--keep-logs') opts.keepLogs = true;
    else
      throw new Error(
        `unknown argument ${arg} (expected --minutes N, --seconds N, --instances 1|2, --rate N, --keep-logs)`,
      );
  }
  return opts;
}

/** Settings that make the run dense without changing what the bot does. */
const BOT_SETTINGS: Record<string, string> = {
  VEO_POLL_INTERVAL_MS: '250',
  LEASE_DURATION_MS: '3000',
  SWEEP_INTERVAL_MS: '1000',
  PROGRESS_EDIT_INTERVAL_MS: '1000',
  // Longer than the slowest operation below, so a crash between Veo's acceptance and the storing of the operation
  // name is reconciled through the output folder rather than by a second submit.
  AMBIGUOUS_GRACE_MS: '15000',
  RESUME_CONCURRENCY: '4',
  DAILY_QUOTA: '10000',
  // Crash safety, not spend: no video-seconds budget refuses the run's requests.
  GUILD_DAILY_VIDEO_SECONDS: '0',
  GLOBAL_DAILY_VIDEO_SECONDS: '0',
  LOG_LEVEL: 'info',
};

/** What Veo does with a prompt: most finish in 2 s, some take 6 s, some fail or are filtered. */
const FATES = [
  { tag: '', share: 0.7 },
  { tag: '[slow]', share: 0.15 },
  { tag: '[fails]', share: 0.1 },
  { tag: '[filtered]', share: 0.05 },
] as const;

const USERS = [WORLD.users.member.id, WORLD.users.member2.id, WORLD.users.admin.id, WORLD.users.owner.id];
const CHANNELS = [WORLD.guilds.main.channels.general.id, WORLD.guilds.main.channels.videos.id];

const between = (min: number, max: number) => min + Math.random() * (max - min);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const say = (line: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Sent {
  handle: InteractionHandle;
  userId: string;
}

interface Counters {
  starts: number;
  sigkills: number;
  sigterms: number;
  crashPointDeaths: number;
  crashPointsReached: Record<string, number>;
}

export interface ChaosResult {
  seconds: number;
  instances: number;
  requests: number;
  notAnswered: number;
  refused: number;
  accepted: number;
  /** recorded, then the instance died before acknowledging: resumed and announced in the channel */
  acceptedWithoutAck: number;
  finished: number;
  completed: number;
  failed: number;
  timeout: number;
  lost: number;
  duplicateSubmits: number;
  /** part of duplicateSubmits: the earlier operation failed or was filtered and its name was lost */
  resubmitsAfterLostFailure: number;
  duplicateMessages: number;
  ambiguousAttempts: number;
  ambiguousResubmitted: number;
  starts: number;
  sigkills: number;
  sigterms: number;
  crashPointDeaths: number;
  crashPointsReached: Record<string, number>;
  drainMs: number;
  problems: string[];
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  ensureBuilt(ROOT, say);
  const logDir = mkdtempSync(join(tmpdir(), 'veobot-chaos-'));
  const redisUrl = opts.instances === 2 ? process.env.CHAOS_REDIS_URL || 'redis://127.0.0.1:6379/8' : undefined;
  const chaosDb = await createEmptyPostgres({
    server: process.env.CHAOS_DATABASE_URL || serverUrl(),
    prefix: 'veobot_chaos_',
    randomBytes: 5,
  });
  cleanups.push(chaosDb.dropDatabase);
  const { name: dbName, url: databaseUrl } = chaosDb;

  const [discord, google] = await Promise.all([DiscordEmulator.start(), GoogleEmulator.start()]);
  cleanups.push(() => Promise.allSettled([discord.close(), google.close()]));
  // VEOBOT_CONFORMANCE_REPORT=file: what the bots sent, checked against Discord's and Google's published specs.
  const conformance = conformanceReportFile(discord, google);
  cleanups.push(async () => conformance.write());
  google.setDefaultFate({ kind: 'done', afterMs: 2_000, videoBytes: 24_000 });
  google.fateForPrompt('[slow]', { kind: 'done', afterMs: 6_000, videoBytes: 24_000 });
  google.fateForPrompt('[fails]', { kind: 'failed', code: 13, message: 'internal error', afterMs: 1_500 });
  google.fateForPrompt('[filtered]', {
    kind: 'filtered',
    reasons: ['The prompt could not be submitted.'],
    afterMs: 1_000,
  });
  const keyFile = google.writeServiceAccountKey(logDir);
  const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 2 }) : undefined;
  if (redis) {
    cleanups.push(async () => {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    });
    await redis.flushdb();
  }

  const env = (extra: Record<string, string>): Record<string, string> => ({
    DISCORD_TOKEN: discord.token,
    DISCORD_API_URL: discord.apiUrl,
    ...google.env(keyFile),
    DATABASE_URL: databaseUrl,
    DATA_DIR: join(logDir, 'data'),
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...BOT_SETTINGS,
    ...extra,
  });

  const counters: Counters = { starts: 0, sigkills: 0, sigterms: 0, crashPointDeaths: 0, crashPointsReached: {} };
  let processes = 0;
  const saveLogs = (bot: BotProcess, name: string) =>
    writeFileSync(join(logDir, `${name}.log`), `${bot.stdout}\n--- stderr ---\n${bot.stderr}`);

  /** Starts one instance and waits for its gateway; undefined if it died first (an armed point reached at start). */
  const launch = async (slot: number, crashPoint?: string): Promise<{ bot: BotProcess; name: string } | undefined> => {
    const name = `instance-${slot}-${++processes}${crashPoint ? `-${crashPoint}` : ''}`;
    const bot = await BotProcess.start(env({ INSTANCE_ID: name, ...(crashPoint ? { CRASH_POINT: crashPoint } : {}) }), {
      waitForReady: false,
    });
    running.add(bot);
    void bot.exited.then(() => {
      running.delete(bot);
      saveLogs(bot, name);
      const reached = /CRASH_POINT (\S+) reached/.exec(bot.stderr)?.[1];
      if (reached) {
        counters.crashPointDeaths++;
        counters.crashPointsReached[reached] = (counters.crashPointsReached[reached] ?? 0) + 1;
      }
    });
    counters.starts++;
    try {
      await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000);
      return { bot, name };
    } catch {
      if (bot.running) await bot.kill();
      return undefined;
    }
  };

  // The first instance migrates the new database before any other starts.
  const first = await launch(0);
  if (!first) throw new Error(`the first instance did not start; logs in ${logDir}`);
  await discord.waitFor(() => discord.commands.global.some((c) => c.name === 'video'), 30_000, 'command registration');
  say(
    `${opts.instances} instance(s), ${opts.ratePerSecond} request(s)/s for ${Math.round(opts.durationMs / 1000)} s; database ${dbName}${redisUrl ? `, Redis ${redisUrl}` : ''}`,
  );

  const endAt = Date.now() + opts.durationMs;
  const sent: Sent[] = [];

  const chaosLoop = async (slot: number, initial?: BotProcess): Promise<void> => {
    let bot = initial;
    for (;;) {
      if (!bot) {
        const armed = Math.random() < 0.3 ? pick(CRASH_POINTS) : undefined;
        bot = (await launch(slot, armed))?.bot;
        if (!bot) continue;
      }
      const uptime = between(3_000, 12_000);
      const died = await Promise.race([
        bot.exited.then(() => true),
        sleep(Math.min(uptime, Math.max(0, endAt - Date.now()))).then(() => false),
      ]);
      if (Date.now() >= endAt) return; // the final kill below takes it
      if (!died) {
        if (Math.random() < 0.8) {
          counters.sigkills++;
          await bot.kill();
        } else {
          counters.sigterms++;
          await bot.stop(20_000);
        }
      }
      bot = undefined;
      await sleep(between(300, 3_000));
    }
  };

  const pusher = async (): Promise<void> => {
    const interval = 1000 / opts.ratePerSecond;
    let n = 0;
    while (Date.now() < endAt) {
      const tick = Date.now();
      const r = Math.random();
      let acc = 0;
      const tag = FATES.find((f) => (acc += f.share) >= r)?.tag ?? '';
      const userId = pick(USERS);
      try {
        const handle = discord.pushInteraction({
          name: 'video',
          guildId: WORLD.guilds.main.id,
          channelId: pick(CHANNELS),
          userId,
          options: { prompt: `chaos request ${++n} ${tag}`.trim(), length: 4 },
        });
        sent.push({ handle, userId });
      } catch {
        // No instance is connected right now: Discord could not deliver the command either; try again shortly.
        await sleep(200);
        continue;
      }
      await sleep(Math.max(0, interval - (Date.now() - tick)));
    }
  };

  const loops = [chaosLoop(0, first.bot)];
  if (opts.instances === 2) loops.push(chaosLoop(1));
  await Promise.all([pusher(), ...loops]);

  // The run ends with a kill of whatever is still up, then one clean instance drains the rest.
  const survivors = [...running];
  counters.sigkills += survivors.length;
  await Promise.all(survivors.map((b) => b.kill()));
  say(`requests sent: ${sent.length}; draining with one clean instance …`);
  const drainStarted = Date.now();
  const ds = new Client({ connectionString: databaseUrl });
  await ds.connect();
  const problems: string[] = [];
  let drainer: BotProcess | undefined;
  for (let tries = 0; !drainer && tries < 3; tries++) drainer = (await launch(9))?.bot;
  if (!drainer) problems.push('the draining instance did not start');
  const drainDeadline = Date.now() + Number(BOT_SETTINGS.AMBIGUOUS_GRACE_MS) + 120_000;
  for (;;) {
    const { rows } = await ds.query(
      `SELECT count(*)::int AS n FROM video_requests WHERE status IN ('pending', 'generating') OR announcement = 'due'`,
    );
    if (rows[0].n === 0) break;
    if (Date.now() > drainDeadline) {
      problems.push(`${rows[0].n} request(s) still unfinished or unannounced after the drain`);
      break;
    }
    await sleep(500);
  }
  const drainMs = Date.now() - drainStarted;
  // Let a late duplicate show up before counting.
  await sleep(2_000);

  // ---- count what users and the bill saw --------------------------------------------------------------------------
  const { rows } = await ds.query(`SELECT id, user_id, status, announcement, interaction_token FROM video_requests`);
  const byToken = new Map<string, { id: string }>(
    rows.filter((r) => r.interaction_token).map((r) => [r.interaction_token as string, r]),
  );
  let notAnswered = 0;
  let refused = 0;
  let lost = 0;
  for (const s of sent) {
    const ack = s.handle.interaction.ackType;
    if (byToken.has(s.handle.token)) continue;
    // Not acknowledged: Discord showed "The application did not respond" and nothing was recorded.
    if (ack === undefined) notAnswered++;
    // Answered with a reason (e.g. "The bot is restarting"): nothing was started.
    else if (ack === 4) refused++;
    else {
      lost++;
      problems.push(`interaction ${s.handle.id} was acknowledged (type ${ack}) but no request was recorded`);
    }
  }
  let duplicateSubmits = 0;
  let resubmitsAfterLostFailure = 0;
  let duplicateMessages = 0;
  const status = { completed: 0, failed: 0, timeout: 0 };
  let finished = 0;
  for (const r of rows) {
    const submits = submitsFor(google, r.id);
    const results = resultNotifications(discord, r.id).length;
    const pings = pingsFor(discord, r.id, r.user_id).length;
    if (submits > 1) {
      duplicateSubmits += submits - 1;
      // A failed or filtered operation writes nothing to its output folder: if the bot died before storing its name,
      // nothing tells it from a submit that never reached Veo, and the bot submits again after the grace period.
      const ops = [...google.operations.values()]
        .filter((op) => String(op.storageUri ?? '').includes(r.id))
        .sort((a, b) => a.submittedAt - b.submittedAt);
      const earlierMadeNothing =
        ops.length === submits && ops.slice(0, -1).every((op) => op.state === 'failed' || op.state === 'filtered');
      if (earlierMadeNothing) resubmitsAfterLostFailure += submits - 1;
      else problems.push(`request ${r.id}: ${submits} Veo submits (${ops.map((op) => op.state).join(', ')})`);
    }
    const extra = Math.max(0, results - 1, pings - 1);
    if (extra > 0) {
      duplicateMessages += extra;
      problems.push(`request ${r.id}: ${results} result messages, ${pings} pings`);
    }
    const done = ['completed', 'failed', 'timeout'].includes(r.status) && r.announcement === 'sent' && results >= 1;
    if (done) {
      finished++;
      status[r.status as keyof typeof status]++;
    } else {
      lost++;
      problems.push(`request ${r.id}: ${r.status}, announcement ${r.announcement}, ${results} result message(s)`);
    }
  }
  const acceptedWithoutAck = sent.filter(
    (s) => byToken.has(s.handle.token) && s.handle.interaction.ackType === undefined,
  ).length;
  const { rows: amb } = await ds.query(
    `SELECT count(*)::int AS ambiguous, count(*) FILTER (WHERE state = 'abandoned')::int AS resubmitted
     FROM video_request_attempts WHERE operation_name IS NULL AND state IN ('submitting', 'abandoned')`,
  );
  await ds.end();

  const result: ChaosResult = {
    seconds: Math.round(opts.durationMs / 1000),
    instances: opts.instances,
    requests: sent.length,
    notAnswered,
    refused,
    accepted: rows.length,
    acceptedWithoutAck,
    finished,
    ...status,
    lost,
    duplicateSubmits,
    resubmitsAfterLostFailure,
    duplicateMessages,
    ambiguousAttempts: amb[0].ambiguous,
    ambiguousResubmitted: amb[0].resubmitted,
    ...counters,
    drainMs,
    problems,
  };

  // ---- clean up ---------------------------------------------------------------------------------------------------
  await Promise.all([...running].map((b) => b.stop(10_000)));
  await cleanUp();

  printTable(result);
  const ok =
    result.lost === 0 &&
    result.duplicateSubmits === result.resubmitsAfterLostFailure &&
    result.duplicateMessages === 0 &&
    problems.length === 0;
  if (ok && !opts.keepLogs) rmSync(logDir, { recursive: true, force: true });
  else say(`bot logs: ${logDir}`);
  for (const p of problems.slice(0, 30)) say(`PROBLEM ${p}`);
  process.stdout.write(`CHAOS_RESULT ${JSON.stringify(result)}\n`);
  return ok ? 0 : 1;
}

function printTable(r: ChaosResult): void {
  const points = Object.entries(r.crashPointsReached)
    .map(([p, n]) => `${p} ×${n}`)
    .join(', ');
  const rows: [string, string | number][] = [
    ['run', `${r.seconds} s, ${r.instances} instance(s)`],
    ['instance starts', r.starts],
    ['SIGKILL / SIGTERM from outside', `${r.sigkills} / ${r.sigterms}`],
    ['died at a crash point', `${r.crashPointDeaths}${points ? ` (${points})` : ''}`],
    ['requests sent', r.requests],
    ['  not answered (died before the ack)', r.notAnswered],
    ['  refused with a reason', r.refused],
    [
      '  accepted (request recorded)',
      `${r.accepted} (of which the instance died before the ack: ${r.acceptedWithoutAck})`,
    ],
    ['finished and announced', `${r.finished} (completed ${r.completed}, failed ${r.failed}, timeout ${r.timeout})`],
    ['lost', r.lost],
    [
      'duplicate submits',
      `${r.duplicateSubmits} (after a failed operation whose name was lost: ${r.resubmitsAfterLostFailure})`,
    ],
    ['duplicate messages', r.duplicateMessages],
    ['ambiguous attempts', `${r.ambiguousAttempts} (resubmitted after the grace period: ${r.ambiguousResubmitted})`],
    ['drain', `${(r.drainMs / 1000).toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v)}`).join('\n')}\n\n`);
}

const fail = async (error: unknown): Promise<never> => {
  process.stderr.write(
    `chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await cleanUp();
  process.exit(2);
};
process.on('unhandledRejection', (error) => void (isAbortedRequest(error) ? undefined : fail(error)));
process.on('uncaughtException', (error) => void (isAbortedRequest(error) ? undefined : fail(error)));
process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));

main().then((code) => process.exit(code), fail);
