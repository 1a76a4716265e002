import { container } from '@sapphire/framework';
import { ScheduledTaskHandler, type ScheduledTaskStore } from '@sapphire/plugin-scheduled-tasks';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export type TaskName = 'resume' | 'resumeSweep';

/**
 * Triggers scheduled tasks. PostgreSQL holds all request state and every claim is fenced there, so a task that runs
 * twice, or on another instance, is harmless; the scheduler only decides *when* work is looked at. That is why a
 * Redis failure degrades to running the task in this process instead of losing it.
 */
export interface TaskScheduler {
  readonly mode: 'redis' | 'in-process';
  /** Schedules a one-off run. Never hangs: falls back to an in-process run when Redis does not answer in time. */
  create(name: TaskName, payload: Record<string, unknown>, options?: { delayMs?: number }): Promise<void>;
  /** Starts the repeated tasks declared by pieces with an `interval`. */
  startRepeated(): Promise<void>;
  close(): Promise<void>;
}

function taskStore(): ScheduledTaskStore {
  return container.stores.get('scheduled-tasks') as ScheduledTaskStore;
}

/** Runs a task piece in this process, catching its errors (a task's failure must never crash the bot). */
async function runLocally(name: TaskName, payload: Record<string, unknown>, logger: Logger): Promise<void> {
  const piece = taskStore().get(name);
  if (!piece) {
    logger.error({ task: name }, 'scheduled task not found');
    return;
  }
  try {
    await piece.run(payload as never);
  } catch (error) {
    logger.error({ err: error, task: name }, 'scheduled task failed');
  }
}

export class InProcessScheduler implements TaskScheduler {
  public readonly mode = 'in-process' as const;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  public constructor(private readonly logger: Logger) {}

  public async create(name: TaskName, payload: Record<string, unknown>, options?: { delayMs?: number }): Promise<void> {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void runLocally(name, payload, this.logger);
    }, options?.delayMs ?? 0);
    this.timers.add(timer);
  }

  public async startRepeated(): Promise<void> {
    for (const piece of taskStore().repeatedTasks) {
      if (!piece.interval) continue;
      let running = false;
      const timer = setInterval(() => {
        // Never overlap runs of the same task in one process.
        if (running || this.closed) return;
        running = true;
        void runLocally(piece.name as TaskName, {}, this.logger).finally(() => (running = false));
      }, piece.interval);
      timer.unref();
      this.timers.add(timer);
    }
  }

  public async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

export function parseRedisUrl(url: string): RedisConnectionOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * BullMQ (through @sapphire/plugin-scheduled-tasks) on Redis: one-off and repeated jobs are shared by every instance.
 * While Redis is unreachable, repeated tasks run on a local timer and one-off tasks run in-process.
 */
export class RedisScheduler implements TaskScheduler {
  public readonly mode = 'redis' as const;
  private readonly fallback: InProcessScheduler;
  private readonly handler: ScheduledTaskHandler;
  /** Every Redis connection BullMQ uses, so close() can cut them even when Redis never answers. */
  private readonly connections = new Set<Redis>();
  private watchdog: NodeJS.Timeout | undefined;
  private redisHealthy = true;

  public constructor(
    redisUrl: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 3_000,
    queue = 'veobot-tasks',
  ) {
    this.fallback = new InProcessScheduler(logger);
    // BullMQ shares this connection and duplicates it for the worker's blocking reads; both are tracked.
    const connection = this.track(
      new Redis({ ...parseRedisUrl(redisUrl), maxRetriesPerRequest: null } as RedisOptions),
    );
    const duplicate = connection.duplicate.bind(connection);
    connection.duplicate = (override?: Partial<RedisOptions>) => this.track(duplicate(override));
    // removeOnComplete keeps Redis from filling up with finished one-off jobs.
    this.handler = new ScheduledTaskHandler({
      queue,
      bull: { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: 100 } },
    });
    container.tasks = this.handler;
  }

  public async create(name: TaskName, payload: Record<string, unknown>, options?: { delayMs?: number }): Promise<void> {
    try {
      await withTimeout(
        this.handler.create({ name, payload } as never, options?.delayMs ?? undefined),
        this.timeoutMs,
        `creating task ${name} in Redis`,
      );
    } catch (error) {
      this.logger.warn({ err: error, task: name }, 'Redis did not take the task; running it in this process instead');
      await this.fallback.create(name, payload, options);
    }
  }

  public async startRepeated(): Promise<void> {
    for (const piece of taskStore().repeatedTasks) {
      if (!piece.interval) continue;
      try {
        await this.createRepeated(piece.name, piece.interval, piece.customJobOptions);
      } catch (error) {
        this.logger.warn({ err: error, task: piece.name }, 'could not create repeated task in Redis');
      }
    }
    // While Redis is down nobody's repeated jobs fire, so each instance keeps the sweep going on its own.
    const interval = Math.min(...taskStore().repeatedTasks.map((p) => p.interval ?? Infinity), 30_000);
    this.watchdog = setInterval(() => void this.checkRedis(), interval);
    this.watchdog.unref();
  }

  private createRepeated(name: string, interval: number, customJobOptions: unknown): Promise<unknown> {
    return withTimeout(
      this.handler.create(name as never, { repeated: true, interval, customJobOptions } as never),
      this.timeoutMs,
      `creating repeated task ${name}`,
    );
  }

  /**
   * A Redis that restarted empty (or whose data was flushed) has forgotten the repeated jobs, and nobody's sweep would
   * ever run again: put back any that are missing. Creating one that exists is harmless (same repeat key).
   */
  private async restoreRepeatedJobs(): Promise<void> {
    const existing = await withTimeout(this.handler.client.getRepeatableJobs(), 1_000, 'listing repeated tasks');
    for (const piece of taskStore().repeatedTasks) {
      if (!piece.interval || existing.some((job) => job.name === piece.name)) continue;
      await this.createRepeated(piece.name, piece.interval, piece.customJobOptions);
      this.logger.warn(
        { task: piece.name },
        'repeated task was missing from Redis (restarted empty?); created it again',
      );
    }
  }

  private track(redis: Redis): Redis {
    redis.on('error', () => undefined); // reported through BullMQ's own error events; avoid unhandled 'error'
    this.connections.add(redis);
    return redis;
  }

  /** The BullMQ queue (for maintenance and tests). */
  public client() {
    return this.handler.client;
  }

  private async checkRedis(): Promise<void> {
    try {
      const client = await withTimeout(this.handler.client.client, 1_000, 'Redis client');
      await withTimeout(client.ping(), 1_000, 'Redis ping');
      await this.restoreRepeatedJobs();
      if (!this.redisHealthy) this.logger.info('Redis is reachable again; scheduled tasks are back on BullMQ');
      this.redisHealthy = true;
    } catch (error) {
      if (this.redisHealthy)
        this.logger.warn({ err: error }, 'Redis is unreachable; running repeated tasks in this process');
      this.redisHealthy = false;
      for (const piece of taskStore().repeatedTasks) {
        if (piece.interval) await runLocally(piece.name as TaskName, {}, this.logger);
      }
    }
  }

  public async close(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await this.fallback.close();
    try {
      await withTimeout(this.handler.close(), this.timeoutMs, 'closing Redis connections');
    } catch (error) {
      this.logger.warn({ err: error }, 'Redis connections did not close cleanly');
    } finally {
      for (const redis of this.connections) redis.disconnect();
    }
  }
}
