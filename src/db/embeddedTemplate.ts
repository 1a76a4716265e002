import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliCompressSync, constants as zlib, createBrotliDecompress } from 'node:zlib';

/**
 * The pre-initialised PGlite data directory shipped with the bot (issue #17). A first start on an empty DATA_DIR
 * unpacks it instead of running initdb: PGlite's initdb runs a second WASM Postgres beside the first plus initdb's
 * own WASM, and peaks near 850 MB.
 *
 * It is exactly what PGlite's first start writes (its own initdb, then a clean close), made by
 * `npm run db:template` (src/db/buildEmbeddedTemplate.ts) with the pinned PGlite. Two runs differ only in
 * global/pg_control (system identifier, timestamps) and the WAL segment (commit timestamps), which
 * tests/integration/db-embedded-template.test.ts checks. Locale (C.UTF-8), encoding and time zone (UTC) are fixed by
 * PGlite, so nothing in it depends on the machine that made it.
 *
 * Format: a ustar archive (directories and regular files only, sorted, mtime 0, so the same tree gives the same
 * bytes), compressed with brotli: its 16 MiB window spans the three near-identical databases, 1.3 MB against 4.5 MB
 * with gzip. The file name carries the PGlite version that made it; another version ignores it (initdb as before).
 */
export const TEMPLATE_DIR_NAME = 'embedded-template';

/** The installed @electric-sql/pglite version (its package.json is not exported, so found next to its entry point). */
export function installedPGliteVersion(): string {
  let dir = dirname(require.resolve('@electric-sql/pglite'));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error('cannot find the version of @electric-sql/pglite');
    dir = dirname(dir);
  }
}

export function templateFileName(pgliteVersion: string): string {
  return `pglite-${pgliteVersion}.tar.br`;
}

/** Where the template lives: beside this file under ts-jest (src/db), or back in src/db when run from dist/db. */
export function templateDirectory(): string {
  const candidates = [join(__dirname, TEMPLATE_DIR_NAME), join(__dirname, '..', '..', 'src', 'db', TEMPLATE_DIR_NAME)];
  return candidates.find((d) => existsSync(d)) ?? candidates[candidates.length - 1]!;
}

/** The template for the installed PGlite, if it is there. */
export function findTemplate(pgliteVersion = installedPGliteVersion()): string | undefined {
  const file = join(templateDirectory(), templateFileName(pgliteVersion));
  return existsSync(file) ? file : undefined;
}

// ---------------------------------------------------------------- ustar, the subset we write and read

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, type: '0' | '5', size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155)
      throw new Error(`name too long for ustar: ${name}`);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: fixed, for reproducible bytes
  h.write(' '.repeat(8), 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  h.write(octal(checksum(h), 7), 148, 'ascii');
  return h;
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

/** Every directory and file under `root`, as sorted paths relative to it ('/'-separated; directories end in '/'). */
function listTree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const s = statSync(join(root, path));
    if (s.isDirectory()) out.push(`${path}/`, ...listTree(root, path));
    else if (s.isFile()) out.push(path);
    else throw new Error(`not a file or directory: ${join(root, path)}`);
  }
  return out;
}

/** Packs the directory tree `sourceDir` into `file` (ustar + brotli, deterministic). */
export function writeTemplate(sourceDir: string, file: string): { entries: number; tarBytes: number; bytes: number } {
  const parts: Buffer[] = [];
  const entries = listTree(sourceDir);
  for (const path of entries) {
    if (path.endsWith('/')) {
      parts.push(header(path, '5', 0, 0o700));
      continue;
    }
    const data = readFileSync(join(sourceDir, path));
    parts.push(header(path, '0', data.length, 0o600), data);
    if (data.length % BLOCK) parts.push(Buffer.alloc(BLOCK - (data.length % BLOCK)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  const tar = Buffer.concat(parts);
  const packed = brotliCompressSync(tar, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
      [zlib.BROTLI_PARAM_LGWIN]: zlib.BROTLI_MAX_WINDOW_BITS, // 16 MiB: also what unpacking holds at most
      [zlib.BROTLI_PARAM_SIZE_HINT]: tar.length,
    },
  });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, packed);
  return { entries: entries.length, tarBytes: tar.length, bytes: packed.length };
}

