/**
 * Test databases. Every call gives a database of its own, so test files never interfere:
 *
 * ```ts
 * const t = await createTestDatabase('postgres');   // or 'embedded'
 * const store = createRequestStore(t.database.dataSource, silentLogger());
 * …
 * await t.drop();                                     // closes it and deletes it
 * ```
 *
 * - postgres: `CREATE DATABASE veobot_t_<random>` on the server of TEST_DATABASE_URL, else DATABASE_URL, else
 *   postgres://postgres@127.0.0.1:5432/postgres (the database named in that URL is only used to create and drop).
 * - embedded: PGlite in a fresh temporary DATA_DIR (first open takes a few seconds: share one per test file).
 *
 * Both are migrated by `openDatabase`. `createLegacyDatabase()` instead gives a database holding only the original
 * bot's table, before any migration, to test the in-place upgrade.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import pino, { type Logger } from 'pino';
import { loadPGlite, openDatabase, PGLITE_SUBDIR, type Database, type DatabaseSettings } from '../../src/db/dataSource';

/**
 * PGlite loads parts of itself with dynamic `import()`, which jest's module sandbox refuses unless node runs with
 * --experimental-vm-modules. Under jest, serve PGlite from a copy loaded by Node's own `require` instead (it talks to
 * `pg` through plain objects and Buffers, so the two module worlds mix fine). Any test file importing this helper
 * gets it; src/db/dataSource.ts requires PGlite lazily, at open time, so the order of imports does not matter.
 */
function servePGliteFromNode(): void {
  if (typeof jest === 'undefined') return;
  // jest's `node:module` overrides createRequire with jest's own require, but its Module class extends Node's: a
  // Module instance's inherited `require` is Node's loader.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Module } = require('node:module') as {
    Module: (new (id: string) => { filename: string; paths: string[]; require(id: string): unknown }) & {
      _nodeModulePaths(dir: string): string[];
    };
  };
  const host = new Module(__filename);
  host.filename = __filename;
  host.paths = Module._nodeModulePaths(__dirname);
  jest.doMock('@electric-sql/pglite', () => host.require('@electric-sql/pglite'));
  jest.doMock('@electric-sql/pglite/node-postgres', () => host.require('@electric-sql/pglite/node-postgres'));
}
servePGliteFromNode();

export type DatabaseKind = 'postgres' | 'embedded';
export const DATABASE_KINDS: DatabaseKind[] = ['postgres', 'embedded'];

export interface TestDatabase {
  kind: DatabaseKind;
  /** postgres: URL of the new database */
  url?: string;
  /** embedded: the temporary DATA_DIR */
  dataDir?: string;
  /** the settings it was opened with (open again with `openDatabase(settings, logger)` after `database.close()`) */
  settings: DatabaseSettings;
  database: Database;
  /** closes the database (if still open) and deletes it */
  drop(): Promise<void>;
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The server test databases are created on (its database is the maintenance database). */
export function serverUrl(): string {
  return process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

function databaseUrl(name: string, server = serverUrl()): string {
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

async function onMaintenance<T>(fn: (c: Client) => Promise<T>, server = serverUrl()): Promise<T> {
  const client = new Client({ connectionString: server });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty PostgreSQL database on `server` (default serverUrl()) named `prefix` + random hex, and returns its
 * name, URL and a function dropping it.
 */
export async function createEmptyPostgres(
  options: { server?: string; prefix?: string; randomBytes?: number } = {},
): Promise<{ name: string; url: string; dropDatabase(): Promise<void> }> {
  const server = options.server ?? serverUrl();
  const name = `${options.prefix ?? 'veobot_t_'}${randomBytes(options.randomBytes ?? 6).toString('hex')}`;
  await onMaintenance((c) => c.query(`CREATE DATABASE ${name}`), server);
  return {
    name,
    url: databaseUrl(name, server),
    dropDatabase: () =>
      onMaintenance(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)), server),
  };
}

function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'veobot-test-'));
}

