import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import type { Logger } from 'pino';

/** What @discordjs/ws asks of an identify throttler (its IIdentifyThrottler). */
export interface IdentifyThrottler {
  waitForIdentify(shardId: number, signal: AbortSignal): Promise<void>;
}

/** "Number of identify requests allowed per 5 seconds" (Discord, session start limit object, max_concurrency). */
const IDENTIFY_WINDOW_MS = 5_000;
/** Slot kept a little longer than the window: the IDENTIFY goes out just after the slot is taken. */
const SLOT_MS = IDENTIFY_WINDOW_MS + 250;

/**
 * One IDENTIFY per 5 s per rate-limit bucket (`shard_id % max_concurrency`) across every process on one Redis.
 * @discordjs/ws's own SimpleIdentifyThrottler keeps that rule within a process only, so two processes starting at
 * once both identify in bucket 0 and Discord refuses the later one (op 9, and 5 s lost). Here a bucket's slot is a
 * Redis key set with NX and a 5 s expiry: whoever sets it may identify; the others wait for it to expire. If Redis
 * fails, this falls back to the per-process rule (the worst case is then an op 9, which discord.js recovers from).
 */
export class RedisIdentifyThrottler implements IdentifyThrottler {
  private readonly localLast = new Map<number, number>();

  public constructor(
    private readonly redis: Redis,
    private readonly maxConcurrency: number,
    private readonly holder: string,
    private readonly logger: Logger,
  ) {}

  public async waitForIdentify(shardId: number, signal: AbortSignal): Promise<void> {
    const bucket = shardId % this.maxConcurrency;
    const key = `veobot:identify:bucket:${bucket}`;
    for (;;) {
      signal.throwIfAborted();
      let waitMs: number;
      try {
        if ((await this.redis.set(key, `${this.holder}:${shardId}`, 'PX', SLOT_MS, 'NX')) === 'OK') break;
        waitMs = Math.max(50, await this.redis.pttl(key));
      } catch (error) {
        this.logger.warn({ err: error, shard_id: shardId }, 'identify throttle on Redis failed; throttling in-process');
        const last = this.localLast.get(bucket);
        if (last !== undefined && Date.now() - last < SLOT_MS)
          await sleep(SLOT_MS - (Date.now() - last), undefined, { signal });
        break;
      }
      this.logger.debug({ shard_id: shardId, bucket, wait_ms: waitMs }, 'waiting for the identify slot of the bucket');
      // A little jitter, so processes waiting on one bucket do not all ask again at the same moment.
      await sleep(waitMs + Math.floor(Math.random() * 100), undefined, { signal });
    }
    this.localLast.set(bucket, Date.now());
  }
}

/**
 * The `ws.buildIdentifyThrottler` client option for REDIS_URL, and a close() for shutdown. max_concurrency comes
 * from GET /gateway/bot, as @discordjs/ws's default throttler takes it.
 */
export function redisIdentifyThrottle(redisUrl: string, holder: string, logger: Logger) {
  let redis: Redis | undefined;
  return {
    build: async (manager: {
      fetchGatewayInformation(): Promise<{ session_start_limit: { max_concurrency: number } }>;
    }): Promise<IdentifyThrottler> => {
      const info = await manager.fetchGatewayInformation();
      redis ??= new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
      redis.on('error', () => undefined); // each failed call is logged where it happens
      return new RedisIdentifyThrottler(redis, info.session_start_limit.max_concurrency, holder, logger);
    },
    close: () => redis?.disconnect(),
  };
}
