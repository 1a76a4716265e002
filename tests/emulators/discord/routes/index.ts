// The REST routes, by resource. Each module adds its routes to the router.
import type { SnowflakeFactory } from '../clock';
import type { CommandRegistry, Interactions } from '../interactions';
import type { MessageStore } from '../messageStore';
import type { Router } from '../router';
import type { World } from '../world';
import { applicationRoutes } from './applications';
import { channelRoutes } from './channels';
import { guildRoutes } from './guilds';
import { webhookRoutes } from './webhooks';

export interface RouteDeps {
  router: Router;
  world: World;
  ids: SnowflakeFactory;
  store: MessageStore;
  interactions: Interactions;
  commands: CommandRegistry;
  gatewayUrl: () => string;
  /** GET /gateway/bot: url, recommended shards and the session start limit as they stand now. */
  gatewayBot: () => { url: string; shards: number; session_start_limit: Record<string, number> };
}

export function defineRoutes(d: RouteDeps): void {
  applicationRoutes(d);
  guildRoutes(d);
  channelRoutes(d);
  webhookRoutes(d);
}
