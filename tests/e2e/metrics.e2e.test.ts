import { createServer } from 'node:net';
import { BotProcess } from '../helpers/botProcess';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { TcpProxy } from '../helpers/tcpProxy';

jest.setTimeout(150_000);

/** One sample line of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `labels` (0 when there is none, as Prometheus would read it). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

async function scrape(port: number): Promise<Sample[]> {
  const res = await get(port, '/metrics');
  expect(res.status).toBe(200);
  return parseMetrics(res.text);
}

async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await fn().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('/metrics and /readyz of the real bot process', () => {
  let world: E2EWorld;
  /** In front of PostgreSQL, so the test can make the database unreachable for the bot and reachable again. */
  let relay: TcpProxy;
  let httpPort: number;
  let env: Record<string, string>;
  const requestIds: string[] = [];

  beforeAll(async () => {
    world = await E2EWorld.start();
    const dbUrl = new URL(world.db.url!);
    relay = await TcpProxy.start({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
    dbUrl.hostname = '127.0.0.1';
    dbUrl.port = String(relay.port);
    httpPort = await freePort();
    env = world.env({ HTTP_PORT: String(httpPort), DATABASE_URL: dbUrl.toString() });
  });
  afterAll(async () => {
    await world?.close();
    await relay?.close();
  });

  it('answers 503 on /readyz until the gateway is ready, then 200 once the first resume sweep has finished', async () => {
    // Discord rate-limits the gateway lookup for 3 s: the health server is up, the gateway is not.
    world.discord.injectFault({ method: 'GET', path: '/gateway/bot', status: 429, retryAfter: 3 });
    const bot = await BotProcess.start(env, { waitForReady: false });
    world.bots.push(bot);
    const listening = await bot.waitForLog((l) => l.msg === 'health and metrics server listening', 30_000);
    expect(listening.port).toBe(httpPort);

    const early = await get(httpPort, '/readyz');
    expect(early.status).toBe(503);
    expect(JSON.parse(early.text)).toMatchObject({
      ready: false,
      database: true,
      gateway: false,
      firstResumeSweepFinished: false,
    });
    expect((await get(httpPort, '/livez')).status).toBe(200);

    await bot.waitForLog((l) => l.msg === 'gateway ready', 30_000);
    const ready = await waitFor(async () => {
      const r = await get(httpPort, '/readyz');
      const body = JSON.parse(r.text) as Record<string, unknown>;
      return r.status === 200 && body.firstResumeSweepFinished === true ? body : undefined;
    }, '/readyz 200 with the first sweep finished');
    expect(ready).toMatchObject({ ready: true, database: true, gateway: true, shuttingDown: false });

    const m = await scrape(httpPort);
    expect(value(m, 'veobot_requests_created_total')).toBe(0);
    expect(value(m, 'veobot_resume_sweep_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // Default process metrics are exported too.
    expect(m.some((s) => s.name === 'process_resident_memory_bytes' && s.value > 0)).toBe(true);
    expect(m.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts a /video from creation to the requester being told', async () => {
    world.google.scriptNext({ kind: 'done', afterPolls: 2, videoBytes: 64 * 1024 });
    const before = await scrape(httpPort);
    const handle = world.video({ prompt: 'a lighthouse in a storm', length: 6 }, { userId: WORLD.users.member.id });
    await handle.waitForReply((m) => m.attachments.length > 0, 30_000);
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', WORLD.users.member.id);
    requestIds.push(row!.id);

    const after = await scrape(httpPort);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta('veobot_requests_created_total')).toBe(1);
    expect(delta('veobot_requests_finished_total', { outcome: 'completed' })).toBe(1);
    expect(delta('veobot_requests_finished_total')).toBe(1);
    expect(delta('veobot_veo_submits_total', { result: 'accepted' })).toBe(1);
    expect(delta('veobot_veo_submits_total')).toBe(1);
    // Billed seconds are the video's length; nothing was billed twice.
    expect(delta('veobot_billed_video_seconds_total', { model: 'veo-3.1-fast-generate-001' })).toBe(6);
    expect(world.google.billedSeconds).toBe(6);
    expect(delta('veobot_duplicate_billed_video_seconds_total')).toBe(0);
    // The emulator answered "running" twice, then "done".
    expect(delta('veobot_veo_polls_total', { result: 'running' })).toBe(2);
    expect(delta('veobot_veo_polls_total', { result: 'done' })).toBe(1);
    expect(delta('veobot_notifications_total', { path: 'interaction', result: 'sent' })).toBe(1);
    expect(delta('veobot_upload_fallbacks_total')).toBe(0);
    expect(value(after, 'veobot_unfinished_requests')).toBe(0);
  });

  it('counts a request resumed by a new process after the old one was killed mid-generation', async () => {
    world.google.scriptNext({ kind: 'never' });
    world.video({ prompt: 'a paper boat on a river', length: 4 }, { userId: WORLD.users.member2.id });
    const [generating] = await world.waitForRow((rows) => rows[0]?.status === 'generating', WORLD.users.member2.id);
    requestIds.push(generating!.id);

    // While it runs, the gauge (sampled from the database at scrape time, at most once a second) shows it.
    const during = await waitFor(async () => {
      const samples = await scrape(httpPort);
      return value(samples, 'veobot_unfinished_requests', { state: 'generating' }) === 1 ? samples : undefined;
    }, 'the gauge to show the generating request');
    expect(value(during, 'veobot_unfinished_requests', { state: 'generating' })).toBe(1);

    await world.bots[0]!.kill();
    world.google.completeOperation(generating!.operationName!);

    const bot2 = await world.startBot({ ...env });
    const [done] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', WORLD.users.member2.id, 40_000);
    expect(done).toMatchObject({ status: 'completed', submitAttempts: 1 });
    expect(bot2.running).toBe(true);

    // Counters are per process: these are the new process's own.
    const m = await scrape(httpPort);
    expect(value(m, 'veobot_requests_created_total')).toBe(0);
    expect(value(m, 'veobot_resumes_total', { from_state: 'generating', outcome: 'completed' })).toBe(1);
    expect(value(m, 'veobot_requests_finished_total', { outcome: 'completed' })).toBe(1);
    expect(value(m, 'veobot_lease_takeovers_total')).toBe(1);
    expect(value(m, 'veobot_veo_polls_total', { result: 'done' })).toBe(1);
    expect(value(m, 'veobot_veo_submits_total')).toBe(0);
    expect(value(m, 'veobot_billed_video_seconds_total')).toBe(0);
    expect(value(m, 'veobot_duplicate_billed_video_seconds_total')).toBe(0);
    expect(value(m, 'veobot_notifications_total', { result: 'sent' })).toBe(1);
    expect(value(m, 'veobot_fenced_writes_refused_total')).toBe(0);
    expect(value(m, 'veobot_unfinished_requests')).toBe(0);
    expect(value(m, 'veobot_resume_sweep_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(world.google.submits).toHaveLength(2);

    // The sweep ends a moment after the request it resumed is recorded as announced (its slot then finds nothing more
    // to claim and the sweep logs its summary): wait for that, however slow the machine.
    const readyz = await waitFor(async () => {
      const r = await get(httpPort, '/readyz');
      return (JSON.parse(r.text) as { firstResumeSweepFinished?: boolean }).firstResumeSweepFinished ? r : undefined;
    }, 'the first resume sweep to finish');
    expect(readyz.status).toBe(200);

    // No label names or carries a user, guild, channel or request.
    const ids = new Set<string>([
      ...Object.values(WORLD.users).map((u) => u.id),
      ...Object.values(WORLD.guilds).flatMap((g) => [g.id, ...Object.values(g.channels).map((c) => c.id)]),
      ...requestIds,
    ]);
    const veobotSamples = m.filter((s) => s.name.startsWith('veobot_'));
    expect(veobotSamples.length).toBeGreaterThan(10);
    for (const s of m) {
      for (const [label, v] of Object.entries(s.labels)) {
        expect(label).not.toMatch(/user|guild|channel|request_id/i);
        expect(ids.has(v)).toBe(false);
        expect(v).not.toMatch(/^\d{17,20}$/); // no snowflake of any kind
      }
    }
  });

  it('answers 503 on /readyz while the database is unreachable, and 200 again when it is back', async () => {
    relay.cut();
    const down = await waitFor(async () => {
      const r = await get(httpPort, '/readyz');
      return r.status === 503 ? (JSON.parse(r.text) as Record<string, unknown>) : undefined;
    }, '/readyz 503 with the database down');
    expect(down).toMatchObject({ ready: false, database: false, gateway: true });
    // /metrics still answers (gauges keep their last sampled value) and /livez stays up.
    expect((await get(httpPort, '/metrics')).status).toBe(200);
    expect((await get(httpPort, '/livez')).status).toBe(200);

    relay.restore();
    await waitFor(
      async () => ((await get(httpPort, '/readyz')).status === 200 ? true : undefined),
      '/readyz 200 with the database back',
      30_000,
    );
    expect(world.bots.at(-1)!.running).toBe(true);
  });
});