/** A fresh, migrated database of the given kind. */
export async function createTestDatabase(kind: DatabaseKind, logger: Logger = silentLogger()): Promise<TestDatabase> {
  if (kind === 'postgres') {
    const { url, dropDatabase } = await createEmptyPostgres();
    const settings: DatabaseSettings = { url, dataDir: tempDataDir() };
    try {
      const database = await openDatabase(settings, logger);
      return {
        kind,
        url,
        settings,
        database,
        drop: async () => {
          await database.close();
          await dropDatabase();
          rmSync(settings.dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      await dropDatabase();
      throw err;
    }
  }
  const dataDir = tempDataDir();
  const settings: DatabaseSettings = { url: undefined, dataDir };
  const database = await openDatabase(settings, logger);
  return {
    kind,
    dataDir,
    settings,
    database,
    drop: async () => {
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The original bot's table, as it created it (the fixture of the in-place upgrade; src/db/migrations/*-Baseline.ts
 * must stay identical to it).
 */
export const LEGACY_SCHEMA_SQL = `
  CREATE TABLE video_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id text NOT NULL,
    guild_id text NOT NULL,
    channel_id text NOT NULL,
    prompt text NOT NULL,
    duration_seconds integer NULL CHECK (duration_seconds IN (4, 6, 8)),
    aspect_ratio text NOT NULL CHECK (aspect_ratio IN ('16:9', '9:16', '1:1', '4:3', '3:4')),
    resolution text NULL CHECK (resolution IN ('720p', '1080p')),
    generate_audio boolean NULL DEFAULT true,
    status text NOT NULL CHECK (status IN ('pending', 'generating', 'completed', 'failed', 'timeout')),
    operation_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    duration_ms integer,
    gcs_prefix text,
    video_urls text[],
    error_message text,
    request_type varchar(20) NOT NULL DEFAULT 'veo'
  );
  CREATE INDEX idx_video_requests_user_created ON video_requests (user_id, created_at DESC);
  CREATE INDEX idx_video_requests_status_created ON video_requests (status, created_at DESC);
  CREATE INDEX idx_video_requests_guild_created ON video_requests (guild_id, created_at DESC);
  CREATE INDEX idx_video_requests_user_type_created ON video_requests (user_id, request_type, created_at DESC);
`;

export interface LegacyDatabase {
  kind: DatabaseKind;
  url?: string;
  dataDir?: string;
  /** pass to openDatabase to upgrade it (call `release()` first) */
  settings: DatabaseSettings;
  /** runs one statement on the legacy database, outside TypeORM (to seed it before the upgrade) */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** closes the connection `query` uses (required before openDatabase in embedded mode; query reopens it) */
  release(): Promise<void>;
  /** releases and deletes the database (close any Database opened on it first) */
  drop(): Promise<void>;
}

/**
 * A fresh database holding only the original bot's table and indexes (no migrations yet). Default: PostgreSQL, as
 * the original bot used; 'embedded' gives a DATA_DIR whose PGlite database holds the same schema.
 */
export async function createLegacyDatabase(kind: DatabaseKind = 'postgres'): Promise<LegacyDatabase> {
  if (kind === 'postgres') {
    const { url, dropDatabase } = await createEmptyPostgres();
    const dataDir = tempDataDir();
    let client: Client | undefined;
    const query = async (sql: string, params?: unknown[]) => {
      if (!client) {
        client = new Client({ connectionString: url });
        await client.connect();
      }
      return (await client.query(sql, params)).rows as Record<string, unknown>[];
    };
    const release = async () => {
      const c = client;
      client = undefined;
      if (c) await c.end();
    };
    await query(LEGACY_SCHEMA_SQL);
    return {
      kind,
      url,
      settings: { url, dataDir },
      query,
      release,
      drop: async () => {
        await release();
        await dropDatabase();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const dataDir = tempDataDir();
  let pglite: PGlite | undefined;
  const open = async () => (pglite ??= await loadPGlite().PGlite.create({ dataDir: join(dataDir, PGLITE_SUBDIR) }));
  const query = async (sql: string, params?: unknown[]) => {
    const db = await open();
    if (params === undefined || params.length === 0) {
      const results = await db.exec(sql);
      return (results.at(-1)?.rows ?? []) as Record<string, unknown>[];
    }
    return (await db.query(sql, params)).rows as Record<string, unknown>[];
  };
  const release = async () => {
    const db = pglite;
    pglite = undefined;
    if (db && !db.closed) await db.close();
  };
  await query(LEGACY_SCHEMA_SQL);
  return {
    kind,
    dataDir,
    settings: { url: undefined, dataDir },
    query,
    release,
    drop: async () => {
      await release();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
