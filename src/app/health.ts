import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../lib/metrics';

export class HealthState {
  public gatewayReady = false;
  public firstSweepFinished = false;
  public shuttingDown = false;
}

export interface HealthServerOptions {
  port: number;
  state: HealthState;
  metrics: Metrics;
  /** resolves when the database answers */
  checkDatabase: () => Promise<void>;
  /** refreshes gauges sampled from the database just before a scrape */
  beforeScrape?: () => Promise<void>;
  logger: Logger;
}

/** `/livez`, `/readyz` and `/metrics` on HTTP_PORT (loopback or behind a private network: no auth). */
export async function startHealthServer(options: HealthServerOptions): Promise<{ server: Server; port: number }> {
  const { state, metrics, logger } = options;
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
            options.checkDatabase(),
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
            firstResumeSweepFinished: state.firstSweepFinished,
            shuttingDown: state.shuttingDown,
          }),
        );
        return;
      }
      if (path === '/metrics') {
        try {
          await options.beforeScrape?.();
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
    server.listen(options.port, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'health and metrics server listening');
  return { server, port };
}
