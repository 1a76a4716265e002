import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { QuotaExceededError } from '../../src/domain/errors';
import { DATABASE_KINDS, createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';

describe.each(DATABASE_KINDS)('the /video quota is enforced when the row is written (%s)', (kind) => {
  let db: TestDatabase;
  let tracking: RequestStore;
  const user = '1300000000000000103';
  const base = {
    userId: user,
    guildId: '1300000000000001001',
    channelId: '1300000000000001011',
    prompt: 'a fox',
    aspectRatio: '16:9' as const,
  };
  const quota = () => ({ limit: 2, since: new Date(Date.now() - 24 * 3600_000) });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    tracking = createRequestStore(db.database.dataSource, silentLogger());
  });
  afterAll(async () => db?.drop());

  it('lets exactly the limit through when a user fires several requests at once', async () => {
    // Open the pool's connections first, so the six requests really run side by side.
    await Promise.all(Array.from({ length: 8 }, () => db.database.dataSource.query('SELECT pg_sleep(0.05)')));
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        tracking.requests.createRequest({ ...base, prompt: `fox ${i}` }, 'me', 10_000, quota()),
      ),
    );
    const made = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(made).toHaveLength(2);
    expect(refused).toHaveLength(4);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QuotaExceededError);
    expect(await tracking.requests.countQuotaUsage(user, quota().since)).toBe(2);
  });

  it('does not count failures caused by Google, so the user can try again', async () => {
    const [{ id }] = (await db.database.dataSource.query(
      `SELECT id FROM video_requests WHERE user_id = $1 ORDER BY created_at LIMIT 1`,
      [user],
    )) as { id: string }[];
    await db.database.dataSource.query(
      `UPDATE video_requests SET status = 'failed', failure_kind = 'google' WHERE id = $1`,
      [id],
    );
    await expect(
      tracking.requests.createRequest({ ...base, prompt: 'again' }, 'me', 10_000, quota()),
    ).resolves.toMatchObject({
      row: { status: 'pending' },
    });
    await expect(
      tracking.requests.createRequest({ ...base, prompt: 'one more' }, 'me', 10_000, quota()),
    ).rejects.toBeInstanceOf(QuotaExceededError);
  });
});
