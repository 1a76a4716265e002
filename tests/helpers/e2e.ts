import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import type { VideoRequestRow } from '../../src/domain/request';
import { assertConformingTraffic, TrafficWatch } from '../conformance';
import {
  DiscordEmulator,
  WORLD,
  type EmulatedMessage,
  type EmulatedUpload,
  type InteractionHandle,
} from '../emulators/discord';
import { GoogleEmulator } from '../emulators/google';
import { BotProcess } from './botProcess';
import { createTestDatabase, silentLogger, type TestDatabase } from './db';

export { WORLD };

/**
 * Every world this test file starts. After all of the file's own clean-up hooks (a root-level afterAll runs last),
 * what the bot sent in them is checked against Discord's and Google's published specs; the file fails with each
 * route and field that departs from them (tests/conformance/README.md). Not thrown from close(), so a failing check
 * never skips the clean-up that follows close() in a test's own hook.
 */
const worlds: TrafficWatch[] = [];
if (typeof afterAll === 'function') afterAll(() => assertConformingTraffic(worlds.splice(0)));

/** Settings that make an end-to-end run fast without changing what the bot does. */
export const FAST_SETTINGS: Record<string, string> = {
  VEO_POLL_INTERVAL_MS: '100',
  LEASE_DURATION_MS: '3000',
  SWEEP_INTERVAL_MS: '1000',
  PROGRESS_EDIT_INTERVAL_MS: '300',
  AMBIGUOUS_GRACE_MS: '4000',
  LOG_LEVEL: 'debug',
};

/**
 * Everything an end-to-end test needs: the Discord and Google emulators, a fresh PostgreSQL database and a
 * RequestStore on it for assertions, and a way to start the real bot against them.
 */
export class E2EWorld {
  public readonly bots: BotProcess[] = [];
  public readonly tracking: RequestStore;
  /** Everything the bot sends; checked against Discord's and Google's published specs after the test file. */
  public readonly traffic = new TrafficWatch();

  private constructor(
    public readonly discord: DiscordEmulator,
    public readonly google: GoogleEmulator,
    public readonly db: TestDatabase,
    public readonly keyFile: string,
    private readonly tempDir: string,
  ) {
    this.tracking = createRequestStore(db.database.dataSource, silentLogger());
    this.traffic.watchDiscord(discord).watchGoogle(google);
    worlds.push(this.traffic);
  }

  public static async start(options: { bucket?: string } = {}): Promise<E2EWorld> {
    const tempDir = mkdtempSync(join(tmpdir(), 'veobot-e2e-'));
    const [discord, google, db] = await Promise.all([
      DiscordEmulator.start(),
      GoogleEmulator.start({ bucket: options.bucket }),
      createTestDatabase('postgres'),
    ]);
    const keyFile = google.writeServiceAccountKey(tempDir);
    google.setDefaultFate({ kind: 'done', afterPolls: 2, videoBytes: 64 * 1024 });
    return new E2EWorld(discord, google, db, keyFile, tempDir);
  }

  /** The environment an operator would give the bot to use these emulators and this database. */
  public env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      DISCORD_TOKEN: this.discord.token,
      DISCORD_API_URL: this.discord.apiUrl,
      ...this.google.env(this.keyFile),
      DATABASE_URL: this.db.url!,
      DATA_DIR: join(this.tempDir, 'data'),
      ...FAST_SETTINGS,
      ...extra,
    };
  }

  /** Starts the real bot and waits until its commands are registered (it can take slash commands then). */
  public async startBot(
    extra: Record<string, string> = {},
    options: { waitForCommands?: boolean } = {},
  ): Promise<BotProcess> {
    const bot = await BotProcess.start(this.env(extra));
    this.bots.push(bot);
    if (options.waitForCommands ?? true) {
      await this.discord.waitFor(
        () => this.discord.commands.global.some((c) => c.name === 'video'),
        15_000,
        'command registration',
      );
    }
    return bot;
  }

  public video(
    options: Record<string, string | number | boolean | EmulatedUpload>,
    who: { userId?: string; channelId?: string; guildId?: string; attachmentSizeLimit?: number } = {},
  ): InteractionHandle {
    return this.discord.pushInteraction({
      name: 'video',
      guildId: who.guildId ?? WORLD.guilds.main.id,
      channelId: who.channelId ?? WORLD.guilds.main.channels.general.id,
      userId: who.userId ?? WORLD.users.member.id,
      options,
      attachmentSizeLimit: who.attachmentSizeLimit,
    });
  }

  public async requestsOf(userId: string): Promise<VideoRequestRow[]> {
    const rows = (await this.db.database.dataSource.query(
      'SELECT id FROM video_requests WHERE user_id = $1 ORDER BY created_at',
      [userId],
    )) as { id: string }[];
    const out: VideoRequestRow[] = [];
    for (const r of rows) out.push((await this.tracking.requests.getById(r.id))!);
    return out;
  }

  public async waitForRow(
    predicate: (rows: VideoRequestRow[]) => boolean,
    userId: string,
    timeoutMs = 20_000,
  ): Promise<VideoRequestRow[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.requestsOf(userId);
      if (predicate(rows)) return rows;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for request rows; last: ${JSON.stringify(rows.map((r) => ({ id: r.id, status: r.status, announcement: r.announcement, error: r.errorMessage })))}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Channel messages (not interaction replies) the bot posted in a channel. */
  public channelMessages(channelId: string): EmulatedMessage[] {
    return this.discord.messages(channelId).filter((m) => m.kind === 'channel' && m.authorId === WORLD.botUserId);
  }

  public async close(): Promise<void> {
    // E2E_DUMP_LOGS=1 prints each bot's warnings and errors: the first thing to read when an end-to-end test fails.
    if (process.env.E2E_DUMP_LOGS) {
      for (const [i, bot] of this.bots.entries()) {
        const lines = bot.logs
          .filter((l) => l.level >= (process.env.E2E_DUMP_LOGS === 'all' ? 0 : 40))
          .map((l) => JSON.stringify(l));
        console.log(`bot #${i + 1} warnings and errors:\n${lines.join('\n')}\nstderr:\n${bot.stderr}`);
      }
    }
    await Promise.all(this.bots.map((b) => b.kill()));
    await Promise.allSettled([this.discord.close(), this.google.close(), this.db.drop()]);
    rmSync(this.tempDir, { recursive: true, force: true });
  }
}
