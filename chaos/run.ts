// `npm run chaos -- --minutes 3`: crash safety under random kills (issue #7, part 6). Starts the local Discord and
// Google emulators, a fresh PostgreSQL database (and a Redis database when two instances run), and one or two real
// bot processes (`dist/index.js`). For the given time it sends `/video` requests at a steady rate while killing and
// restarting the instances at random: SIGKILL mostly, sometimes SIGTERM, sometimes a restart armed with a random
// CRASH_POINT. Then it drains (one clean instance, until nothing is unfinished), counts what Discord and Veo really
// saw, prints a table and exits non-zero if a request was lost, announced twice or submitted twice (except after a
// failed or filtered Veo operation whose name was lost: it leaves no output to find, so a second submit is by design).
// This file drives the run (instances, kills, requests, the drain); settings.ts holds what the run is made of,
// count.ts counts what users and the bill saw, report.ts prints the table and says whether the run passed.
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
import { DiscordEmulator, WORLD } from '../tests/emulators/discord';
import { GoogleEmulator } from '../tests/emulators/google';
import { conformanceReportFile } from '../tests/conformance';
import { BotProcess } from '../tests/helpers/botProcess';
import { createEmptyPostgres, serverUrl } from '../tests/helpers/db';
import { ensureBuilt } from '../sandbox/build';
import { countOutcomes, type Sent } from './count';
import { type ChaosResult, passed, printTable } from './report';
import { BOT_SETTINGS, CHANNELS, FATES, parseArgs, USERS } from './settings';

export type { ChaosResult } from './report';

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

const between = (min: number, max: number) => min + Math.random() * (max - min);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const say = (line: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Counters {
  starts: number;
  sigkills: number;
  sigterms: number;
  crashPointDeaths: number;
  crashPointsReached: Record<string, number>;
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

  const outcomes = await countOutcomes(ds, sent, discord, google, problems);
  await ds.end();

  const result: ChaosResult = {
    seconds: Math.round(opts.durationMs / 1000),
    instances: opts.instances,
    requests: sent.length,
    ...outcomes,
    ...counters,
    drainMs,
    problems,
  };

  // ---- clean up ---------------------------------------------------------------------------------------------------
  await Promise.all([...running].map((b) => b.stop(10_000)));
  await cleanUp();

  printTable(result);
  const ok = passed(result);
  if (ok && !opts.keepLogs) rmSync(logDir, { recursive: true, force: true });
  else say(`bot logs: ${logDir}`);
  for (const p of problems.slice(0, 30)) say(`PROBLEM ${p}`);
  process.stdout.write(`CHAOS_RESULT ${JSON.stringify(result)}\n`);
  return ok ? 0 : 1;
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
