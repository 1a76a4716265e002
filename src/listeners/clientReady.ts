import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener } from '@sapphire/framework';
import type { Client } from 'discord.js';

/**
 * R8 (docs/requirements.md): once per process start, hand the resume sweep to the scheduler and return at once, so the bot is
 * ready as fast with ten thousand unfinished requests as with none.
 */
@ApplyOptions<Listener.Options>({ event: Events.ClientReady, once: true })
export class ClientReadyListener extends Listener<typeof Events.ClientReady> {
  public override run(client: Client<true>) {
    const { config, pino, scheduler, health } = this.container;
    health.clientReady = true;
    pino.info(
      {
        user: client.user.tag,
        // Only the guilds of this process's shards: the others' interactions go to the processes that hold them.
        guilds: client.guilds.cache.size,
        shard_ids: client.options.shards,
        shard_count: client.options.shardCount,
        instance: config.instanceId,
        scheduler: scheduler.mode,
      },
      'gateway ready',
    );
    if (config.resume.disabled) {
      health.firstSweepFinished = true;
      pino.warn('automatic resume is disabled (DISABLE_TASK_RESUME=true): unfinished requests wait for /resume run');
      return;
    }
    pino.info('scheduling the startup resume sweep');
    void scheduler
      .create('resume', { reason: 'startup' })
      .catch((error) => pino.error({ err: error }, 'could not schedule the resume sweep'));
  }
}
