import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { DATABASE_KINDS, createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';

describe.each(DATABASE_KINDS)('unexpected errors and self-exclusion (%s)', (kind) => {
  let db: TestDatabase;
  let tracking: RequestStore;
  const base = {
    userId: '1300000000000000103',
    guildId: '1300000000000001001',
    channelId: '1300000000000001011',
    prompt: 'a fox',
    aspectRatio: '16:9' as const,
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    tracking = createRequestStore(db.database.dataSource, silentLogger());
  });
  afterAll(async () => db?.drop());

  async function orphan(status: 'pending' | 'generating' = 'pending') {
    const { row } = await tracking.requests.createRequest(base, 'dead', 1);
    await db.database.dataSource.query(
      `UPDATE video_requests SET status = $2, lease_expires_at = now() - interval '1 minute' WHERE id = $1`,
      [row.id, status],
    );
    return row.id;
  }

  it('a request that keeps hitting unexpected errors is retried, then failed with the reason and announced', async () => {
    const id = await orphan();
    for (let i = 1; i <= 3; i++) {
      const claim = (await tracking.leases.claimById(id, 'me', 10_000))!;
      const row = await tracking.requests.recordProcessingError(claim.lease, `boom ${i}`, 3);
      if (i < 3)
        expect(row).toMatchObject({ status: 'pending', processingErrors: i, leaseOwner: null, announcement: null });
      else
        expect(row).toMatchObject({
          status: 'failed',
          failureKind: 'bot',
          announcement: 'due',
          errorMessage: 'Gave up after 3 unexpected errors on the bot side; the last one: boom 3',
        });
    }
    // Its announcement may fail the same way: then it is given up, not retried for ever.
    for (let i = 1; i <= 3; i++) {
      const claim = (await tracking.leases.claimById(id, 'me', 10_000))!;
      await tracking.requests.recordProcessingError(claim.lease, `announce boom ${i}`, 6);
    }
    expect(await tracking.requests.getById(id)).toMatchObject({
      status: 'failed',
      announcement: 'gave_up',
      processingErrors: 6,
    });
    expect(await tracking.leases.claimById(id, 'me', 10_000)).toBeNull();
  });

  it('a stale lease cannot record an error', async () => {
    const id = await orphan();
    const first = (await tracking.leases.claimById(id, 'me', 1))!;
    await db.database.dataSource.query(
      `UPDATE video_requests SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    await tracking.leases.claimById(id, 'other', 10_000);
    expect(await tracking.requests.recordProcessingError(first.lease, 'late', 3)).toBeNull();
  });

  it('claimNext never hands a process a request it says it is still driving', async () => {
    const a = await orphan('generating');
    const b = await orphan('generating');
    const claim = await tracking.leases.claimNext('me', 10_000, { excludeIds: [a] });
    expect(claim?.row.id).toBe(b);
    expect(await tracking.leases.claimNext('me', 10_000, { excludeIds: [a] })).toBeNull();
    await db.database.dataSource.query(`UPDATE video_requests SET lease_expires_at = NULL, lease_owner = NULL`);
  });
});
