import pino from 'pino';
import type { DataSource } from 'typeorm';
import { describeUrl, openDatabase, type Database } from '../../src/db/dataSource';
import { migrations } from '../../src/db/migrations';
import { main as migrateMain } from '../../src/scripts/migrate';
import { createRequestStore } from '../../src/db/repositories';
import {
  createLegacyDatabase,
  createTestDatabase,
  DATABASE_KINDS,
  silentLogger,
  type LegacyDatabase,
} from '../helpers/db';

/** Every migration's name, in order (the list the bot applies). */
const ALL_MIGRATIONS = migrations.map((m) => new m().name);

const ORIGINAL_COLUMNS = [
  'id',
  'user_id',
  'guild_id',
  'channel_id',
  'prompt',
  'duration_seconds',
  'aspect_ratio',
  'resolution',
  'generate_audio',
  'status',
  'operation_name',
  'created_at',
  'started_at',
  'completed_at',
  'duration_ms',
  'gcs_prefix',
  'video_urls',
  'error_message',
  'request_type',
];
/** The original columns as text (exact values, independent of driver type parsing). */
const ORIGINAL_AS_TEXT = `SELECT ${ORIGINAL_COLUMNS.map((c) => `${c}::text AS ${c}`).join(', ')} FROM video_requests ORDER BY id`;

/** What the original bot left behind: rows in every status, every column used, some nulls. */
const LEGACY_ROWS: string[] = [
  `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio, status, created_at)
     VALUES ('u1', 'g1', 'c1', 'pending one', 8, '16:9', '720p', true, 'pending', now() - interval '2 hours')`,
  `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio, status, operation_name, started_at, gcs_prefix, created_at)
     VALUES ('u2', 'g1', 'c1', 'generating one', 6, '9:16', '1080p', false, 'generating', 'projects/p/locations/l/publishers/google/models/veo/operations/abc', now() - interval '59 minutes', 'gs://b/g1/c1/u2/x/', now() - interval '1 hour')`,
  `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio, status, operation_name, started_at, completed_at, duration_ms, gcs_prefix, video_urls, created_at)
     VALUES ('u1', 'g2', 'c9', 'completed ''quoted'' prompt, ünïcode 🎬', 4, '1:1', NULL, NULL, 'completed', 'operations/done', now() - interval '3 hours', now() - interval '170 minutes', 600000, 'gs://b/done/', ARRAY['gs://b/done/sample_0.mp4', 'https://x/y?z=1,2'], now() - interval '3 hours')`,
  `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, status, error_message, completed_at, duration_ms, created_at)
     VALUES ('u3', 'g2', 'c9', 'failed one', NULL, '4:3', 'failed', 'Safety filter', now() - interval '5 hours', 1200, now() - interval '5 hours')`,
  `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, aspect_ratio, status, error_message, completed_at, request_type, created_at)
     VALUES ('u3', 'g2', 'c9', 'timeout one', '3:4', 'timeout', 'Request expired (>24 hours old)', now() - interval '1 day', 'image', now() - interval '2 days')`,
];

