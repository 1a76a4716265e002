/**
 * Peak memory of the bot delivering ten 19 MiB videos one after another (`npm run bench`, figure 4): growth of its
 * resident memory over the resting size after a warm-up, for the first video and for all ten, against the file size.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Figure } from './report';
import { round } from './stats';
import { type BenchWorld, CHANNEL, GUILD, POLL_INTERVAL_MS, REQUESTER } from './world';

const MiB = 1024 * 1024;
const MEMORY_VIDEOS = 10;
const MEMORY_VIDEO_BYTES = 19 * MiB;

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
function processMemory(pid: number): { rss: number; peakRss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
}

export async function benchMemory(world: BenchWorld) {
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

export function memoryFigures(memory: Awaited<ReturnType<typeof benchMemory>>): Figure[] {
  return [
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
  ];
}
