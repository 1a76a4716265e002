import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../lib/metrics';

/** A shard's connection as /readyz reports it. */
export type ShardState = 'connecting' | 'ready' | 'reconnecting' | 'disconnected';

export class HealthState {
  /** This process's shards (SHARD_IDS) and their connection state; empty until the shard plan is known. */
  public readonly shards = new Map<number, ShardState>();
  /** discord.js's clientReady fired: every shard was READY once with its guilds, commands are being registered. */
  public clientReady = false;
  public firstSweepFinished = false;
  public shuttingDown = false;

  /** Every shard of this process is READY now (not only once) and the client has started. */
  public get gatewayReady(): boolean {
    return this.clientReady && this.shards.size > 0 && [...this.shards.values()].every((s) => s === 'ready');
  }
}

/** How long a database check or a gauge refresh is reused, so a flood of probes costs no more queries. */
export const PROBE_CACHE_MS = 1_000;

/**
 * `work` run at most once per `ms`: callers within that time (or while it runs) share its result, success or failure.
 */
export function sharedFor<T>(ms: number, work: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; result: Promise<T> } | undefined;
  return () => {
    if (last && now() - last.at < ms) return last.result;
    const result = work();
    const entry = { at: Number.POSITIVE_INFINITY, result };
    last = entry;
    // The window starts when the work ends: a slow check is never followed at once by another.
    void result.then(
      () => (entry.at = now()),
      () => (entry.at = now()),
    );
    return result;
  };
}

export interface HealthServerOptions {
  port: number;
  /** the interface to listen on (HTTP_HOST; default loopback only) */
  host: string;
  state: HealthState;
  metrics: Metrics;
  /** resolves when the database answers */
  checkDatabase: () => Promise<void>;
  /** refreshes gauges sampled from the database just before a scrape */
  beforeScrape?: () => Promise<void>;
  logger: Logger;
}

/**
 * `/livez`, `/readyz` and `/metrics` on HTTP_HOST:HTTP_PORT. No authentication: it listens on loopback unless told
 * otherwise (docs/operations.md, "Health and metrics"), and a flood of probes costs at most one database query per
 * second for each of `/readyz` and `/metrics`.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<{ server: Server; port: number }> {
  const { state, metrics, logger } = options;
  const checkDatabase = sharedFor(PROBE_CACHE_MS, options.checkDatabase);
  const beforeScrape = options.beforeScrape ? sharedFor(PROBE_CACHE_MS, options.beforeScrape) : undefined;
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405).end();
        return;
      }
      if (path === '/livez') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
        return;
      }
      if (path === '/readyz') {
        let database = true;
        try {
          await Promise.race([
            checkDatabase(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref()),
          ]);
        } catch {
          database = false;
        }
        const ready = database && state.gatewayReady && !state.shuttingDown;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            ready,
            database,
            gateway: state.gatewayReady,
            shards: Object.fromEntries(state.shards),
            firstResumeSweepFinished: state.firstSweepFinished,
            shuttingDown: state.shuttingDown,
          }),
        );
        return;
      }
      if (path === '/metrics') {
        try {
          await beforeScrape?.();
        } catch (error) {
          logger.warn({ err: error }, 'could not refresh gauges before a metrics scrape');
        }
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
        return;
      }
      res.writeHead(404).end();
    })().catch((error) => {
      logger.error({ err: error }, 'health server error');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  logger.info({ port, host: address }, 'health and metrics server listening');
  return { server, port };
}
