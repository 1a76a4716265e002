/**
 * Runs the database migrations and exits: `npm run db:migrate` (or `node dist/scripts/migrate.js`).
 *
 * Reads only DATABASE_URL and DATA_DIR (no Discord or Google settings needed), with the same rules as loadConfig:
 * DATABASE_URL set = that PostgreSQL server; unset = the embedded database under DATA_DIR (default ./data). In embedded
 * mode it takes the same DATA_DIR lock as the bot, so it refuses to run while the bot has the directory open.
 */
import 'reflect-metadata';
import { resolve } from 'node:path';
import { openDatabase, type DatabaseSettings } from '../db/dataSource';
import { createLogger, serializeError } from '../lib/logger';

type Env = Record<string, string | undefined>;

/** The two database settings, read and validated like loadConfig does. Throws with a readable message. */
export function readDatabaseSettings(env: Env = process.env): DatabaseSettings {
  const rawUrl = env.DATABASE_URL?.trim() || undefined;
  let url: string | undefined;
  if (rawUrl !== undefined) {
    let ok: boolean;
    try {
      ok = ['postgres:', 'postgresql:'].includes(new URL(rawUrl).protocol);
    } catch {
      ok = false;
    }
    // Never echo the URL: it may carry a password.
    if (!ok) throw new Error('DATABASE_URL is invalid: expected a postgres:// or postgresql:// URL');
    url = rawUrl.replace(/\/+$/, '');
  }
  return { url, dataDir: resolve(env.DATA_DIR?.trim() || './data') };
}

export async function main(env: Env = process.env): Promise<void> {
  const logger = createLogger({ level: env.LOG_LEVEL?.trim() || 'info' }).child({ component: 'migrate' });
  const database = await openDatabase(readDatabaseSettings(env), logger); // runs the migrations
  try {
    const applied = (await database.dataSource.query(`SELECT name FROM migrations ORDER BY id`)) as { name: string }[];
    logger.info({ mode: database.mode, migrations: applied.map((m) => m.name) }, 'database schema is up to date');
  } finally {
    await database.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(serializeError(err).message);
      process.exit(1);
    },
  );
}
