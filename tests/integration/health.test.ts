import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthState, startHealthServer } from '../../src/app/health';
import { Metrics } from '../../src/lib/metrics';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';

function get(port: number, path: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The health port: private by default, and a flood of probes costs at most one query a second per kind. */
describe('health server', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
  });
  afterAll(async () => db?.drop());

  async function start(host: string) {
    const counts = { checks: 0, scrapes: 0 };
    const state = new HealthState();
    state.clientReady = true;
    state.shards.set(0, 'ready');
    const { server, port } = await startHealthServer({
      port: 0,
      host,
      state,
      metrics: new Metrics({ defaultMetrics: false }),
      logger: silentLogger(),
      checkDatabase: async () => {
        counts.checks++;
        await db.database.dataSource.query('SELECT 1');
      },
      beforeScrape: async () => {
        counts.scrapes++;
        await db.database.dataSource.query('SELECT count(*) FROM video_requests');
      },
    });
    return { server, port, counts };
  }

  it('listens on loopback only unless HTTP_HOST says otherwise', async () => {
    const loopback = await start('127.0.0.1');
    expect((loopback.server.address() as AddressInfo).address).toBe('127.0.0.1');
    loopback.server.close();
    const everywhere = await start('0.0.0.0');
    expect((everywhere.server.address() as AddressInfo).address).toBe('0.0.0.0');
    everywhere.server.close();
  });

  it('answers a flood of /readyz and /metrics with at most one database query per second of each', async () => {
    const { server, port, counts } = await start('127.0.0.1');
    try {
      const started = Date.now();
      const statuses = await Promise.all(
        Array.from({ length: 300 }, (_, i) => get(port, i % 2 === 0 ? '/readyz' : '/metrics')),
      );
      const seconds = Math.ceil((Date.now() - started) / 1000);
      expect(statuses.every((s) => s === 200)).toBe(true);
      // One query per window of a second, however many probes came in it (the window starts when a query ends).
      expect(counts.checks).toBeGreaterThanOrEqual(1);
      expect(counts.checks).toBeLessThanOrEqual(seconds + 1);
      expect(counts.scrapes).toBeLessThanOrEqual(seconds + 1);
    } finally {
      server.close();
    }
  });
});
