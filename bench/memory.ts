/**
 * Startup memory (issue #17): peak resident memory of the real bot (`dist/index.js`) from spawn to its `gateway ready`
 * log line, as an operator would measure it with `/usr/bin/time -v` (both read the kernel's high-water mark, VmHWM),
 * in three setups:
 * - embedded, first start: a new, empty DATA_DIR;
 * - embedded, later start: the DATA_DIR that first start left (stopped with SIGTERM, as a restart does);
 * - PostgreSQL server mode (DATABASE_URL).
 * Each setup starts RUNS times, alternating; medians are compared. Also reports the time to `gateway ready`, and (first
 * run only) the peak after the bot has then served REQUESTS `/video` requests, embedded against PostgreSQL.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORLD, type DiscordEmulator } from '../tests/emulators/discord';
import type { GoogleEmulator } from '../tests/emulators/google';
import { BotProcess } from '../tests/helpers/botProcess';
import { waitForResult } from '../tests/helpers/videoReplies';

const MiB = 1024 * 1024;
const RUNS = 3;
const REQUESTS = 10;

/** What the bench world offers: the bot's environment (emulators and DATABASE_URL of a migrated database). */
export interface StartupMemoryWorld {
  env(extra?: Record<string, string>): Record<string, string>;
  discord: DiscordEmulator;
  google: GoogleEmulator;
}

type Setup = 'embeddedFirst' | 'embeddedExisting' | 'postgres';

interface Start {
  peakRssBytes: number;
  readyMs: number;
}

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

/** REQUESTS `/video` requests one after another (256 KiB videos, attached), each to its result. */
async function serveRequests(world: StartupMemoryWorld, tag: string): Promise<void> {
  const video = (c: { name: string }) => c.name === 'video';
  await world.discord.waitFor(() => world.discord.commands.global.some(video), 30_000, 'command registration');
  for (let i = 0; i < REQUESTS; i++) {
    world.google.scriptNext({ kind: 'done', afterMs: 200, videoBytes: 256 * 1024 });
    const handle = world.discord.pushInteraction({
      name: 'video',
      guildId: WORLD.guilds.main.id,
      channelId: WORLD.guilds.main.channels.general.id,
      userId: WORLD.users.member.id,
      options: { prompt: `startup memory bench ${tag} ${i}`, length: 8 },
    });
    await waitForResult(handle, 60_000);
  }
}

function diskBytes(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, name) => sum + diskBytes(join(path, name)), 0);
}

async function startToReady(env: Record<string, string>): Promise<{ bot: BotProcess; start: Start }> {
  const bot = await BotProcess.start({ NODE_ENV: 'production', ...env }, { waitForReady: false });
  try {
    const ready = await bot.waitForLog((l) => l.msg === 'gateway ready', 120_000, 'gateway ready');
    // VmHWM only grows: read once the login is seen (the bot goes on with its startup sweep meanwhile, which adds
    // little; reading it at once keeps that small).
    return { bot, start: { peakRssBytes: peakRss(bot.pid), readyMs: bot.receivedAt(ready) - bot.startedAt } };
  } catch (err) {
    await bot.kill();
    throw err;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

export async function benchStartupMemory(world: StartupMemoryWorld, runs = RUNS, log?: (message: string) => void) {
  const starts: Record<Setup, Start[]> = { embeddedFirst: [], embeddedExisting: [], postgres: [] };
  const dataDirBytes: number[] = [];
  const afterRequests: Partial<Record<Setup, number>> = {};
  for (let run = 0; run < runs; run++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'veobot-bench-datadir-'));
    try {
      const fast = { VEO_POLL_INTERVAL_MS: '100' };
      const embedded = world.env({ ...fast, DATABASE_URL: '', DATA_DIR: dataDir });
      for (const setup of ['embeddedFirst', 'embeddedExisting', 'postgres'] as const) {
        const { bot, start } = await startToReady(setup === 'postgres' ? world.env(fast) : embedded);
        if (run === 0 && setup !== 'embeddedFirst') {
          await serveRequests(world, setup);
          afterRequests[setup] = peakRss(bot.pid);
        }
        const exit = await bot.stop();
        if (exit.code !== 0) throw new Error(`the bot (${setup}) did not stop cleanly: ${JSON.stringify(exit)}`);
        starts[setup].push(start);
        log?.(`startup memory ${setup}: peak ${mib(start.peakRssBytes)} MiB, ready in ${start.readyMs} ms`);
      }
      dataDirBytes.push(diskBytes(dataDir));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const peak = (s: Setup) => median(starts[s].map((x) => x.peakRssBytes));
  const ready = (s: Setup) => median(starts[s].map((x) => x.readyMs));
  const result = {
    runs,
    peakRssBytes: {
      embeddedFirst: peak('embeddedFirst'),
      embeddedExisting: peak('embeddedExisting'),
      postgres: peak('postgres'),
    },
    readyMs: {
      embeddedFirst: ready('embeddedFirst'),
      embeddedExisting: ready('embeddedExisting'),
      postgres: ready('postgres'),
    },
    firstToPostgres: ratio(peak('embeddedFirst'), peak('postgres')),
    existingToPostgres: ratio(peak('embeddedExisting'), peak('postgres')),
    dataDirBytes: median(dataDirBytes),
    requests: REQUESTS,
    peakAfterRequestsBytes: afterRequests,
    starts,
  };
  const figures = [
    {
      name: `startup peak RSS: embedded, existing DATA_DIR vs PostgreSQL (median of ${runs})`,
      value: `${mib(result.peakRssBytes.embeddedExisting)} MiB vs ${mib(result.peakRssBytes.postgres)} MiB = ${result.existingToPostgres}x`,
      target: '<= 1.5x',
      met: result.existingToPostgres <= 1.5,
    },
    {
      name: `  same, embedded first start (empty DATA_DIR)`,
      value: `${mib(result.peakRssBytes.embeddedFirst)} MiB vs ${mib(result.peakRssBytes.postgres)} MiB = ${result.firstToPostgres}x`,
      target: '<= 2x',
      met: result.firstToPostgres <= 2,
    },
    {
      name: `  same, peak after ${REQUESTS} /video requests (one run)`,
      value: `${mib(afterRequests.embeddedExisting!)} MiB vs ${mib(afterRequests.postgres!)} MiB = ${ratio(afterRequests.embeddedExisting!, afterRequests.postgres!)}x`,
      target: 'reported',
      met: null,
    },
    {
      name: `  time to gateway ready: first start / existing / PostgreSQL`,
      value: `${ready('embeddedFirst')} / ${ready('embeddedExisting')} / ${ready('postgres')} ms (DATA_DIR ${mib(result.dataDirBytes)} MiB)`,
      target: 'reported',
      met: null,
    },
  ];
  return { result, figures };
}
