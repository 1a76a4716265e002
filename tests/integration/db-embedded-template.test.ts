import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { DataSource } from 'typeorm';
import { initdbTree } from '../../src/db/buildEmbeddedTemplate';
import { loadPGlite, openDatabase, PGLITE_SUBDIR, type Database } from '../../src/db/dataSource';
import {
  EMBEDDED_POSTGRES_SETTINGS,
  openEmbeddedEngine,
  prepareEmbeddedDataDir,
  UNPACKING_MARKER,
} from '../../src/db/embedded';
import {
  extractTemplate,
  findTemplate,
  installedPGliteVersion,
  templateFileName,
  writeTemplate,
} from '../../src/db/embeddedTemplate';
import { entities } from '../../src/db/entities';
import { migrations } from '../../src/db/migrations';
import { silentLogger } from '../helpers/db';

/** Every file under `root` with the sha256 of its bytes, relative paths sorted. */
function tree(root: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    if (statSync(join(root, path)).isDirectory()) {
      out.set(`${path}/`, 'dir');
      for (const [k, v] of tree(root, path)) out.set(k, v);
    } else {
      out.set(
        path,
        createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex'),
      );
    }
  }
  return out;
}

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

describe('embedded database template (a new DATA_DIR without initdb)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'veobot-template-test-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is committed for the installed PGlite version (after a PGlite upgrade: npm run db:template)', () => {
    const file = findTemplate();
    expect(file).toBeDefined();
    expect(file!.endsWith(templateFileName(installedPGliteVersion()))).toBe(true);
    expect(statSync(file!).size).toBeLessThan(3 * 1024 * 1024);
  });

  it('is what PGlite initdb writes: every file identical but pg_control and the WAL segment (system id, times)', async () => {
    const made = join(tempDir(), 'initdb');
    await initdbTree(made);
    const unpacked = join(tempDir(), 'unpacked');
    await extractTemplate(findTemplate()!, unpacked);
    const a = tree(made);
    const b = tree(unpacked);
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    expect(differing.every((k) => k === 'global/pg_control' || k.startsWith('pg_wal/'))).toBe(true);
    for (const k of differing) expect(statSync(join(unpacked, k)).size).toBe(statSync(join(made, k)).size);
    // initdb leaves its files world-writable; the unpacked ones are private to the bot's user, like a server's
    expect(statSync(unpacked).mode & 0o777).toBe(0o700);
    expect(statSync(join(unpacked, 'PG_VERSION')).mode & 0o777).toBe(0o600);
  }, 180_000);

  it('packs a tree deterministically and unpacks it byte for byte', async () => {
    const src = join(tempDir(), 'src');
    const deep = join(src, 'a'.repeat(60), 'b'.repeat(60)); // paths longer than ustar's 100-byte name field
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'f'), Buffer.alloc(1000, 7));
    writeFileSync(join(src, 'empty'), '');
    writeFileSync(join(src, 'z'), 'x'.repeat(512));
    mkdirSync(join(src, 'emptydir'));
    const one = join(tempDir(), 'one.tar.br');
    const two = join(tempDir(), 'two.tar.br');
    writeTemplate(src, one);
    writeTemplate(src, two);
    expect(readFileSync(one).equals(readFileSync(two))).toBe(true);
    const out = join(tempDir(), 'out');
    expect(await extractTemplate(one, out)).toEqual({ files: 3, bytes: 1512 });
    expect(tree(out)).toEqual(tree(src));
  });

  it('a new DATA_DIR is unpacked from the template and opened with the settings for one process', async () => {
    const dataDir = tempDir();
    const { logger, lines } = capturingLogger();
    const db = await openDatabase({ url: undefined, dataDir }, logger);
    try {
      expect(lines.some((l) => l.msg === 'new embedded database unpacked from the template shipped with the bot')).toBe(
        true,
      );
      expect(existsSync(join(dataDir, PGLITE_SUBDIR, UNPACKING_MARKER))).toBe(false);
      for (const [name, value] of Object.entries(EMBEDDED_POSTGRES_SETTINGS)) {
        const [row] = (await db.dataSource.query(`SHOW ${name}`)) as Record<string, string>[];
        expect(row![name]).toBe(value);
      }
      expect(await db.dataSource.query(`SELECT count(*)::int AS n FROM migrations`)).toEqual([
        { n: migrations.length },
      ]);
    } finally {
      await db.close();
    }
  });

  it('a start that died while unpacking leaves no database; the next start clears its files and unpacks again', async () => {
    const pgliteDir = join(tempDir(), PGLITE_SUBDIR);
    const broken = join(tempDir(), 'broken.tar.br');
    writeFileSync(broken, readFileSync(findTemplate()!).subarray(0, 400_000));
    await expect(prepareEmbeddedDataDir(pgliteDir, silentLogger(), broken)).rejects.toThrow();
    expect(existsSync(join(pgliteDir, 'PG_VERSION'))).toBe(false); // written last
    expect(existsSync(join(pgliteDir, UNPACKING_MARKER))).toBe(true);
    expect(readdirSync(pgliteDir).length).toBeGreaterThan(1);
    expect(await prepareEmbeddedDataDir(pgliteDir, silentLogger())).toBe('template');
    expect(existsSync(join(pgliteDir, UNPACKING_MARKER))).toBe(false);
    expect(readFileSync(join(pgliteDir, 'PG_VERSION'), 'utf8').trim()).toMatch(/^\d+$/);
    expect(await prepareEmbeddedDataDir(pgliteDir, silentLogger())).toBe('existing');
  });

  it('unpacks into an existing empty directory (a mount point, say) and leaves other files to PGlite as before', async () => {
    const empty = join(tempDir(), PGLITE_SUBDIR);
    mkdirSync(empty);
    expect(await prepareEmbeddedDataDir(empty, silentLogger())).toBe('template');
    expect(existsSync(join(empty, 'PG_VERSION'))).toBe(true);
    const other = join(tempDir(), PGLITE_SUBDIR);
    mkdirSync(other);
    writeFileSync(join(other, 'something'), 'x');
    expect(await prepareEmbeddedDataDir(other, silentLogger())).toBe('initdb');
    expect(readdirSync(other)).toEqual(['something']);
  });

  it('without a template for the installed PGlite, PGlite runs initdb itself, as before', async () => {
    const pgliteDir = join(tempDir(), PGLITE_SUBDIR);
    expect(await prepareEmbeddedDataDir(pgliteDir, silentLogger(), null)).toBe('initdb');
    expect(existsSync(pgliteDir)).toBe(false);
    const pglite = await openEmbeddedEngine(loadPGlite().PGlite, pgliteDir, silentLogger(), null);
    try {
      expect((await pglite.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]!.shared_buffers).toBe(
        EMBEDDED_POSTGRES_SETTINGS.shared_buffers,
      );
    } finally {
      await pglite.close();
    }
    expect(existsSync(join(pgliteDir, 'PG_VERSION'))).toBe(true);
  }, 180_000);

  describe('a DATA_DIR made by an earlier version (PGlite initdb, default settings)', () => {
    let database: Database | undefined;
    afterEach(async () => {
      await database?.close();
      database = undefined;
    });

    it('keeps all its rows, and its files keep their settings', async () => {
      const dataDir = tempDir();
      const pgliteDir = join(dataDir, PGLITE_SUBDIR);
      // What openDatabase did before issue #17: PGlite.create({ dataDir }) with its defaults, then the migrations.
      const { PGlite, createPgConfig } = loadPGlite();
      const old = await PGlite.create({ dataDir: pgliteDir });
      const oldDs = new DataSource({
        type: 'postgres',
        poolSize: 1,
        installExtensions: false,
        extra: createPgConfig(old),
        entities,
        migrations,
        migrationsTransactionMode: 'all',
      });
      let before: unknown[];
      try {
        await oldDs.initialize();
        await oldDs.runMigrations({ transaction: 'all' });
        await oldDs.query(
          `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, status,
             operation_name, video_urls, created_at)
           SELECT 'u' || i, 'g', 'c', 'old row ' || i || ' ünïcode 🎬', 8, '16:9',
             (ARRAY['pending', 'generating', 'completed', 'failed', 'timeout'])[1 + i % 5],
             CASE WHEN i % 5 > 0 THEN 'operations/' || i END,
             CASE WHEN i % 5 = 2 THEN ARRAY['gs://b/' || i || '/sample_0.mp4'] END,
             now() - (i || ' minutes')::interval
           FROM generate_series(1, 25) i`,
        );
        before = await oldDs.query(`SELECT to_jsonb(r) AS row FROM video_requests r ORDER BY id`);
        expect(before).toHaveLength(25);
        expect(await oldDs.query(`SHOW shared_buffers`)).toEqual([{ shared_buffers: '128MB' }]);
      } finally {
        if (oldDs.isInitialized) await oldDs.destroy();
        await old.close();
      }
      const confBefore = readFileSync(join(pgliteDir, 'postgresql.conf'));

      const { logger, lines } = capturingLogger();
      database = await openDatabase({ url: undefined, dataDir }, logger);
      expect(lines.some((l) => String(l.msg).includes('template'))).toBe(false);
      expect(await database.dataSource.query(`SELECT to_jsonb(r) AS row FROM video_requests r ORDER BY id`)).toEqual(
        before,
      );
      expect(await database.dataSource.query(`SHOW shared_buffers`)).toEqual([{ shared_buffers: '8MB' }]);
      expect(readFileSync(join(pgliteDir, 'postgresql.conf')).equals(confBefore)).toBe(true);
      await database.close();
      database = undefined;

      // and again after a restart under the new settings
      database = await openDatabase({ url: undefined, dataDir }, silentLogger());
      expect(await database.dataSource.query(`SELECT to_jsonb(r) AS row FROM video_requests r ORDER BY id`)).toEqual(
        before,
      );
    }, 180_000);
  });
});
