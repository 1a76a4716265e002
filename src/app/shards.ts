import { setTimeout as sleep } from 'node:timers/promises';
import { DiscordAPIError, Events, Routes, type Client, type RESTGetAPIGatewayBotResult } from 'discord.js';
import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import { resolveShards, type ShardPlan, type ShardSetting } from '../lib/config';
import type { Metrics } from '../lib/metrics';
import type { HealthState } from './health';

/**
 * The shards this process connects with. Asks Discord (GET /gateway/bot, through the bot's REST client and so
 * DISCORD_API_URL) for the recommended shard count, which SHARD_COUNT=auto takes, and for the session start limit.
 *
 * Identify limits: discord.js 14 hands `shards`/`shardCount` to @discordjs/ws's WebSocketManager, whose default
 * SimpleIdentifyThrottler (node_modules/@discordjs/ws/dist/index.js) lets one IDENTIFY through per 5 s per bucket
 * `shard_id % max_concurrency`, taking max_concurrency from GET /gateway/bot. That throttle is per process: two
 * processes of one bucket could identify within 5 s and Discord would answer the later with op 9 (@discordjs/ws then
 * identifies again through its throttle), so with REDIS_URL the bot replaces it with one shared by every process
 * (./identifyThrottle.ts). Its `connect()` does not wait for the session start limit: it throws "Not
 * enough sessions remaining" when `remaining` is below the shard count. So this waits here instead, saying why and
 * until when, rather than exiting into a restart loop that cannot connect before the limit resets either.
 */
export async function planShards(
  setting: ShardSetting,
  rest: REST,
  logger: Logger,
  signal: AbortSignal,
): Promise<ShardPlan> {
  for (;;) {
    let info: RESTGetAPIGatewayBotResult;
    try {
      info = (await rest.get(Routes.gatewayBot())) as RESTGetAPIGatewayBotResult;
    } catch (error) {
      if (error instanceof DiscordAPIError && error.status === 401)
        throw new Error('Discord refused DISCORD_TOKEN (401 on GET /gateway/bot): check the bot token', {
          cause: error,
        });
      throw error;
    }
    const plan = resolveShards(setting, info.shards);
    const limit = info.session_start_limit;
    const fields = {
      shard_ids: plan.ids,
      shard_count: plan.count,
      recommended_shards: info.shards,
      session_starts_remaining: limit.remaining,
      max_concurrency: limit.max_concurrency,
    };
    if (setting.count !== 'auto' && plan.count < info.shards)
      logger.warn(fields, 'SHARD_COUNT is below the number of shards Discord recommends');
    if (limit.remaining >= plan.ids.length) {
      logger.info(fields, 'connecting shards');
      return plan;
    }
    const resetsAt = new Date(Date.now() + limit.reset_after);
    logger.error(
      { ...fields, resets_at: resetsAt.toISOString() },
      'Discord allows fewer session starts than this process has shards; waiting until the limit resets',
    );
    await sleep(Math.max(1_000, limit.reset_after), undefined, { signal });
  }
}

/**
 * discord.js's Client reads SHARD_COUNT and SHARDS from the environment when its own options leave them at their
 * defaults: that is how its ShardingManager talks to the processes it spawns. This bot's SHARD_COUNT is its own
 * setting (it may say `auto`, which the Client would read as NaN and refuse), so the client is built without them.
 */
export function withoutShardingManagerEnv<T>(build: () => T): T {
  const saved = { SHARD_COUNT: process.env.SHARD_COUNT, SHARDS: process.env.SHARDS };
  delete process.env.SHARD_COUNT;
  delete process.env.SHARDS;
  try {
    return build();
  } finally {
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  }
}

/** Keeps HealthState and the shard gauges in step with the client's shards, and logs each change with its shard id. */
export function watchShards(client: Client, plan: ShardPlan, health: HealthState, metrics: Metrics, logger: Logger) {
  health.shards.clear();
  for (const id of plan.ids) health.shards.set(id, 'connecting');
  metrics.shards.set(plan.ids.length);
  const set = (id: number, state: Parameters<HealthState['shards']['set']>[1]) => {
    health.shards.set(id, state);
    metrics.shardsReady.set([...health.shards.values()].filter((s) => s === 'ready').length);
  };
  const shard = (id: number) => ({ shard_id: id, shard_count: plan.count });
  client.on(Events.ShardReady, (id, unavailable) => {
    set(id, 'ready');
    logger.info(
      {
        ...shard(id),
        guilds: client.guilds.cache.filter((g) => g.shardId === id).size,
        unavailable: unavailable?.size,
      },
      'shard ready',
    );
  });
  client.on(Events.ShardResume, (id, replayed) => {
    set(id, 'ready');
    logger.info({ ...shard(id), replayed_events: replayed }, 'shard resumed');
  });
  client.on(Events.ShardReconnecting, (id) => {
    set(id, 'reconnecting');
    logger.warn(shard(id), 'shard disconnected; reconnecting');
  });
  client.on(Events.ShardDisconnect, (event, id) => {
    set(id, 'disconnected');
    logger.error({ ...shard(id), code: event.code }, 'shard disconnected and will not reconnect (Discord closed it)');
  });
  client.on(Events.ShardError, (error, id) => logger.warn({ ...shard(id), err: error }, 'shard connection error'));
}