/**
 * Streams the archive into the directory `target`, fsyncing every file and directory, like initdb syncs its data
 * directory before it reports success. The top-level file `last` (PG_VERSION: what marks a data directory as made) is
 * written only after everything else is on disk. Holds one 512-byte header and the decompressor's window, never the
 * whole tree.
 */
class TarExtractor extends Writable {
  public files = 0;
  public bytes = 0;
  private readonly dirs: string[] = [];
  private head = Buffer.alloc(0);
  private fd: number | undefined;
  private remaining = 0;
  private padding = 0;
  private ended = false;
  private held: { path: string; chunks: Buffer[] } | undefined;
  private holding = false;

  public constructor(
    private readonly target: string,
    private readonly last?: string,
  ) {
    super();
    this.dirs.push(target);
  }

  public override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    try {
      this.consume(chunk);
      done();
    } catch (err) {
      this.closeFile();
      done(err as Error);
    }
  }

  public override _final(done: (error?: Error | null) => void): void {
    if (!this.ended || this.fd !== undefined) return done(new Error('the template archive is truncated'));
    try {
      for (const dir of [...this.dirs].reverse()) fsyncPath(dir);
      if (this.held) {
        this.fd = openSync(this.held.path, 'wx', 0o600);
        writeSync(this.fd, Buffer.concat(this.held.chunks));
        this.closeFile();
        fsyncPath(this.target);
      }
      done();
    } catch (err) {
      this.closeFile();
      done(err as Error);
    }
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        if (this.holding) this.held!.chunks.push(Buffer.from(chunk.subarray(at, at + n)));
        else writeSync(this.fd!, chunk, at, n);
        at += n;
        this.remaining -= n;
        this.bytes += n;
        if (this.remaining === 0) this.closeFile();
      } else if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - at);
        at += n;
        this.padding -= n;
      } else if (this.ended) {
        at = chunk.length; // the zero blocks that end the archive
      } else {
        const n = Math.min(BLOCK - this.head.length, chunk.length - at);
        this.head = Buffer.concat([this.head, chunk.subarray(at, at + n)]);
        at += n;
        if (this.head.length === BLOCK) {
          const h = this.head;
          this.head = Buffer.alloc(0);
          this.entry(h);
        }
      }
    }
  }

  private entry(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const text = (from: number, length: number) => h.toString('utf8', from, from + length).replace(/\0.*$/s, '');
    if (Number.parseInt(text(148, 8).trim(), 8) !== checksum(h)) throw new Error('the template archive is corrupt');
    const prefix = text(345, 155);
    const name = prefix ? `${prefix}/${text(0, 100)}` : text(0, 100);
    const path = normalize(join(this.target, name));
    if (isAbsolute(name) || !path.startsWith(this.target + sep))
      throw new Error(`unsafe path in the template: ${name}`);
    const size = Number.parseInt(text(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    if (type === '5') {
      mkdirSync(path, { mode: 0o700 });
      this.dirs.push(path);
    } else if (type === '0' || type === '\0') {
      this.files++;
      if (name === this.last) {
        if (size > 65_536) throw new Error(`${name} is too large to hold back`);
        this.held = { path, chunks: [] };
        this.holding = true;
      } else {
        this.fd = openSync(path, 'wx', 0o600);
      }
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) this.closeFile();
    } else {
      throw new Error(`unexpected entry type ${JSON.stringify(type)} in the template: ${name}`);
    }
  }

  private closeFile(): void {
    this.holding = false;
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export function fsyncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return; // platforms that cannot open a directory (Windows) cannot fsync one either
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!['EINVAL', 'EPERM', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * Unpacks the template `file` into the directory `target` (created if missing; must hold none of the archive's
 * names). The top-level file `last`, if given, is written after everything else is synced.
 */
export async function extractTemplate(
  file: string,
  target: string,
  last?: string,
): Promise<{ files: number; bytes: number }> {
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const extractor = new TarExtractor(target, last);
  await pipeline(createReadStream(file), createBrotliDecompress(), extractor);
  return { files: extractor.files, bytes: extractor.bytes };
}
