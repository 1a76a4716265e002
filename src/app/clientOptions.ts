import type { SapphireClientOptions } from '@sapphire/framework';
import { GatewayIntentBits, type ClientOptions } from 'discord.js';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import type { IdentifyThrottler } from './identifyThrottle';
import { SapphirePinoLogger } from '../lib/logger';

/** Every SapphireClient option in one place. */
export function buildClientOptions(
  config: Config,
  logger: Logger,
  baseUserDirectory: string,
  /** with REDIS_URL: one IDENTIFY per bucket per 5 s across all processes (see ./identifyThrottle.ts) */
  buildIdentifyThrottler?: (manager: never) => Promise<IdentifyThrottler>,
): SapphireClientOptions & ClientOptions {
  return {
    // Slash commands need no privileged intents; Guilds gives the channel and role cache permission checks use.
    intents: [GatewayIntentBits.Guilds],
    // Nobody is pinged unless a send names them explicitly (the requester, and only them).
    allowedMentions: { parse: [], repliedUser: false },
    ...(config.discord.apiUrl ? { rest: { api: config.discord.apiUrl } } : {}),
    // This process's shards (SHARD_IDS of SHARD_COUNT). With SHARD_COUNT=auto the count is known only once Discord
    // has answered GET /gateway/bot: createApp sets both before login (see ./shards.ts, also for the identify limits).
    ...(typeof config.discord.shards.count === 'number'
      ? {
          shardCount: config.discord.shards.count,
          shards: config.discord.shards.ids ?? Array.from({ length: config.discord.shards.count }, (_, i) => i),
        }
      : {}),
    ...(buildIdentifyThrottler ? { ws: { buildIdentifyThrottler } } : {}),
    logger: { instance: new SapphirePinoLogger(logger.child({ source: 'sapphire' })) },
    baseUserDirectory,
    loadMessageCommandListeners: false,
    // The scheduled-task store is registered by createApp (in-process or Redis); the plugin's hooks are not used.
    tasks: undefined as never,
  };
}
