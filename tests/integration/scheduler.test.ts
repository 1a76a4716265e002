import { testRedisUrl } from '../helpers/redis';
import { container, SapphireClient } from '@sapphire/framework';
import { ScheduledTask, ScheduledTaskStore } from '@sapphire/plugin-scheduled-tasks';
import { createServer, type Server } from 'node:net';
import pino from 'pino';
import { Writable } from 'node:stream';
import { InProcessScheduler, RedisScheduler, parseRedisUrl } from '../../src/app/scheduler/TaskScheduler';

const REDIS_URL = testRedisUrl(10);

function captureLogger() {
  const lines: { level: number; msg: string; task?: string }[] = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, destination) };
}

const runs: { name: string; payload: unknown }[] = [];

class ResumeTask extends ScheduledTask {
  public override async run(payload: unknown) {
    runs.push({ name: 'resume', payload });
  }
}
class SweepTask extends ScheduledTask {
  public constructor(context: ScheduledTask.LoaderContext, options: ScheduledTask.Options) {
    super(context, { ...options, interval: 200 });
  }
  public override async run() {
    runs.push({ name: 'resumeSweep', payload: null });
  }
}

/** A TCP port that accepts connections and never answers: a Redis that is "set but unreachable". */
async function blackHole(): Promise<{ url: string; close(): void }> {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}/9`,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('TaskScheduler', () => {
  let client: SapphireClient;

  beforeAll(async () => {
    client = new SapphireClient({ intents: [], baseUserDirectory: null, tasks: undefined as never });
    client.stores.register(new ScheduledTaskStore());
    await container.stores.loadPiece({ store: 'scheduled-tasks', name: 'resume', piece: ResumeTask });
    await container.stores.loadPiece({ store: 'scheduled-tasks', name: 'resumeSweep', piece: SweepTask });
    // Manually registered pieces are built when the store loads (login does this in the bot).
    await container.stores.get('scheduled-tasks').loadAll();
  });
  afterAll(async () => {
    await client.destroy();
  });
  beforeEach(() => (runs.length = 0));

  it('parses Redis URLs with password, database and TLS', () => {
    expect(parseRedisUrl('redis://:p%40ss@cache:6380/4')).toEqual({
      host: 'cache',
      port: 6380,
      password: 'p@ss',
      db: 4,
    });
    expect(parseRedisUrl('rediss://user:pw@cache')).toEqual({
      host: 'cache',
      port: 6379,
      username: 'user',
      password: 'pw',
      tls: {},
    });
  });

  it('runs one-off and repeated tasks in-process when REDIS_URL is unset', async () => {
    const { logger } = captureLogger();
    const scheduler = new InProcessScheduler(logger);
    await scheduler.create('resume', { reason: 'startup' });
    await scheduler.startRepeated();
    await until(
      () => runs.some((r) => r.name === 'resume') && runs.filter((r) => r.name === 'resumeSweep').length >= 2,
    );
    expect(runs.find((r) => r.name === 'resume')!.payload).toEqual({ reason: 'startup' });
    await scheduler.close();
  });

  it('runs tasks through BullMQ on a real Redis', async () => {
    const { logger } = captureLogger();
    const scheduler = new RedisScheduler(REDIS_URL, logger, 3_000, `veobot-test-${process.pid}`);
    try {
      await scheduler.create('resume', { reason: 'via-redis' });
      await until(() => runs.some((r) => r.name === 'resume'));
      expect(runs.find((r) => r.name === 'resume')!.payload).toEqual({ reason: 'via-redis' });
    } finally {
      await scheduler
        .client()
        .obliterate({ force: true })
        .catch(() => undefined);
      await scheduler.close();
    }
  });

  it('never hangs on a Redis that does not answer: the task runs in-process and the failure is logged', async () => {
    const hole = await blackHole();
    const { lines, logger } = captureLogger();
    const scheduler = new RedisScheduler(hole.url, logger, 500);
    try {
      await scheduler.create('resume', { reason: 'redis-down' });
      await until(() => runs.some((r) => r.name === 'resume'));
      expect(lines.some((l) => l.level === 40 && /running it in this process/.test(l.msg))).toBe(true);
      // Repeated tasks keep running locally while Redis is unreachable.
      await scheduler.startRepeated();
      await until(() => runs.some((r) => r.name === 'resumeSweep'), 15_000);
    } finally {
      // Cut the black hole first: the scheduler must still close without waiting for Redis.
      hole.close();
      await scheduler.close();
    }
  });
});
