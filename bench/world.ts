/**
 * The world every `npm run bench` part runs in: the local Discord and Google emulators, a PostgreSQL database of its
 * own (created and migrated with the bot's code, dropped at the end) and real bot processes (dist/index.js).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { openDatabase } from '../src/db/dataSource';
import { DiscordEmulator, WORLD } from '../tests/emulators/discord';
import { GoogleEmulator } from '../tests/emulators/google';
import { BotProcess } from '../tests/helpers/botProcess';

export const MODEL = 'veo-3.1-fast-generate-001';
export const GUILD = WORLD.guilds.main.id;
export const CHANNEL = WORLD.guilds.main.channels.general.id;
export const REQUESTER = WORLD.users.member.id;
/** Scaled down (real Veo is polled every 10 s): the poll interval the resume and memory parts give the bot. */
export const POLL_INTERVAL_MS = 100;

export function serverUrl(): string {
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

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export class BenchWorld {
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
