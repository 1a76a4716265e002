import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { BudgetExceededError, QuotaExceededError, RequestRefusedError } from '../../src/domain/errors';
import { countsAgainstQuota, holdsReservation, QUOTA_WINDOW_MS, reservedSeconds } from '../../src/domain/policy';
import type { CreateRequestInput, Lease } from '../../src/domain/request';
import type { OperatorCaps } from '../../src/domain/spend';
import type { QueueInfo } from '../../src/domain/spend';
import { Metrics } from '../../src/lib/metrics';
import { SubmitQueue } from '../../src/services/SubmitQueue';
import { DATABASE_KINDS, createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';

// Spend control in the database (issue #13), on PostgreSQL and on the embedded engine: the reservation rule in SQL is
// the domain's rule, budgets hold under concurrent inserts, settings are recorded with who changed them.

const GUILD = '1300000000000001001';
const OTHER = '1300000000000002001';
const CHANNEL = '1300000000000001011';
const OP = 'projects/p/locations/l/publishers/google/models/veo-3.1-fast-generate-001/operations/';
const CAPS: OperatorCaps = {
  dailyQuota: 100,
  allowedChannelIds: [],
  allowedGuildIds: [],
  globalDailySeconds: 0,
  guildDailySeconds: 0,
};

describe.each(DATABASE_KINDS)('spend control in the database (%s)', (kind) => {
  let db: TestDatabase;
  let store: RequestStore;
  const sql = (text: string, params: unknown[] = []) => db.database.dataSource.query(text, params) as Promise<any[]>;
  const since = () => new Date(Date.now() - QUOTA_WINDOW_MS);
  let n = 0;
  const input = (over: Partial<CreateRequestInput> = {}): CreateRequestInput => ({
    userId: `user-${n++}`,
    guildId: GUILD,
    channelId: CHANNEL,
    prompt: 'a fox',
    durationSeconds: 8,
    aspectRatio: '16:9',
    ...over,
  });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = createRequestStore(db.database.dataSource, silentLogger());
  });
  afterAll(async () => db?.drop());
  beforeEach(async () => {
    await sql('DELETE FROM video_request_attempts');
    await sql('DELETE FROM video_requests');
    await sql('DELETE FROM guild_settings');
    await sql('DELETE FROM guild_setting_changes');
  });

  it('the SQL of the budgets and the quota is the domain rule, row for row', async () => {
    type Case = {
      status: string;
      failureKind?: string;
      failureReason?: string;
      operation?: boolean;
      attempts?: string[];
    };
    const cases: Case[] = [
      { status: 'pending' },
      { status: 'pending', attempts: ['rejected'] },
      { status: 'generating', operation: true, attempts: ['accepted'] },
      { status: 'completed', operation: true, attempts: ['accepted'] },
      { status: 'failed', failureKind: 'google', failureReason: 'veo_refused', attempts: ['rejected'] },
      { status: 'failed', failureKind: 'invalid', failureReason: 'veo_refused', attempts: ['rejected'] },
      { status: 'failed', failureKind: 'google', failureReason: 'veo_failed', operation: true, attempts: ['accepted'] },
      { status: 'failed', failureKind: 'filtered', failureReason: 'filtered', operation: true, attempts: ['accepted'] },
      {
        status: 'failed',
        failureKind: 'bot',
        failureReason: 'submit_attempts_exhausted',
        attempts: ['rejected', 'abandoned'],
      },
      { status: 'failed', failureKind: 'bot', failureReason: 'unusable_row' },
      { status: 'timeout', failureKind: 'google', failureReason: 'deadline', operation: true, attempts: ['accepted'] },
      { status: 'timeout', failureKind: 'google', failureReason: 'veo_busy', attempts: ['rejected', 'rejected'] },
      { status: 'timeout', failureKind: 'expired', failureReason: 'expired' },
      { status: 'timeout', failureKind: 'admin', failureReason: 'admin' },
      { status: 'timeout', failureKind: 'admin', failureReason: 'admin', attempts: ['rejected'] },
      { status: 'timeout', failureKind: 'admin', failureReason: 'admin', attempts: ['submitting'] },
      { status: 'timeout', failureKind: 'admin', failureReason: 'admin', attempts: ['returned'] },
      { status: 'timeout', failureKind: 'admin', failureReason: 'admin', operation: true, attempts: ['accepted'] },
    ];
    for (const [i, c] of cases.entries()) {
      // One server and one user per case, so each sum and count reads that row alone.
      const guildId = `g-${i}`;
      const userId = `u-${i}`;
      const { row } = await store.requests.createRequest(
        input({ guildId, userId, durationSeconds: ([4, 6, 8] as const)[i % 3] }),
        'seed',
        1,
      );
      await sql(
        `UPDATE video_requests SET status = $2, failure_kind = $3, failure_reason = $4, operation_name = $5 WHERE id = $1`,
        [row.id, c.status, c.failureKind ?? null, c.failureReason ?? null, c.operation ? `${OP}${i}` : null],
      );
      for (const [k, state] of (c.attempts ?? []).entries()) {
        await sql(
          `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state) VALUES ($1, $2, $3, $4)`,
          [row.id, k + 1, `p/${i}/${k}/`, state],
        );
      }
      const facts = {
        status: c.status,
        failureKind: (c.failureKind ?? null) as never,
        failureReason: (c.failureReason ?? null) as never,
        operationName: c.operation ? `${OP}${i}` : null,
        maybeBilledAttempts: (c.attempts ?? []).filter((s) => s !== 'rejected' && s !== 'returned').length,
      };
      const budget = await store.budgets.guildUse(guildId, since(), null, 0);
      const quota = await store.budgets.quotaUse(userId, since(), 100);
      expect({ case: c, held: budget.used }).toEqual({
        case: c,
        held: holdsReservation(facts) ? reservedSeconds(row.durationSeconds) : 0,
      });
      expect({ case: c, counted: quota.used }).toEqual({ case: c, counted: countsAgainstQuota(facts) ? 1 : 0 });
    }
    // The global budget is the sum of the same rows.
    const expected = (
      await Promise.all(cases.map((_, i) => store.budgets.guildUse(`g-${i}`, since(), null, 0)))
    ).reduce((a, u) => a + u.used, 0);
    expect((await store.budgets.globalUse(since(), null, 0)).used).toBe(expected);
  });

  it("a server's budget and the bot's hold under concurrent requests: no overshoot, and the refusal says when room frees", async () => {
    // Open the pool's connections first, so the requests really run side by side on PostgreSQL.
    await Promise.all(Array.from({ length: 10 }, () => sql('SELECT pg_sleep(0.02)')));
    const caps = { ...CAPS, guildDailySeconds: 40, globalDailySeconds: 64 };
    const attempt = (guildId: string) =>
      Promise.allSettled(
        Array.from({ length: 20 }, () =>
          store.requests.createRequest(input({ guildId }), 'me', 10_000, { caps, since: since() }),
        ),
      );
    const first = await attempt(GUILD);
    expect(first.filter((r) => r.status === 'fulfilled')).toHaveLength(5); // 5 × 8 s = the server's 40
    const refusals = first.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
    expect(refusals.every((e) => e instanceof BudgetExceededError && e.budget === 'guild')).toBe(true);
    expect(refusals[0]).toMatchObject({ used: 40, limit: 40, need: 8 });
    const oldest = (await sql(`SELECT min(created_at) AS t FROM video_requests WHERE guild_id = $1`, [GUILD]))[0].t;
    expect((refusals[0] as BudgetExceededError).freesAt!.getTime()).toBe(new Date(oldest).getTime() + QUOTA_WINDOW_MS);

    const second = await attempt(OTHER);
    expect(second.filter((r) => r.status === 'fulfilled')).toHaveLength(3); // 64 - 40 = 24 s left for the bot
    const global = second.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
    expect(global.every((e) => e instanceof BudgetExceededError && e.budget === 'global')).toBe(true);
    expect((await store.budgets.globalUse(since(), 64, 0)).used).toBe(64);

    // A request that ends without anything billed gives its seconds back at once.
    await sql(
      `UPDATE video_requests SET status = 'failed', failure_kind = 'google', failure_reason = 'veo_refused'
      WHERE id = (SELECT id FROM video_requests WHERE guild_id = $1 LIMIT 1)`,
      [OTHER],
    );
    await expect(
      store.requests.createRequest(input({ guildId: OTHER, durationSeconds: 8 }), 'me', 10_000, {
        caps,
        since: since(),
      }),
    ).resolves.toMatchObject({ row: { status: 'pending' } });
  });

  it("a server's own settings are read under its lock: member quota and daily video-seconds within the operator's", async () => {
    const caps = { ...CAPS, dailyQuota: 5, guildDailySeconds: 600 };
    const { changes } = await store.settings.update(GUILD, 'admin-1', { memberDailyQuota: 2, dailyVideoSeconds: 12 });
    expect(changes.map((c) => [c.setting, c.oldValue, c.newValue])).toEqual([
      ['memberDailyQuota', null, '2'],
      ['dailyVideoSeconds', null, '12'],
    ]);
    const user = 'quota-user';
    await store.requests.createRequest(input({ userId: user, durationSeconds: 4 }), 'me', 1, { caps, since: since() });
    await store.requests.createRequest(input({ userId: user, durationSeconds: 4 }), 'me', 1, { caps, since: since() });
    const quota = await store.requests
      .createRequest(input({ userId: user, durationSeconds: 4 }), 'me', 1, { caps, since: since() })
      .catch((e: unknown) => e);
    expect(quota).toBeInstanceOf(QuotaExceededError);
    expect(quota).toMatchObject({ used: 2, limit: 2, scope: 'server' });
    // The server's quota counts the member's videos here; the operator's DAILY_QUOTA (5) counts them everywhere.
    for (let i = 0; i < 3; i++) {
      await store.requests.createRequest(input({ userId: user, guildId: OTHER, durationSeconds: 4 }), 'me', 1, {
        caps,
        since: since(),
      });
    }
    const everywhere = await store.requests
      .createRequest(input({ userId: user, guildId: OTHER, durationSeconds: 4 }), 'me', 1, { caps, since: since() })
      .catch((e: unknown) => e);
    expect(everywhere).toMatchObject({ used: 5, limit: 5, scope: 'bot' });
    const budget = await store.requests
      .createRequest(input({ durationSeconds: 6 }), 'me', 1, { caps, since: since() })
      .catch((e: unknown) => e);
    expect(budget).toMatchObject({ budget: 'guild', used: 8, limit: 12, need: 6 });

    // Whatever makes a request (a /video, or a button), the row is refused where or in a form the rules forbid.
    await store.settings.update(GUILD, 'admin-1', { allowHd: false, maxLengthSeconds: 6 });
    const made = (over: Partial<CreateRequestInput>, c: OperatorCaps = caps) =>
      store.requests.createRequest(input(over), 'me', 1, { caps: c, since: since() }).catch((e: unknown) => e);
    expect(await made({ resolution: '1080p', durationSeconds: 8 })).toMatchObject({
      refusal: {
        cap: 'option',
        problems: ['HD (1080p) videos are turned off in this server.', 'This server allows videos of up to 6 seconds.'],
      },
    });
    expect(await made({ guildId: OTHER }, { ...caps, allowedGuildIds: [GUILD] })).toBeInstanceOf(RequestRefusedError);
    await store.settings.update(GUILD, 'admin-1', { allowHd: null, maxLengthSeconds: null });

    // Every change is recorded with who made it; setting a value it already has records nothing.
    await store.settings.update(GUILD, 'admin-2', { memberDailyQuota: 2, allowHd: false });
    const recent = await store.settings.recentChanges(GUILD, 10);
    expect(recent.map((c) => [c.setting, c.userId, c.newValue])).toEqual([
      ['allowHd', 'admin-2', 'false'],
      ['maxLengthSeconds', 'admin-1', null],
      ['allowHd', 'admin-1', null],
      ['maxLengthSeconds', 'admin-1', '6'],
      ['allowHd', 'admin-1', 'false'],
      ['dailyVideoSeconds', 'admin-1', '12'],
      ['memberDailyQuota', 'admin-1', '2'],
    ]);
    expect(await store.settings.get(GUILD)).toMatchObject({
      memberDailyQuota: 2,
      allowHd: false,
      updatedBy: 'admin-2',
    });
  });

  describe('the submit queue', () => {
    const limits = { windowLimit: 50, windowMs: 60_000, maxInFlight: 0 };
    async function queued(guildId: string, owner = 'me', ageSeconds = 0): Promise<Lease> {
      const { row, lease } = await store.requests.createRequest(input({ guildId }), owner, 60_000);
      await sql(
        `UPDATE video_requests SET created_at = now() - $2::double precision * interval '1 second' WHERE id = $1`,
        [row.id, ageSeconds],
      );
      return lease;
    }
    const ask = (lease: Lease) => ({ lease, outputPrefix: `${GUILD}/${CHANNEL}/u/${lease.requestId}/1/` });
    /** What one look granted each request asked for. */
    const grantOf = async (...args: Parameters<RequestStore['queue']['grant']>) =>
      (await store.queue.grant(...args)).results;

    it('grants in round-robin order by server, first come first served within a server', async () => {
      const a = [
        await queued('A', 'me', 60),
        await queued('A', 'me', 59),
        await queued('A', 'me', 58),
        await queued('A', 'me', 57),
      ];
      const b = [await queued('B', 'me', 50), await queued('B', 'me', 49)];
      const c = [await queued('C', 'me', 40)];
      const all = [...a, ...b, ...c];
      const name = new Map(all.map((l, i) => [l.requestId, ['A1', 'A2', 'A3', 'A4', 'B1', 'B2', 'C1'][i]!]));

      const before = await store.queue.snapshot(
        all.map((l) => l.requestId),
        limits,
      );
      const shown = [...before.standings.values()]
        .sort((x, y) => x.position! - y.position!)
        .map((s) => name.get(s.requestId));
      expect(shown).toEqual(['A1', 'B1', 'C1', 'A2', 'B2', 'A3', 'A4']);

      // One permit at a time: the server served longest ago goes first in each round.
      const order: string[] = [];
      for (let i = 0; i < 7; i++) {
        const used = i; // each grant adds one submit to the window
        const granted = await grantOf(all.map(ask), { ...limits, windowLimit: used + 1 });
        const got = [...granted.entries()].filter(([, r]) => typeof r === 'object').map(([id]) => name.get(id)!);
        expect(got).toHaveLength(1);
        order.push(got[0]!);
        all.splice(
          all.findIndex((l) => name.get(l.requestId) === got[0]),
          1,
        );
      }
      expect(order).toEqual(['A1', 'B1', 'C1', 'A2', 'B2', 'A3', 'A4']);
    });

    it('permits fit the window, the operations in flight and the 429 gate, and never exceed them across instances', async () => {
      const mine = await Promise.all(Array.from({ length: 10 }, () => queued(GUILD, 'instance-a')));
      const theirs = await Promise.all(Array.from({ length: 10 }, () => queued(OTHER, 'instance-b')));
      // Two instances asking at the same moment, twice: never more than 7 permits in all, and 7 once both looked again
      // (a permit whose turn belongs to the other instance's request waits for that instance).
      const granted = (m: Map<string, unknown>) => [...m.values()].filter((r) => typeof r === 'object').length;
      const waiting = () => [...mine, ...theirs].filter((l) => !done.has(l.requestId));
      const done = new Set<string>();
      for (let round = 0; round < 2; round++) {
        const open = waiting();
        const results = await Promise.all([
          grantOf(open.filter((l) => mine.includes(l)).map(ask), { ...limits, windowLimit: 7 }),
          grantOf(open.filter((l) => theirs.includes(l)).map(ask), { ...limits, windowLimit: 7 }),
        ]);
        for (const r of results) for (const [id, g] of r) if (typeof g === 'object') done.add(id);
        expect(done.size).toBeLessThanOrEqual(7);
      }
      expect(done.size).toBe(7);
      const capacity = (await store.queue.snapshot([], { ...limits, windowLimit: 7 })).capacity;
      expect(capacity).toMatchObject({ windowUsed: 7, inFlight: 7 });

      // Operations in flight: the 7 being sent count against VEO_MAX_IN_FLIGHT.
      const left = waiting();
      expect(
        granted(await grantOf(left.filter((l) => mine.includes(l)).map(ask), { ...limits, maxInFlight: 8 })),
      ).toBeLessThanOrEqual(1);
      const after = (await store.queue.snapshot([], { ...limits, maxInFlight: 8 })).capacity;
      expect(after.inFlight).toBeLessThanOrEqual(8);

      // Google's retry delay after a 429 stops every permit until it ends.
      const [attempt] = await sql(`SELECT id FROM video_request_attempts ORDER BY id LIMIT 1`);
      await store.attempts.recordAttemptThrottled(Number(attempt.id), 'Veo quota exhausted (429)', 60_000);
      const gated = await store.queue.snapshot([], limits);
      expect(gated.capacity.gateMs).toBeGreaterThan(50_000);
      expect(gated.recentThrottles).toBe(1);
      expect(granted(await grantOf(left.map(ask), limits))).toBe(0);
    });

    it('one process: one transaction per look for all its waiting requests; the window is never exceeded', async () => {
      const leases = await Promise.all(Array.from({ length: 40 }, (_, i) => queued(`guild-${i % 4}`, 'me', 100 - i)));
      const windowMs = 1_000;
      const queue = new SubmitQueue({
        queue: store.queue,
        config: { spend: { submitsPerMinute: 10, submitWindowMs: windowMs, maxInFlight: 0 } as never },
        logger: silentLogger(),
        metrics: new Metrics({ defaultMetrics: false }),
      });
      const looks = jest.spyOn(store.queue, 'grant');
      const seen = new Map<string, QueueInfo[]>();
      let calls: unknown[][];
      try {
        await Promise.all(
          leases.map(async (lease) => {
            const attempt = await queue.acquire({
              ...ask(lease),
              onWait: (info) => seen.set(lease.requestId, [...(seen.get(lease.requestId) ?? []), info]),
            });
            expect(attempt).not.toBeNull();
            // Veo accepted it: the answer is what the window counts from.
            await store.attempts.recordOperationAccepted(lease, attempt!.id, `${OP}${lease.requestId}`, null);
          }),
        );
      } finally {
        queue.stop();
        calls = [...looks.mock.calls];
        looks.mockRestore();
      }
      // Every look was one transaction for every request waiting then, however many they were.
      expect(calls[0]![0]).toHaveLength(40);
      expect(calls.length).toBeLessThan(40);
      const answered = (await sql(`SELECT answered_at FROM video_request_attempts ORDER BY answered_at`)).map((r) =>
        new Date(r.answered_at).getTime(),
      );
      expect(answered).toHaveLength(40);
      for (const t of answered)
        expect(answered.filter((u) => u > t - windowMs && u <= t).length).toBeLessThanOrEqual(10);
      // Those that waited were told where they stood, from far back to first in line.
      const told = [...seen.values()];
      expect(told.length).toBeGreaterThan(20);
      expect(Math.max(...told.flat().map((i) => i.position))).toBeGreaterThan(20);
      expect(told.every((infos) => infos.at(-1)!.position <= 10)).toBe(true);
    });

    it('a permit granted while its request stopped waiting (shutdown) is given back unused', async () => {
      const lease = await queued(GUILD);
      const queue = new SubmitQueue({
        queue: store.queue,
        config: { spend: { submitsPerMinute: 10, submitWindowMs: 60_000, maxInFlight: 0 } as never },
        logger: silentLogger(),
        metrics: new Metrics({ defaultMetrics: false }),
      });
      const real = store.queue.grant.bind(store.queue);
      // The shutdown comes while the look's grant is being written.
      const spy = jest.spyOn(store.queue, 'grant').mockImplementation(async (...args) => {
        queue.stop();
        return real(...args);
      });
      try {
        expect(await queue.acquire(ask(lease))).toBeNull();
        await new Promise((r) => setTimeout(r, 200)); // the look finishes after the waiter was let go
      } finally {
        spy.mockRestore();
      }
      const attempts = await store.attempts.getAttempts(lease.requestId);
      expect(attempts).toHaveLength(1);
      expect(attempts[0]).toMatchObject({ state: 'returned', answeredAt: null, throttledUntil: null });
      // Never sent: it takes no place in the window and bills nothing.
      expect((await store.queue.snapshot([], limits)).capacity).toMatchObject({ windowUsed: 0, inFlight: 0 });
      expect((await store.budgets.guildUse(GUILD, since(), null, 0)).used).toBe(8); // still pending: it holds
      expect((await store.queue.snapshot([lease.requestId], limits)).standings.get(lease.requestId)?.position).toBe(1);
    });

    it("a request whose holder died holds nobody back, and a request that moved on is 'lost'", async () => {
      const dead = await queued(GUILD, 'dead-instance', 100);
      await sql(`UPDATE video_requests SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
        dead.requestId,
      ]);
      const live = await queued(GUILD, 'me', 10);
      const snap = await store.queue.snapshot([dead.requestId, live.requestId], limits);
      expect(snap.standings.get(dead.requestId)).toMatchObject({ position: 1, grantPosition: null });
      expect(snap.standings.get(live.requestId)).toMatchObject({ position: 2, grantPosition: 1 });
      const granted = await grantOf([ask(live)], { ...limits, windowLimit: 1 });
      expect(typeof granted.get(live.requestId)).toBe('object');

      const moved = await queued(GUILD, 'me');
      await sql(`UPDATE video_requests SET fence = fence + 1 WHERE id = $1`, [moved.requestId]);
      expect((await grantOf([ask(moved)], limits)).get(moved.requestId)).toBe('lost');
    });
  });
});
