import '../lib/setup';
import { ApplicationCommandRegistries, container, SapphireClient } from '@sapphire/framework';
import { loadListeners, ScheduledTaskStore } from '@sapphire/plugin-scheduled-tasks';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { openDatabase, type Database } from '../db/dataSource';
import type { Config } from '../lib/config';
import { CrashPoints } from '../lib/crashPoints';
import { Metrics } from '../lib/metrics';
import { sweepTemporaryVideos } from '../services/VideoAttachmentService';
import { buildClientOptions } from './clientOptions';
import { createServices } from './createServices';
import { HealthState, startHealthServer } from './health';
import { redisIdentifyThrottle } from './identifyThrottle';
import { planShards, watchShards, withoutShardingManagerEnv } from './shards';
import { InProcessScheduler, RedisScheduler, type TaskScheduler } from './scheduler/TaskScheduler';

export interface App {
  client: SapphireClient;
  database: Database;
  start(): Promise<void>;
  /** Resolves true once everything closed in time, false when SHUTDOWN_TIMEOUT_MS ran out first. */
  stop(reason: string): Promise<boolean>;
}

/** Builds the whole bot from a validated config: database, services, client, scheduler and health server. */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const metrics = new Metrics();
  const health = new HealthState();
  const crashPoints = new CrashPoints(config.crashPoint);
  const database = await openDatabase(config.database, logger.child({ component: 'database' }));

  const identifyThrottle = config.redisUrl
    ? redisIdentifyThrottle(config.redisUrl, config.instanceId, logger.child({ component: 'gateway' }))
    : undefined;
  const client = withoutShardingManagerEnv(
    () =>
      new SapphireClient(
        buildClientOptions(config, logger, __dirname.replace(/[\\/]app$/, ''), identifyThrottle?.build),
      ),
  );
  if (config.discord.guildIds.length > 0) ApplicationCommandRegistries.setDefaultGuildIds(config.discord.guildIds);

  // Scheduled tasks live in src/tasks (the design card's layout), not the store's default folder name.
  const taskStore = new ScheduledTaskStore();
  client.stores.register(taskStore);
  taskStore.registerPath(join(__dirname, '..', 'tasks'));
  loadListeners();

  let stopForReplacement = (): void => undefined;
  const services = createServices({
    config,
    shards: () => currentShards(client),
    onReplaced: () => stopForReplacement(),
    dataSource: database.dataSource,
    rest: client.rest,
    applicationId: () => client.application?.id ?? client.user?.id ?? null,
    logger,
    metrics,
    crashPoints,
  });

  let scheduler: TaskScheduler;
  if (config.redisUrl) {
    scheduler = new RedisScheduler(config.redisUrl, logger.child({ component: 'scheduler' }));
    logger.info('scheduled tasks on Redis (BullMQ): several instances can share the work');
  } else {
    scheduler = new InProcessScheduler(logger.child({ component: 'scheduler' }));
    logger.info('scheduled tasks in-process (REDIS_URL unset): single-instance mode');
  }

  const { store, leases, resume, videoRequests, resumeAdmin, images, iterations, queue, settings, spend, heartbeat } =
    services;
  Object.assign(container, {
    config,
    pino: logger,
    metrics,
    database,
    scheduler,
    resume,
    resumeAdmin,
    videoRequests,
    images,
    iterations,
    health,
    guildSettings: settings,
    spend,
  });

  let healthServer: Server | undefined;
  let stopping: Promise<boolean> | undefined;
  /** Ends a wait for Discord's session start limit when the process is told to stop. */
  const starting = new AbortController();

  const app: App = {
    client,
    database,
    async start() {
      // Before anything else: a live process with the same INSTANCE_ID makes this throw (it must not take its work);
      // a dead one's leases are freed here, for the startup sweep.
      await heartbeat.register();
      heartbeat.start();
      leases.start();
      await sweepTemporaryVideos(logger.child({ component: 'attachments' }));
      if (config.httpPort !== undefined) {
        healthServer = (
          await startHealthServer({
            port: config.httpPort,
            host: config.httpHost,
            state: health,
            metrics,
            logger,
            checkDatabase: async () => {
              await database.dataSource.query('SELECT 1');
            },
            beforeScrape: async () => {
              const counts = await store.views.countUnfinishedByState();
              metrics.unfinishedRequests.reset();
              for (const [state, count] of Object.entries(counts)) metrics.unfinishedRequests.set({ state }, count);
              const waiting = await store.queue.stats();
              metrics.submitQueueLength.set(waiting.length);
              metrics.submitQueueOldestSeconds.set(
                waiting.oldest ? Math.max(0, (Date.now() - waiting.oldest.getTime()) / 1000) : 0,
              );
            },
          })
        ).server;
      }
      // The shards are known before login: SHARD_COUNT=auto asks Discord, and the session start limit is checked.
      client.rest.setToken(config.discord.token);
      const plan = await planShards(config.discord.shards, client.rest, logger, starting.signal);
      client.options.shards = plan.ids;
      client.options.shardCount = plan.count;
      watchShards(client, plan, health, metrics, logger.child({ component: 'gateway' }));
      await client.login(config.discord.token);
      await scheduler.startRepeated();
    },
    stop(reason: string) {
      stopping ??= (async () => {
        logger.info({ reason }, 'shutting down: no new work; in-flight requests stop at a safe point');
        health.shuttingDown = true;
        starting.abort();
        // Requests waiting for a submit permit stop waiting at once; their rows stay pending, in line, for any instance.
        queue.stop();
        const graceful = (async () => {
          await Promise.allSettled([videoRequests.stop(), resume.stop()]);
          leases.stop();
          // Every lease still under this id is free at once for the other instances.
          await heartbeat.markStopped();
          await scheduler.close();
          await client.destroy().catch(() => undefined);
          identifyThrottle?.close();
          healthServer?.close();
          await database.close();
          return true;
        })();
        const deadline = new Promise<false>((resolve) =>
          setTimeout(() => resolve(false), config.shutdownTimeoutMs).unref(),
        );
        if (await Promise.race([graceful, deadline])) {
          logger.info('shutdown complete');
          return true;
        }
        // Something hangs (a database that does not answer, a worker that never reaches a safe point): give back
        // what can be given back in a moment, then let the process exit; nothing is lost, leases run out otherwise.
        logger.error(
          { timeout_ms: config.shutdownTimeoutMs, driving: leases.drivingIds().length },
          'shutdown did not finish within SHUTDOWN_TIMEOUT_MS; releasing what it can and exiting',
        );
        leases.stop();
        const moment = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
        await Promise.race([leases.releaseAll().catch(() => 0), moment(2_000)]);
        await Promise.race([heartbeat.markStopped(), moment(2_000)]);
        healthServer?.close();
        await Promise.race([database.close().catch(() => undefined), moment(2_000)]);
        return false;
      })();
      return stopping;
    },
  };
  stopForReplacement = () => {
    void app.stop('INSTANCE_ID taken over by another process').finally(() => process.exit(1));
  };
  return app;
}

/** This process's shard ids: the gateway's once connected, else the client options' (a single shard: [0]). */
function currentShards(client: SapphireClient): number[] {
  const connected = [...client.ws.shards.keys()].sort((a, b) => a - b);
  if (connected.length > 0) return connected;
  const configured = client.options.shards;
  if (Array.isArray(configured)) return [...(configured as number[])];
  return typeof configured === 'number' ? [configured] : [0];
}