describe.each(DATABASE_KINDS)('migrations on %s', (kind) => {
  let legacy: LegacyDatabase;
  let database: Database | undefined;

  afterEach(async () => {
    await database?.close();
    database = undefined;
    await legacy?.drop();
  });

  it('upgrades the original bot database in place: every row and value intact, then usable', async () => {
    legacy = await createLegacyDatabase(kind);
    for (const sql of LEGACY_ROWS) await legacy.query(sql);
    const before = await legacy.query(ORIGINAL_AS_TEXT);
    expect(before).toHaveLength(5);
    await legacy.release();

    database = await openDatabase(legacy.settings, silentLogger());
    const ds: DataSource = database.dataSource;
    const applied = (await ds.query(`SELECT name FROM migrations ORDER BY id`)) as { name: string }[];
    expect(applied.map((m) => m.name)).toEqual(ALL_MIGRATIONS);

    // Every original value, exactly.
    expect(await ds.query(ORIGINAL_AS_TEXT)).toEqual(before);
    // New columns: defaults, and no announcement for anything (the original bot's rows are never notified).
    const added = (await ds.query(
      `SELECT status, announcement, fence::int AS fence, notification_attempts, submit_attempts, ambiguous_attempts,
              lease_owner, model, updated_at FROM video_requests ORDER BY id`,
    )) as Record<string, unknown>[];
    for (const r of added) {
      expect(r).toMatchObject({
        announcement: null,
        fence: 0,
        notification_attempts: 0,
        submit_attempts: 0,
        ambiguous_attempts: 0,
        lease_owner: null,
        model: null,
        updated_at: null,
      });
    }

    // Usable: the unfinished legacy rows resume; finished ones are never claimed or announced.
    const tracking = createRequestStore(ds, silentLogger());
    const incomplete = await tracking.requests.getIncompleteRequests();
    expect(incomplete.map((r) => r.prompt)).toEqual(['pending one', 'generating one']);
    const first = (await tracking.leases.claimNext('new-bot', 60_000))!;
    expect(first).toMatchObject({ takeover: false, row: { prompt: 'pending one', fence: 1, model: null } });
    const second = (await tracking.leases.claimNext('new-bot', 60_000))!;
    expect(second.row).toMatchObject({
      prompt: 'generating one',
      operationName: expect.stringContaining('operations/abc'),
    });
    expect(await tracking.leases.claimNext('new-bot', 60_000)).toBeNull();

    const attempt = await tracking.attempts.recordSubmitAttempt(first.lease, 'gs://b/g1/c1/u1/x/1/');
    expect(attempt.attempt).toBe(1);
    const gen = await tracking.attempts.recordOperationAccepted(
      first.lease,
      attempt.id,
      'op-new',
      'veo-3.1-fast-generate-001',
    );
    expect(gen).toMatchObject({ status: 'generating', model: 'veo-3.1-fast-generate-001' });
    const done = await tracking.requests.markCompleted(second.lease, { videoUrls: ['gs://b/g1/c1/u2/x/sample_0.mp4'] });
    expect(done).toMatchObject({ status: 'completed', announcement: 'due', gcsPrefix: 'gs://b/g1/c1/u2/x/' });

    // Quota over legacy rows: the failed/timeout rows (no failure kind) do not count.
    const since = new Date(Date.parse('2000-01-01T00:00:00Z'));
    expect(await tracking.requests.countQuotaUsage('u3', since)).toBe(0);
    expect(await tracking.requests.countQuotaUsage('u1', since)).toBe(2);

    // Reopening runs nothing again.
    await database.close();
    database = await openDatabase(legacy.settings, silentLogger());
    expect(await database.dataSource.query(`SELECT count(*)::int AS n FROM migrations`)).toEqual([
      { n: ALL_MIGRATIONS.length },
    ]);
  });

  it('a fresh database and an upgraded original one end with the same schema; down migrations undo it', async () => {
    const describeSchema = async (ds: DataSource) => ({
      columns: await ds.query(
        `SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length
           FROM information_schema.columns WHERE table_schema = current_schema() AND table_name LIKE 'video_%'
           ORDER BY table_name, column_name`,
      ),
      indexes: await ds.query(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'video_%' ORDER BY indexname`,
      ),
      constraints: await ds.query(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid IN ('video_requests'::regclass, 'video_request_attempts'::regclass) ORDER BY conname`,
      ),
    });

    const fresh = await createTestDatabase(kind);
    let freshSchema;
    try {
      freshSchema = await describeSchema(fresh.database.dataSource);
    } finally {
      await fresh.drop();
    }
    legacy = await createLegacyDatabase(kind);
    const legacySchema = await legacy.query(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'video_requests' ORDER BY indexname`,
    );
    await legacy.release();
    database = await openDatabase(legacy.settings, silentLogger());
    const upgraded = await describeSchema(database.dataSource);
    expect(upgraded).toEqual(freshSchema);
    expect(upgraded.indexes.map((i: { indexname: string }) => i.indexname)).toEqual(
      expect.arrayContaining(['idx_video_requests_claimable', 'idx_video_requests_guild_status_created']),
    );
    // The claim index is partial, as designed.
    expect(
      upgraded.indexes.find((i: { indexname: string }) => i.indexname === 'idx_video_requests_claimable').indexdef,
    ).toMatch(/WHERE .*pending.*generating.*announcement = 'due'/);

    // Undo every migration after the baseline: back to the original schema exactly.
    for (let i = 1; i < migrations.length; i++) await database.dataSource.undoLastMigration({ transaction: 'all' });
    const indexes = await database.dataSource.query(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'video_requests' ORDER BY indexname`,
    );
    expect(indexes).toEqual(legacySchema);
    const cols = (await database.dataSource.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'video_requests'`,
    )) as { column_name: string }[];
    expect(cols.map((c) => c.column_name).sort()).toEqual([...ORIGINAL_COLUMNS].sort());
  });
});

describe('src/scripts/migrate.ts', () => {
  it('migrates the database named by DATABASE_URL without any Discord setting, and rejects a bad URL', async () => {
    const legacy = await createLegacyDatabase('postgres');
    try {
      await legacy.release();
      await migrateMain({ DATABASE_URL: legacy.url, LOG_LEVEL: 'silent' });
      const rows = await legacy.query(`SELECT name FROM migrations ORDER BY id`);
      expect(rows.map((r) => r.name)).toEqual(ALL_MIGRATIONS);
    } finally {
      await legacy.drop();
    }
    await expect(migrateMain({ DATABASE_URL: 'mysql://user:secret@host/db', LOG_LEVEL: 'silent' })).rejects.toThrow(
      /^DATABASE_URL is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL$/,
    );
  });
});

describe('openDatabase logging', () => {
  it('logs which mode is in use and never the password of DATABASE_URL', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const t = await createTestDatabase('postgres');
    try {
      const url = new URL(t.url!);
      url.password = 'S3cretPassw0rd'; // trust auth: accepted and ignored
      const database = await openDatabase({ url: url.toString(), dataDir: t.settings.dataDir }, logger);
      await database.close();
    } finally {
      await t.drop();
    }
    const text = lines.join('');
    expect(text).toContain('"mode":"postgres"');
    expect(text).toContain(new URL(t.url!).pathname);
    expect(text).not.toContain('S3cretPassw0rd');
    expect(describeUrl('postgresql://bot:pa%40ss@db.example:6543/veobot?sslmode=require')).toBe(
      'postgresql://bot@db.example:6543/veobot',
    );
  });
});
