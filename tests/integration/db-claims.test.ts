import { openDatabase, type Database } from '../../src/db/dataSource';
import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { createTestDatabase, DATABASE_KINDS, silentLogger, type TestDatabase } from '../helpers/db';

const ROWS = 50;
const CLAIMERS = 8;
const LEASE_MS = 60_000;

/**
 * Claim contention. On real PostgreSQL the claimers run on separate connections of two "instances" (two pools), so
 * FOR UPDATE SKIP LOCKED is really exercised; on PGlite (one connection) they are serialised, and the result must be
 * the same: every row claimed exactly once.
 */
describe.each(DATABASE_KINDS)('concurrent claims on %s', (kind) => {
  let t: TestDatabase;
  let second: Database | undefined;
  let instances: RequestStore[];

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    const a = createRequestStore(t.database.dataSource, silentLogger());
    if (kind === 'postgres') {
      second = await openDatabase(t.settings, silentLogger());
      instances = [a, createRequestStore(second.dataSource, silentLogger())];
    } else {
      instances = [a]; // one process per DATA_DIR
    }
  });
  afterAll(async () => {
    await second?.close();
    await t?.drop();
  });

  async function runClaimers(): Promise<Map<string, { owner: string; fence: number; takeover: boolean }[]>> {
    const claims = new Map<string, { owner: string; fence: number; takeover: boolean }[]>();
    await Promise.all(
      Array.from({ length: CLAIMERS }, async (_, i) => {
        const owner = `claimer-${i}`;
        const tracking = instances[i % instances.length]!;
        for (;;) {
          const claim = await tracking.leases.claimNext(owner, LEASE_MS);
          if (!claim) return;
          const list = claims.get(claim.row.id) ?? [];
          list.push({ owner, fence: claim.lease.fence, takeover: claim.takeover });
          claims.set(claim.row.id, list);
        }
      }),
    );
    return claims;
  }

  it(`${CLAIMERS} claimers over ${ROWS} rows claim each row exactly once; after lease expiry, once more as takeovers`, async () => {
    const tracking = instances[0]!;
    const ids: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const { lease } = await tracking.requests.createRequest(
        { userId: `u${i}`, guildId: 'g', channelId: 'c', prompt: `p${i}`, aspectRatio: '16:9' },
        'creator',
        LEASE_MS,
      );
      await tracking.leases.releaseLease(lease);
      ids.push(lease.requestId);
    }

    const first = await runClaimers();
    expect([...first.keys()].sort()).toEqual([...ids].sort());
    for (const list of first.values()) {
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ fence: 2, takeover: false });
    }
    const stored = (await t.database.dataSource.query(
      `SELECT id, lease_owner, fence::int AS fence FROM video_requests`,
    )) as { id: string; lease_owner: string; fence: number }[];
    for (const r of stored) expect(r).toEqual({ id: r.id, lease_owner: first.get(r.id)![0]!.owner, fence: 2 });
    if (kind === 'postgres') {
      // Real contention: more than one claimer got work.
      expect(new Set([...first.values()].map((l) => l[0]!.owner)).size).toBeGreaterThan(1);
    }

    // Every claimer "dies": its leases run out. The rows are taken over, each exactly once again.
    await t.database.dataSource.query(`UPDATE video_requests SET lease_expires_at = now() - interval '1 second'`);
    const second = await runClaimers();
    expect(second.size).toBe(ROWS);
    for (const [id, list] of second) {
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ fence: 3, takeover: true });
      expect(first.get(id)).toBeDefined();
    }
  });

  // PGlite has one connection: nothing else can hold a row lock there, so this case exists for PostgreSQL only.
  if (kind === 'postgres')
    it('skips a row another transaction holds instead of waiting for it (SKIP LOCKED)', async () => {
      const ds = t.database.dataSource;
      await ds.query('TRUNCATE video_requests CASCADE');
      const tracking = instances[0]!;
      const made: string[] = [];
      for (const p of ['oldest', 'next']) {
        const { lease } = await tracking.requests.createRequest(
          { userId: 'u', guildId: 'g', channelId: 'c', prompt: p, aspectRatio: '16:9' },
          'creator',
          LEASE_MS,
        );
        await tracking.leases.releaseLease(lease);
        made.push(lease.requestId);
      }
      await ds.query(`UPDATE video_requests SET created_at = now() - interval '1 hour' WHERE id = $1`, [made[0]]);
      const holder = ds.createQueryRunner();
      await holder.startTransaction();
      try {
        await holder.query('SELECT id FROM video_requests WHERE id = $1 FOR UPDATE', [made[0]]);
        const claim = await instances[1]!.leases.claimNext('other', LEASE_MS);
        expect(claim?.row.prompt).toBe('next');
        expect(await instances[1]!.leases.claimNext('other', LEASE_MS)).toBeNull();
      } finally {
        await holder.rollbackTransaction();
        await holder.release();
      }
      expect((await tracking.leases.claimNext('late', LEASE_MS))?.row.prompt).toBe('oldest');
    });
});
