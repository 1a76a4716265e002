import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { PGlite } from '@electric-sql/pglite';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { Config } from '../lib/config';
import { openEmbeddedEngine } from './embedded';
import { acquireDataDirLock } from './dataDirLock';
import { entities } from './entities';
import { migrations } from './migrations';

export { DataDirLockedError, LOCK_FILE_NAME } from './dataDirLock';

/**
 * Opens the bot's database: real PostgreSQL when `database.url` is set, otherwise embedded PGlite in-process
 * (docs/architecture.md, docs/operations.md). Migrations always run at open; the schema is never
 * synchronised.
 */
export interface Database {
  dataSource: DataSource;
  mode: 'postgres' | 'embedded';
  /** destroy the DataSource, close PGlite (checkpoint) and release the DATA_DIR lock. Idempotent. */
  close(): Promise<void>;
}

export type DatabaseSettings = Config['database'];

/** Pool of the postgres mode. Embedded mode is always 1 (one PGlite session). */
export const POSTGRES_POOL_SIZE = 10;
/** In embedded mode this turns the pool-of-1 self-deadlock (a query outside the transaction's manager) into an error. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Key of the advisory lock that serialises migrations of instances starting side by side (postgres mode). */
export const MIGRATION_LOCK_KEY = 7_305_202_611;
export const PGLITE_SUBDIR = 'pglite';

/** `postgres://user:secret@host/db` → `postgres://user@host:port/db` (never log a password). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * PGlite is loaded only in embedded mode (postgres mode never loads the WASM engine). A plain `require`, resolved at
 * call time, also lets tests/helpers/db.ts hand jest a copy loaded by Node itself (PGlite uses dynamic `import()`,
 * which jest's module sandbox refuses without --experimental-vm-modules).
 */
export function loadPGlite(): {
  PGlite: typeof import('@electric-sql/pglite').PGlite;
  createPgConfig: typeof import('@electric-sql/pglite/node-postgres').createPgConfig;
} {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const { createPgConfig } =
    require('@electric-sql/pglite/node-postgres') as typeof import('@electric-sql/pglite/node-postgres');
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { PGlite, createPgConfig };
}

/** TypeORM options shared by both modes. */
function baseOptions(): Pick<DataSourceOptions, 'entities' | 'migrations' | 'migrationsTransactionMode'> {
  return { entities, migrations, migrationsTransactionMode: 'all' };
}

async function runMigrations(ds: DataSource, mode: Database['mode'], logger: Logger): Promise<void> {
  // Several instances may start at once against one PostgreSQL: serialise migrations with a session advisory lock on
  // a connection of its own (the migrations use another one of the pool). Embedded mode is one process (file lock).
  const lockRunner = mode === 'postgres' ? ds.createQueryRunner() : undefined;
  try {
    if (lockRunner) await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const ran = await ds.runMigrations({ transaction: 'all' });
    if (ran.length > 0) logger.info({ migrations: ran.map((m) => m.name) }, 'database migrations applied');
    else logger.debug('database schema up to date');
  } finally {
    if (lockRunner) {
      try {
        await lockRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      } finally {
        await lockRunner.release();
      }
    }
  }
}

/**
 * Opens the database and runs pending migrations (the same as TypeORM's `migrationsRun`, but under an advisory lock
 * in postgres mode so instances starting side by side do not race).
 *
 * - postgres mode (`db.url` set): pool of 10.
 * - embedded mode (`db.url` undefined): PGlite in `db.dataDir/pglite`, pool of 1, guarded by a lock file in
 *   `db.dataDir` (`DataDirLockedError` if another live process, or this one, already has it open).
 *   Pool of 1: inside `dataSource.transaction(m => …)` use only `m`, or the query waits for the only connection
 *   (fails after CONNECT_TIMEOUT_MS).
 */
export async function openDatabase(db: DatabaseSettings, logger: Logger): Promise<Database> {
  const log = logger.child({ component: 'database' });
  if (db.url !== undefined) {
    const ds = new DataSource({
      type: 'postgres',
      url: db.url,
      poolSize: POSTGRES_POOL_SIZE,
      connectTimeoutMS: CONNECT_TIMEOUT_MS,
      installExtensions: false, // gen_random_uuid() is core since PostgreSQL 13
      applicationName: 'veobot',
      ...baseOptions(),
    });
    log.info({ mode: 'postgres', database: describeUrl(db.url) }, 'opening PostgreSQL database');
    await ds.initialize();
    try {
      await runMigrations(ds, 'postgres', log);
    } catch (err) {
      await ds.destroy().catch(() => undefined);
      throw err;
    }
    let closed = false;
    return {
      dataSource: ds,
      mode: 'postgres',
      close: async () => {
        if (closed) return;
        closed = true;
        if (ds.isInitialized) await ds.destroy();
      },
    };
  }

  const dataDir = resolve(db.dataDir);
  const pgliteDir = join(dataDir, PGLITE_SUBDIR);
  const release = await acquireDataDirLock(dataDir, log);
  log.info(
    { mode: 'embedded', dataDir: pgliteDir },
    'DATABASE_URL is not set: using the embedded database (PGlite, one process only)',
  );
  const { PGlite: Engine, createPgConfig } = loadPGlite();
  let pglite: PGlite | undefined;
  let ds: DataSource | undefined;
  try {
    pglite = await openEmbeddedEngine(Engine, pgliteDir, log); // new DATA_DIR from the shipped template, settings for one process
    ds = new DataSource({
      type: 'postgres',
      poolSize: 1, // one PGlite session = one pg client
      connectTimeoutMS: CONNECT_TIMEOUT_MS,
      installExtensions: false,
      extra: createPgConfig(pglite),
      ...baseOptions(),
    });
    await ds.initialize();
    await runMigrations(ds, 'embedded', log);
  } catch (err) {
    if (ds?.isInitialized) await ds.destroy().catch(() => undefined);
    if (pglite && !pglite.closed) await pglite.close().catch(() => undefined);
    release();
    throw err;
  }
  const dataSource = ds;
  const engine = pglite;
  let closing: Promise<void> | undefined;
  return {
    dataSource,
    mode: 'embedded',
    close: () => {
      closing ??= (async () => {
        try {
          if (dataSource.isInitialized) await dataSource.destroy();
        } finally {
          try {
            if (!engine.closed) await engine.close();
          } finally {
            release();
          }
        }
      })();
      return closing;
    },
  };
}
