import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import { extractTemplate, findTemplate, fsyncPath, installedPGliteVersion } from './embeddedTemplate';

/**
 * The embedded engine (PGlite) fitted to one small bot process (issue #17; figures in docs/operations.md).
 *
 * PostgreSQL settings, given on PGlite's command line (`-c`) rather than written to postgresql.conf, so DATA_DIRs made
 * by earlier versions get them too and their files stay as they were. PGlite's shared memory is an allocation in the
 * WASM heap that start-up touches whole, and a WASM heap never shrinks: each megabyte here is resident for the life
 * of the process.
 */
export const EMBEDDED_POSTGRES_SETTINGS: Readonly<Record<string, string>> = {
  // Default 128MB, all of it resident from the start. The bot's tables are a few MB; a page outside shared buffers
  // comes from the OS page cache (one read call).
  shared_buffers: '8MB',
  // Sizes per-backend arrays in shared memory (default 100, 4 MB); PGlite has exactly one session.
  max_connections: '1',
  // What one VACUUM or CREATE INDEX may take (default 64MB), which the WASM heap would keep afterwards.
  maintenance_work_mem: '16MB',
};

export function embeddedStartParams(engine: Pick<typeof PGlite, 'defaultStartParams'>): string[] {
  return [
    ...engine.defaultStartParams,
    ...Object.entries(EMBEDDED_POSTGRES_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

/**
 * V8 compiles PGlite's 8.7 MB of WebAssembly with Liftoff, then recompiles hot functions with TurboFan in the
 * background. Postgres start-up and the first queries make hundreds of functions hot at once: TurboFan's code and
 * compile-time memory added 60-110 MiB to the peak (measured), while the single-row statements the bot runs stay near
 * 0.2 ms on Liftoff (at most a quarter slower than optimised code; bulk work over many rows 1.3-2x slower). V8
 * fixes a module's tiers when it compiles it (measured: clearing the flag afterwards keeps PGlite on Liftoff), so the
 * flag is set only while PGlite compiles its module: WebAssembly compiled later (undici's HTTP parser) is unaffected.
 */
async function compiledWithLiftoffOnly<T>(fn: () => Promise<T>): Promise<T> {
  const operatorSet = process.execArgv.some((a) => a === '--liftoff-only' || a === '--liftoff_only');
  if (!operatorSet) setFlagsFromString('--liftoff-only');
  try {
    return await fn();
  } finally {
    if (!operatorSet) setFlagsFromString('--no-liftoff-only');
  }
}

export type DataDirOrigin = 'existing' | 'template' | 'initdb';

/** Present in the PGlite directory while the template is being unpacked into it. */
export const UNPACKING_MARKER = '.veobot-unpacking';

/**
 * Makes sure `pgliteDir` holds a database before PGlite opens it. An existing one is left as it is. Into a new (or
 * empty) one the shipped template (embeddedTemplate.ts) is unpacked and synced, PG_VERSION last: PG_VERSION is what
 * marks a data directory as made, for PGlite as for us. A marker file, synced first and removed last, tells the files
 * of a start that died half-way (cleared by the next start; the caller holds the DATA_DIR lock) from anything else.
 * Without a template for the installed PGlite, or beside other files, PGlite runs initdb itself, as before.
 */
export async function prepareEmbeddedDataDir(
  pgliteDir: string,
  log: Logger,
  template: string | null = findTemplate() ?? null,
): Promise<DataDirOrigin> {
  const marker = join(pgliteDir, UNPACKING_MARKER);
  if (existsSync(join(pgliteDir, 'PG_VERSION'))) {
    if (existsSync(marker)) rmSync(marker); // unpacked completely; the start stopped just before removing it
    return 'existing';
  }
  const leftovers = existsSync(pgliteDir) ? readdirSync(pgliteDir) : [];
  if (leftovers.includes(UNPACKING_MARKER)) {
    log.warn({ dataDir: pgliteDir }, 'clearing a database template left half-unpacked by an earlier start');
    for (const name of leftovers) if (name !== UNPACKING_MARKER) rmSync(join(pgliteDir, name), { recursive: true });
  } else if (leftovers.length > 0) {
    log.warn({ dataDir: pgliteDir }, 'embedded data directory without PG_VERSION: PGlite runs initdb in it');
    return 'initdb';
  }
  if (template === null) {
    log.warn(
      { pglite: installedPGliteVersion() },
      'no database template for this PGlite version (npm run db:template): running initdb, which takes up to ~900 MB',
    );
    return 'initdb';
  }
  const started = Date.now();
  mkdirSync(pgliteDir, { recursive: true, mode: 0o700 });
  writeFileSync(marker, '');
  fsyncPath(marker);
  fsyncPath(pgliteDir);
  const { files, bytes } = await extractTemplate(template, pgliteDir, 'PG_VERSION');
  rmSync(marker);
  fsyncPath(pgliteDir);
  log.info(
    { dataDir: pgliteDir, files, bytes, durationMs: Date.now() - started },
    'new embedded database unpacked from the template shipped with the bot',
  );
  return 'template';
}

/** Opens PGlite on `pgliteDir` (preparing a new one first) with the settings above. */
export async function openEmbeddedEngine(
  Engine: typeof PGlite,
  pgliteDir: string,
  log: Logger,
  template: string | null = findTemplate() ?? null,
): Promise<PGlite> {
  await prepareEmbeddedDataDir(pgliteDir, log, template);
  return compiledWithLiftoffOnly(() => Engine.create({ dataDir: pgliteDir, startParams: embeddedStartParams(Engine) }));
}
