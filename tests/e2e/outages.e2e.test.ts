/**
 * Outages, end to end: the real bot process loses PostgreSQL (every connection cut through a local TCP proxy) and
 * Redis (a throwaway redis-server it uses is killed and started again) while requests are being resumed and made.
 * The bot stays up and, once the server is back, finishes and announces every request exactly once, with one Veo
 * submit each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { WORLD, E2EWorld } from '../helpers/e2e';
import type { BotProcess } from '../helpers/botProcess';
import { resultMessages, rowStates, seedGeneratingRow, seedRow, submitsFor, waitUntil } from '../helpers/seedRows';
import { TcpProxy } from '../helpers/tcpProxy';
import { isResult } from '../helpers/videoReplies';
import type { InteractionHandle } from '../emulators/discord';

jest.setTimeout(240_000);

const CH = WORLD.guilds.main.channels;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;

/** What the operator would notice: the process still running, and no unhandled promise rejection in its log. */
function expectBotHealthy(bot: BotProcess): void {
  expect(bot.running).toBe(true);
  expect(bot.logs.filter((l) => l.msg === 'unhandled promise rejection')).toEqual([]);
  expect(bot.stderr).not.toMatch(/UnhandledPromiseRejection|Error:/);
}

/** Every request finished, announced once, and submitted to Veo once. */
async function expectAllDelivered(world: E2EWorld, ids: string[]): Promise<void> {
  const rows = await rowStates(world, ids);
  for (const row of rows) {
    expect({ id: row.id, status: row.status, announcement: row.announcement }).toEqual({
      id: row.id,
      status: 'completed',
      announcement: 'sent',
    });
    expect({ id: row.id, submits: submitsFor(world, row.id) }).toEqual({ id: row.id, submits: 1 });
    expect({ id: row.id, results: resultMessages(world, row.id).length }).toEqual({ id: row.id, results: 1 });
  }
}

/**
 * A /video reply ends on its result, or (when the request was picked up again after its worker stopped) on a pointer
 * to the result message; never on a progress embed that says it is still being made.
 */
function expectEndsOnResult(world: E2EWorld, handle: InteractionHandle, id: string): void {
  const reply = handle.original()!;
  const title = String(reply.embeds[0]?.title ?? '');
  if (isResult(reply)) expect(title).toMatch(/ready/);
  else {
    expect(title).toMatch(/Finished after a bot restart/);
    const [result] = resultMessages(world, id).filter((m) => m.kind === 'channel');
    expect(String(reply.embeds[0].description)).toContain(result!.id);
  }
}

/** Waits for every row to be announced; on a timeout, says where each row stands and what the bot logged. */
async function waitAnnounced(world: E2EWorld, bot: BotProcess, ids: () => string[], timeoutMs: number): Promise<void> {
  try {
    await waitUntil(
      'every request announced',
      async () => (await rowStates(world, ids())).every((r) => r.announcement === 'sent'),
      timeoutMs,
    );
  } catch (error) {
    const rows = await rowStates(world, ids());
    if (process.env.OUTAGE_LOG)
      writeFileSync(process.env.OUTAGE_LOG, bot.logs.map((l) => JSON.stringify(l)).join('\n'));
    const warnings = bot.logs
      .filter((l) => l.level >= 40)
      .slice(-20)
      .map((l) => `${l.msg} ${JSON.stringify(l.err ?? '').slice(0, 200)}`);
    throw new Error(
      `${(error as Error).message}\nrows: ${JSON.stringify(rows)}\nlast warnings:\n${warnings.join('\n')}`,
      { cause: error },
    );
  }
}

async function idOf(world: E2EWorld, handle: InteractionHandle, userId: string): Promise<string> {
  await handle.waitForAck(10_000);
  return waitUntil(`the row of interaction ${handle.token.slice(0, 8)}`, async () => {
    const rows = (await world.db.database.dataSource.query(
      `SELECT id FROM video_requests WHERE user_id = $1 AND interaction_token = $2`,
      [userId, handle.token],
    )) as { id: string }[];
    return rows[0]?.id;
  });
}

