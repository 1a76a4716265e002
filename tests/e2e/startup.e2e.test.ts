import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BotProcess } from '../helpers/botProcess';
import { TcpProxy } from '../helpers/tcpProxy';
import { E2EWorld, WORLD } from '../helpers/e2e';

jest.setTimeout(120_000);

/** What an operator sees when starting the bot: bad settings, a shared DATA_DIR, a graceful stop. */
describe('starting and stopping the bot (real entry point)', () => {
  it('with no settings at all, exits non-zero with one readable message naming every missing setting and no stack trace', async () => {
    const bot = await BotProcess.start({}, { waitForReady: false });
    const { code } = await bot.exited;
    expect(code).toBe(1);
    expect(bot.stderr).toMatch(/veobot cannot start/);
    for (const name of ['DISCORD_TOKEN', 'GOOGLE_CLOUD_PROJECT', 'GCS_BUCKET'])
      expect(bot.stderr).toContain(`${name} is missing`);
    expect(bot.stderr).not.toMatch(/^\s+at /m);
    expect(bot.stdout).toBe(''); // nothing started, nothing logged
  });

  it('with invalid values, names each one and what it expects, without echoing a password', async () => {
    const bot = await BotProcess.start(
      {
        DISCORD_TOKEN: 'x.y.z',
        GOOGLE_CLOUD_PROJECT: 'p',
        GCS_BUCKET: 'b-ok',
        RESUME_CONCURRENCY: '0',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
        VEO_POLL_INTERVAL_MS: 'soon',
      },
      { waitForReady: false },
    );
    expect((await bot.exited).code).toBe(1);
    expect(bot.stderr).toMatch(/RESUME_CONCURRENCY="0" is invalid/);
    expect(bot.stderr).toMatch(/DATABASE_URL is invalid/);
    expect(bot.stderr).toMatch(/VEO_POLL_INTERVAL_MS="soon" is invalid/);
    expect(bot.stderr).not.toContain('hunter2');
  });

  describe('with the emulators', () => {
    let world: E2EWorld;
    beforeAll(async () => {
      world = await E2EWorld.start();
    });
    afterAll(async () => world?.close());

    it('refuses a second process on the same embedded DATA_DIR with a clear error, and the first keeps running', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'veobot-datadir-'));
      try {
        const embedded = { DATABASE_URL: '', DATA_DIR: dataDir };
        const first = await world.startBot(embedded);
        const second = await BotProcess.start(world.env(embedded), { waitForReady: false });
        world.bots.push(second);
        expect((await second.exited).code).toBe(1);
        const fatal = second.logs.find((l) => l.level === 60);
        expect(fatal?.msg).toBe('veobot could not start');
        expect(JSON.stringify(fatal)).toMatch(
          /is in use by process \d+: the embedded database allows one process at a time/,
        );
        expect(first.running).toBe(true);
        await first.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('on SIGTERM stops taking work, releases the lease of an in-flight request, exits 0; the next start finishes it', async () => {
      world.google.setDefaultFate({ kind: 'done', afterMs: 4_000, videoBytes: 32_000 });
      const bot = await world.startBot();
      const handle = world.video({ prompt: 'a lighthouse in a storm' }, { userId: WORLD.users.member2.id });
      await handle.waitForAck(5_000);
      await world.waitForRow((rows) => rows[0]?.status === 'generating', WORLD.users.member2.id);
      const { code } = await bot.stop();
      expect(code).toBe(0);
      expect(bot.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
      const [row] = await world.requestsOf(WORLD.users.member2.id);
      // Released at once, so another instance need not wait for the lease to run out.
      expect(row).toMatchObject({ status: 'generating', leaseOwner: null });

      await world.startBot();
      const [done] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', WORLD.users.member2.id, 60_000);
      expect(done).toMatchObject({ status: 'completed', submitAttempts: 1 });
      expect(world.google.submits.filter((s) => String(s.parameters.storageUri).includes(done!.id))).toHaveLength(1);
    });

    it('on SIGTERM with a database that stopped answering, exits non-zero after SHUTDOWN_TIMEOUT_MS, logged; nothing is lost', async () => {
      const proxy = await TcpProxy.start({
        host: new URL(world.db.url!).hostname,
        port: Number(new URL(world.db.url!).port || 5432),
      });
      try {
        world.google.setDefaultFate({ kind: 'done', afterMs: 3_000, videoBytes: 32_000 });
        const bot = await world.startBot({ DATABASE_URL: proxy.rewrite(world.db.url!), SHUTDOWN_TIMEOUT_MS: '3000' });
        world.video({ prompt: 'a frozen lake at dusk' }, { userId: WORLD.users.admin.id });
        await world.waitForRow((rows) => rows[0]?.status === 'generating', WORLD.users.admin.id);
        proxy.freeze(); // every query hangs: the graceful shutdown cannot finish
        const { code, signal } = await bot.stop(60_000);
        expect(signal).toBeNull(); // it exited by itself, not killed by the test's fallback
        expect(code).toBe(1);
        expect(
          bot.logs.some(
            (l) => l.msg === 'shutdown did not finish within SHUTDOWN_TIMEOUT_MS; releasing what it can and exiting',
          ),
        ).toBe(true);
        expect(bot.logs.some((l) => l.msg === 'shutdown complete')).toBe(false);

        // The request was not lost: once its lease runs out, the next start finishes it, paid once.
        await world.startBot();
        const [done] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', WORLD.users.admin.id, 90_000);
        expect(done).toMatchObject({ status: 'completed', submitAttempts: 1 });
      } finally {
        await proxy.close();
      }
    });
  });
});
