import type { InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { freePort, metricValue, scrapeMetrics } from '../helpers/metrics';
import { resultNotifications, submitsFor } from '../helpers/outcomes';
import { waitForResult } from '../helpers/videoReplies';

// A busy hour queues instead of failing (issue #13, point 4), against the real bot, the Discord and Google
// emulators and PostgreSQL: a 429 storm from Google, the bot's own submit window, and a restart while requests wait.

jest.setTimeout(240_000);

const MAIN = WORLD.guilds.main;
const OTHER = WORLD.guilds.other;
const SENDERS = [
  { guildId: MAIN.id, channelId: MAIN.channels.general.id, userId: WORLD.users.member.id },
  { guildId: OTHER.id, channelId: OTHER.channels.general.id, userId: WORLD.users.member.id },
  { guildId: MAIN.id, channelId: MAIN.channels.videos.id, userId: WORLD.users.member2.id },
  { guildId: OTHER.id, channelId: OTHER.channels.general.id, userId: WORLD.users.otherAdmin.id },
  { guildId: MAIN.id, channelId: MAIN.channels.general.id, userId: WORLD.users.admin.id },
];
const SETTINGS = { DAILY_QUOTA: '100', LOG_LEVEL: 'info' };

/** The Status values the bot showed on an interaction's progress embed, in order. */
function statuses(world: E2EWorld, handle: InteractionHandle): string[] {
  return world.discord.calls
    .filter((c) => c.method === 'PATCH' && c.path.includes(handle.token) && Array.isArray(c.body?.embeds))
    .map((c) => String(c.body.embeds[0]?.fields?.find((f: { name: string }) => f.name === 'Status')?.value ?? ''));
}

async function idOf(world: E2EWorld, handle: InteractionHandle): Promise<string> {
  const rows = await world.db.database.dataSource.query(`SELECT id FROM video_requests WHERE interaction_id = $1`, [
    handle.id,
  ]);
  return rows[0].id as string;
}

describe('a busy hour queues instead of failing', () => {
  let world: E2EWorld;
  beforeEach(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate({ kind: 'done', afterMs: 300, videoBytes: 16 * 1024 });
  });
  afterEach(async () => world?.close());

  it('a 429 storm from Google: every request waits its turn with its place shown, and all are delivered, each paid once', async () => {
    // Google allows 3 submits per 4 s; the bot believes the documented 50 a minute, so most submits meet a 429.
    world.google.setSubmitRateLimit({ limit: 3, windowMs: 4_000 });
    const port = await freePort();
    await world.startBot({ ...SETTINGS, HTTP_PORT: String(port) });

    const handles = Array.from({ length: 10 }, (_, i) =>
      world.video({ prompt: `a storm-tossed lighthouse, take ${i}`, length: 4 }, SENDERS[i % SENDERS.length]),
    );
    for (const h of handles) expect(await h.waitForAck(10_000)).toBe(5);
    const results = await Promise.all(handles.map((h) => waitForResult(h, 180_000)));

    expect(results.map((r) => String(r.embeds[0].title))).toEqual(Array(10).fill('✅ Your video is ready'));
    expect(world.google.rateLimited.length).toBeGreaterThan(0); // the storm happened
    for (const h of handles) {
      const id = await idOf(world, h);
      expect(submitsFor(world.google, id)).toBe(1); // paid once, whatever the 429s
      expect(resultNotifications(world.discord, id)).toHaveLength(1);
    }
    // The requests that had to wait were shown their place and an estimate.
    // (Before its first look at the queue a request shows a bare "Queued", with Cancel.)
    const queued = handles.map((h) => statuses(world, h).filter((s) => s.startsWith('Queued ·')));
    const shown = queued.filter((q) => q.length > 0);
    expect(shown.length).toBeGreaterThanOrEqual(3);
    for (const q of shown)
      for (const s of q) expect(s).toMatch(/^Queued · position \d+ · (less than a minute|about \d+ min)$/);
    expect(shown.some((q) => q.some((s) => /position ([3-9]|10)\b/.test(s)))).toBe(true);

    const samples = await scrapeMetrics(port);
    expect(metricValue(samples, 'veobot_veo_rate_limited_total')).toBe(world.google.rateLimited.length);
    expect(metricValue(samples, 'veobot_veo_submits_total', { result: 'throttled' })).toBe(
      world.google.rateLimited.length,
    );
    expect(metricValue(samples, 'veobot_submit_queue_wait_seconds_count')).toBeGreaterThanOrEqual(10);
    expect(metricValue(samples, 'veobot_reserved_video_seconds_total')).toBe(40);
    expect(metricValue(samples, 'veobot_billed_video_seconds_total')).toBe(40);
    expect(metricValue(samples, 'veobot_requests_finished_total', { outcome: 'failed' })).toBe(0);
    expect(samples.some((s) => s.name === 'veobot_submit_queue_length')).toBe(true);
    // No user or server labels on any spend metric.
    for (const s of samples.filter((x) => /reserved|queue|rate_limited|refused/.test(x.name)))
      expect(Object.keys(s.labels).filter((l) => /user|guild|server/.test(l))).toEqual([]);
  });

  it("with the bot's window set to Google's quota, nothing meets a 429; a restart while requests wait loses none", async () => {
    world.google.setSubmitRateLimit({ limit: 2, windowMs: 3_000 });
    const env = { ...SETTINGS, VEO_SUBMITS_PER_MINUTE: '2', VEO_SUBMIT_WINDOW_MS: '3000' };
    const first = await world.startBot(env);

    const handles = Array.from({ length: 6 }, (_, i) =>
      world.video({ prompt: `a paper lantern rising, take ${i}`, length: 4 }, SENDERS[i % SENDERS.length]),
    );
    for (const h of handles) expect(await h.waitForAck(10_000)).toBe(5);
    // Two went to Veo at once; the others wait for the window.
    await world.discord.waitFor(() => world.google.submits.length >= 2, 20_000, 'the first two submits');
    const waiting = await world.db.database.dataSource.query(
      `SELECT count(*)::int AS n FROM video_requests r WHERE r.status = 'pending'
         AND NOT EXISTS (SELECT 1 FROM video_request_attempts a WHERE a.request_id = r.id)`,
    );
    expect(waiting[0].n).toBeGreaterThanOrEqual(3);

    // Killed while requests wait for their permit: they are pending rows, and the next start puts them back in line.
    await first.kill();
    await world.startBot(env);
    const ids = await Promise.all(handles.map((h) => idOf(world, h)));
    await world.discord.waitFor(
      () => ids.every((id) => resultNotifications(world.discord, id).length === 1),
      120_000,
      'every request delivered after the restart',
    );
    for (const id of ids) expect(submitsFor(world.google, id)).toBe(1);
    expect(world.google.rateLimited).toEqual([]);
    const rows = await world.db.database.dataSource.query(
      `SELECT status, count(*)::int AS n FROM video_requests GROUP BY status`,
    );
    expect(rows).toEqual([{ status: 'completed', n: 6 }]);
  });
});