describe('PostgreSQL outage in the middle of a resume (connections cut through a TCP proxy)', () => {
  let world: E2EWorld;
  let proxy: TcpProxy;

  beforeAll(async () => {
    world = await E2EWorld.start();
    const server = new URL(world.db.url!);
    proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port || 5432) });
  });
  afterAll(async () => {
    await world?.close();
    await proxy?.close();
  });

  it('survives connections cut for 4 s with requests in flight, then finishes and announces each once', async () => {
    world.google.setDefaultFate({ kind: 'done', afterMs: 4_000, videoBytes: 32 * 1024 });
    // Left unfinished by a dead instance: three waiting to be submitted, two already generating at Veo.
    const pending: string[] = [];
    for (let i = 0; i < 3; i++) pending.push(await seedRow(world, { prompt: `a paper boat on a river, take ${i}` }));
    const generating: string[] = [];
    for (let i = 0; i < 2; i++)
      generating.push(
        (
          await seedGeneratingRow(
            world,
            { kind: 'done', afterMs: 9_000, videoBytes: 32 * 1024 },
            { prompt: `a lighthouse at night, take ${i}` },
          )
        ).id,
      );

    const bot = await world.startBot({ DATABASE_URL: proxy.rewrite(world.db.url!), RESUME_CONCURRENCY: '3' });
    const live = world.video(
      { prompt: 'a hummingbird drinking nectar', length: 4 },
      { userId: MEMBER2, channelId: CH.videos.id },
    );
    const liveId = await idOf(world, live, MEMBER2);

    // Mid-resume: the resume sweep has submitted some of the pending rows and the live request is at Veo.
    await waitUntil(
      'resume under way',
      () =>
        bot.logs.some((l) => l.msg === 'resume sweep started') &&
        submitsFor(world, pending[0]!) + submitsFor(world, pending[1]!) + submitsFor(world, pending[2]!) >= 2 &&
        submitsFor(world, liveId) === 1,
    );
    const before = await rowStates(world, [...pending, ...generating, liveId]);
    expect(before.filter((r) => r.status === 'completed')).toEqual([]);

    proxy.cut();
    const severed = proxy.severed;
    // The outage lasts until the bot has tried (and been refused) a few times, however slow the machine is.
    await waitUntil('the bot to try the database while it is gone', () => proxy.refused >= 3, 60_000);
    expect(bot.running).toBe(true);
    expect(proxy.refused).toBeGreaterThan(0); // the bot kept trying while the database was gone
    proxy.restore();

    const all = [...pending, ...generating, liveId];
    await waitAnnounced(world, bot, () => all, 90_000);
    // Give a stale worker time to do anything it still would (a second message, a late progress edit).
    await new Promise((r) => setTimeout(r, 3_000));

    expect(severed).toBeGreaterThan(0);
    await expectAllDelivered(world, all);
    expectEndsOnResult(world, live, liveId);
    expectBotHealthy(bot);
    // The outage was noticed and logged, not hidden.
    expect(
      bot.logs.some((l) => l.level >= 40 && /terminated|ECONNRESET|Connection/i.test(JSON.stringify(l.err ?? l))),
    ).toBe(true);
  });
});

/** A free TCP port on loopback (closed again at once, for redis-server to take). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A throwaway redis-server of this test only (never the shared one on 6379), killed and started again at will. */
class ThrowawayRedis {
  private child: ChildProcess | undefined;
  public constructor(public readonly port: number) {}

  public get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  public async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
  }

  /** SIGKILL: Redis gone without a goodbye, its data with it (nothing is persisted). */
  public async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

describe('Redis outage while requests are made and resumed (throwaway redis-server)', () => {
  let world: E2EWorld;
  let redis: ThrowawayRedis;

  beforeAll(async () => {
    world = await E2EWorld.start();
    redis = new ThrowawayRedis(await freePort());
    await redis.start();
  });
  afterAll(async () => {
    await world?.close();
    await redis?.kill();
  });

  it('keeps generating and resuming while Redis is down, and after it comes back; nothing lost, nothing submitted twice', async () => {
    world.google.setDefaultFate({ kind: 'done', afterMs: 2_000, videoBytes: 32 * 1024 });
    const bot = await world.startBot({ REDIS_URL: redis.url, DAILY_QUOTA: '50' });
    await bot.waitForLog((l) => l.msg === 'resume sweep finished', 30_000);

    const live: { handle: InteractionHandle; id: string }[] = [];
    const resumed: string[] = [];
    const ask = async (prompt: string, userId: string) => {
      const handle = world.video({ prompt, length: 4 }, { userId, channelId: CH.videos.id });
      live.push({ handle, id: await idOf(world, handle, userId) });
    };

    // Redis up: a request, and a row a dead instance left behind (found by the repeated sweep on BullMQ).
    await ask('a fox in the snow, before', MEMBER);
    resumed.push(await seedRow(world, { prompt: 'an orphaned request, before' }));
    await waitUntil('the first requests announced', async () =>
      (await rowStates(world, [...live.map((l) => l.id), ...resumed])).every((r) => r.announcement === 'sent'),
    );

    // Redis dies. Requests keep coming in, and orphaned rows keep showing up for the sweep.
    await ask('a fox in the snow, in flight while Redis dies', MEMBER2);
    await redis.kill();
    await ask('a fox in the snow, during the outage', MEMBER);
    resumed.push(await seedRow(world, { prompt: 'an orphaned request, during' }));
    await bot.waitForLog((l) => l.msg === 'Redis is unreachable; running repeated tasks in this process', 60_000);
    await ask('a fox in the snow, later in the outage', MEMBER2);
    resumed.push(await seedRow(world, { prompt: 'another orphaned request, during' }));
    await waitAnnounced(world, bot, () => [...live.map((l) => l.id), ...resumed], 90_000);
    expect(bot.running).toBe(true);

    // Redis is back (empty: it kept nothing).
    await redis.start();
    await bot.waitForLog((l) => l.msg === 'Redis is reachable again; scheduled tasks are back on BullMQ', 60_000);
    // It came back empty: the repeated sweep must be put back, or orphaned rows would wait for the next restart.
    expect(
      bot.logs.some((l) => l.msg === 'repeated task was missing from Redis (restarted empty?); created it again'),
    ).toBe(true);
    await ask('a fox in the snow, after', MEMBER);
    resumed.push(await seedRow(world, { prompt: 'an orphaned request, after' }));

    const all = [...live.map((l) => l.id), ...resumed];
    await waitAnnounced(world, bot, () => all, 90_000);
    await new Promise((r) => setTimeout(r, 2_000));

    await expectAllDelivered(world, all);
    for (const { handle, id } of live) expectEndsOnResult(world, handle, id);
    expectBotHealthy(bot);
  });
});
