/**
 * `npm run db:template`: remakes the embedded database template (src/db/embedded-template/pglite-<version>.tar.br,
 * see embeddedTemplate.ts) with the installed PGlite, and removes templates of other versions. Run it after changing
 * the PGlite version; tests/integration/db-embedded-template.test.ts fails until then. Takes a few seconds and, like
 * any PGlite initdb, up to ~900 MB of memory.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeError } from '../lib/logger';
import { loadPGlite } from './dataSource';
import { installedPGliteVersion, templateDirectory, templateFileName, writeTemplate } from './embeddedTemplate';

/** What PGlite's own first start leaves in an empty data directory: its initdb, then a clean close (checkpoint). */
export async function initdbTree(dir: string): Promise<void> {
  const pglite = await loadPGlite().PGlite.create({ dataDir: dir });
  await pglite.close();
}

export async function buildEmbeddedTemplate(outDir = templateDirectory()) {
  const version = installedPGliteVersion();
  const work = mkdtempSync(join(tmpdir(), 'veobot-template-'));
  try {
    const tree = join(work, 'pglite');
    await initdbTree(tree);
    const file = join(outDir, templateFileName(version));
    const written = writeTemplate(tree, file);
    for (const name of readdirSync(outDir)) {
      if (/^pglite-.*\.tar\.br$/.test(name) && name !== templateFileName(version)) rmSync(join(outDir, name));
    }
    return { file, version, ...written };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  buildEmbeddedTemplate().then(
    (r) => {
      process.stdout.write(
        `${r.file}: PGlite ${r.version}, ${r.entries} entries, ${r.tarBytes} bytes unpacked, ${r.bytes} bytes packed\n`,
      );
      process.exit(0);
    },
    (err: unknown) => {
      const safe = serializeError(err);
      process.stderr.write(`${safe.stack ?? safe.message}\n`);
      process.exit(1);
    },
  );
}
