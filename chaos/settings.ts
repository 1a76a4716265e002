// What a chaos run is made of: its command-line options, the bot's settings, what Veo does with each prompt, and who
// sends the requests where.
import { WORLD } from '../tests/emulators/discord';

export interface Options {
  durationMs: number;
  instances: 1 | 2;
  ratePerSecond: number;
  keepLogs: boolean;
}

export function parseArgs(argv: string[]): Options {
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
export const BOT_SETTINGS: Record<string, string> = {
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
export const FATES = [
  { tag: '', share: 0.7 },
  { tag: '[slow]', share: 0.15 },
  { tag: '[fails]', share: 0.1 },
  { tag: '[filtered]', share: 0.05 },
] as const;

export const USERS = [WORLD.users.member.id, WORLD.users.member2.id, WORLD.users.admin.id, WORLD.users.owner.id];
export const CHANNELS = [WORLD.guilds.main.channels.general.id, WORLD.guilds.main.channels.videos.id];
