import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname, uptime } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

/**
 * The DATA_DIR lock: one process at a time on an embedded (PGlite) database, wherever the processes run — two
 * containers on one volume (both pid 1, in different pid namespaces), or two hosts on a network file system.
 *
 * The lock file holds who has it (host, boot id, pid namespace, pid, a random owner id) and a heartbeat: a worker
 * thread rewrites it every HEARTBEAT_MS, so the beat goes on while PGlite blocks the main thread (a checkpoint can take
 * seconds). A lock is stale, and taken over, when:
 * - its holder ran on this kernel (same boot id) in our pid namespace and its pid is gone: at once (a restart on the
 *   same machine, e.g. after kill -9). Both conditions are needed: a pid means nothing in another namespace, and a
 *   namespace id means nothing after a reboot or on another host;
 * - its holder ran on this kernel and its last beat is STALE_AFTER_MS old by the clock we share, and it did not beat
 *   while we watched it for CONFIRM_MS (another container on this host);
 * - otherwise (another host or boot, whose clock may differ from ours): it did not change while we watched it for
 *   STALE_AFTER_MS.
 * A lock that changes while we watch it is live: DataDirLockedError names its holder. A holder that stops beating for
 * STALE_AFTER_MS (SIGSTOP, a frozen VM) loses the lock; when it runs again its heartbeat thread notices first thing and
 * ends the process (what the main thread writes in that instant cannot be prevented without fencing in PGlite).
 *
 * Taking over is a rename of the lock file aside, checked against what was judged stale, then an atomic create
 * (link of a complete file, which fails if another process created one first), so two processes racing for a stale
 * lock cannot both win. An OS lock (flock/fcntl) would need a native addon and is unreliable on network file systems;
 * the heartbeat needs neither.
 *
 * One file over 400 lines on purpose: the file format, the staleness rule, the takeover and the heartbeat thread are
 * one protocol, and each part is only right together with the others.
 */

export const LOCK_FILE_NAME = 'veobot.lock';
/** How often the holder rewrites its lock file. */
export const HEARTBEAT_MS = 2_000;
/** A lock whose heartbeat is this old (five missed beats) is stale. */
export const STALE_AFTER_MS = 10_000;
/** An old heartbeat is watched this long before a takeover: a clock stepped forward must not make a live lock stale. */
export const CONFIRM_MS = 3_000;
const POLL_MS = 250;

/** What a lock file holds (JSON, one line). */
export interface LockHolder {
  host: string;
  pid: number;
  /** /proc/sys/kernel/random/boot_id: the same on one kernel (all its containers), new at every boot */
  bootId: string | null;
  /** /proc/self/ns/pid, e.g. `pid:[4026531836]`: pids of two namespaces cannot be compared */
  pidNamespace: string | null;
  /** random, one per acquisition */
  owner: string;
  startedAt: string;
  beat: number;
  /** Date.now() of the holder at its last beat */
  beatAt: number;
}

/** A second process (or a second open in this process) tried to use a DATA_DIR that is in use. */
export class DataDirLockedError extends Error {
  public readonly host: string | undefined;

  public constructor(
    public readonly dataDir: string,
    public readonly pid: number,
    public readonly lockFile: string,
    holder?: Partial<LockHolder>,
  ) {
    const self = pid === process.pid && (holder === undefined || holder.owner === heldLocks.get(dataDir)?.owner);
    const where =
      holder?.host !== undefined
        ? ` It runs on host ${holder.host} (pid ${pid} in its pid namespace${holder.pidNamespace ? ` ${holder.pidNamespace}` : ''}) and its heartbeat is current.`
        : '';
    super(
      `DATA_DIR ${dataDir} is in use by process ${pid}${self ? ' (this process)' : ''}: ` +
        `the embedded database allows one process at a time.${where} Stop that process, or set DATABASE_URL to share ` +
        `a PostgreSQL server between instances. (lock file: ${lockFile})`,
    );
    this.name = 'DataDirLockedError';
    this.host = holder?.host;
  }
}

export interface DataDirLockOptions {
  /**
   * Called if the lock is lost while held (another process took it over after this one stopped beating). Default:
   * log, and end the process at once (a SIGKILL from the heartbeat thread if the main thread does not exit within a
   * second), since another process now writes to the database.
   */
  onLost?: (reason: string) => void;
}

/** Data dirs this process holds, with their lock contents. */
const heldLocks = new Map<string, LockHolder>();

let identity: { host: string; bootId: string | null; pidNamespace: string | null } | undefined;
function self(): { host: string; bootId: string | null; pidNamespace: string | null } {
  const linux = process.platform === 'linux';
  identity ??= {
    host: hostname(),
    // Elsewhere (macOS, a developer's machine): host and boot time to 10 s stand for the boot id. A boot time read
    // either side of a rounding boundary only makes a takeover wait for the heartbeat, never hastens one.
    bootId: linux
      ? readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null, null)
      : `${hostname()}@${Math.round((Date.now() / 1000 - uptime()) / 10) * 10}`,
    // No pid namespaces outside Linux: all processes of the machine share one.
    pidNamespace: linux ? readOr(() => readlinkSync('/proc/self/ns/pid'), null) : 'none',
  };
  return identity;
}

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Alive in our pid namespace: exists, and is not a zombie. */
function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if (code(err) !== 'EPERM') return false;
  }
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'), '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

interface Snapshot {
  raw: string;
  holder?: LockHolder;
  /** a lock file of an earlier version: just a pid */
  legacyPid?: number;
}

function parse(raw: string): Snapshot {
  if (/^\s*\d+\s*$/.test(raw)) return { raw, legacyPid: Number.parseInt(raw, 10) };
  try {
    const h = JSON.parse(raw) as Partial<LockHolder>;
    if (
      typeof h.pid === 'number' &&
      typeof h.host === 'string' &&
      typeof h.owner === 'string' &&
      typeof h.beatAt === 'number'
    ) {
      return {
        raw,
        holder: { bootId: null, pidNamespace: null, startedAt: '', beat: 0, ...h } as LockHolder,
      };
    }
  } catch {
    // torn read during a beat, or not ours: compared as raw text only
  }
  return { raw };
}

function readSnapshot(file: string): Snapshot | undefined {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads the lock file of a DATA_DIR (undefined when there is none): for tests and diagnostics. */
export function readDataDirLock(dataDir: string): { holder?: LockHolder; legacyPid?: number } | undefined {
  const snapshot = readSnapshot(join(resolve(dataDir), LOCK_FILE_NAME));
  return snapshot && { holder: snapshot.holder, legacyPid: snapshot.legacyPid };
}

function holderPid(snapshot: Snapshot): number {
  return snapshot.holder?.pid ?? snapshot.legacyPid ?? 0;
}

function describe(snapshot: Snapshot): Record<string, unknown> {
  const h = snapshot.holder;
  if (h) return { host: h.host, pid: h.pid, pidNamespace: h.pidNamespace, bootId: h.bootId, lastBeat: h.beatAt };
  return { pid: snapshot.legacyPid };
}

type Verdict = { stale: true; reason: string } | { stale: false; holder: Snapshot } | { gone: true };

/** Decides whether the lock we found is live, watching its heartbeat when its holder cannot be checked directly. */
async function judge(dir: string, file: string, first: Snapshot, logger?: Logger): Promise<Verdict> {
  const me = self();
  if (first.legacyPid !== undefined) {
    // An earlier version's lock: no heartbeat, so only its pid can tell (in our own namespace).
    const pid = first.legacyPid;
    return pid !== process.pid && pidAlive(pid)
      ? { stale: false, holder: first }
      : { stale: true, reason: `its process ${pid} is gone` };
  }
  const start = performance.now();
  let told = false;
  // Every decision is about `first`: a lock that changed is live (a beat, or a newer holder) and ends the watch.
  const h = first.holder;
  // Taken by another open in this process while this one was on its way (openDatabase twice at once).
  if (h && h.owner === heldLocks.get(dir)?.owner) return { stale: false, holder: first };
  for (;;) {
    const sameKernel = h?.bootId != null && h.bootId === me.bootId;
    if (h && sameKernel && h.pidNamespace != null && h.pidNamespace === me.pidNamespace) {
      // Our pid namespace on this boot: the pid is the holder's, unless it is ours (an earlier process with our pid).
      if (h.pid === process.pid || !pidAlive(h.pid)) return { stale: true, reason: `its process ${h.pid} is gone` };
    }
    const watched = performance.now() - start;
    if (h && sameKernel && Date.now() - h.beatAt >= STALE_AFTER_MS && watched >= CONFIRM_MS) {
      return { stale: true, reason: `no heartbeat for ${((Date.now() - h.beatAt) / 1000).toFixed(1)} s` };
    }
    if (watched >= STALE_AFTER_MS) {
      return { stale: true, reason: `its lock file did not change for ${(watched / 1000).toFixed(1)} s` };
    }
    if (!told) {
      told = true;
      logger?.info(
        { dataDir: dir, holder: describe(first) },
        `DATA_DIR lock found; watching its heartbeat to tell whether its holder is alive (up to ${STALE_AFTER_MS / 1000} s)`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
    const next = readSnapshot(file);
    if (!next) return { gone: true };
    if (next.raw !== first.raw) return { stale: false, holder: next };
  }
}

/** Where we hold the lock: its inode, and a descriptor kept open on it (see hold). */
interface LockFile {
  fd: number;
  ino: bigint;
  dev: bigint;
}

/** Creates the lock file, complete, only if there is none (link fails on an existing name); undefined if there is. */
function tryCreate(file: string, content: string): LockFile | undefined {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.new`;
  const fd = openSync(tmp, 'wx', 0o644);
  let created: LockFile | undefined;
  try {
    writeSync(fd, content);
    fsyncSync(fd);
    const st = fstatSync(fd, { bigint: true });
    try {
      linkSync(tmp, file);
      created = { fd, ino: st.ino, dev: st.dev };
      return created;
    } catch (err) {
      if (code(err) === 'EEXIST') return undefined;
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code(err) ?? '')) throw err;
    }
  } finally {
    if (!created) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // gone already
    }
  }
  // No hard links on this file system: an exclusive create, written right after (briefly empty to a reader).
  let fd2: number;
  try {
    fd2 = openSync(file, 'wx', 0o644);
  } catch (err) {
    if (code(err) === 'EEXIST') return undefined;
    throw err;
  }
  writeSync(fd2, content);
  fsyncSync(fd2);
  const st = fstatSync(fd2, { bigint: true });
  return { fd: fd2, ino: st.ino, dev: st.dev };
}

/**
 * Moves the stale lock aside, if it is still the one judged stale. 'gone': someone else moved or removed it first.
 * Otherwise the holder that beat (or took over) in the meantime, whose lock is put back.
 */
function takeAside(file: string, stale: Snapshot): 'taken' | 'gone' | Snapshot {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if (code(err) === 'ENOENT') return 'gone';
    throw err;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== stale.raw) {
    try {
      linkSync(aside, file);
    } catch {
      // someone created a new lock meanwhile; it stands (the holder we moved sees its file gone and stops)
    }
    unlinkSync(aside);
    return parse(moved);
  }
  unlinkSync(aside);
  return 'taken';
}

function sameFile(file: string, id: LockFile): boolean {
  try {
    const st = statSync(file, { bigint: true });
    return st.ino === id.ino && st.dev === id.dev;
  } catch {
    return false;
  }
}

/**
 * Takes the DATA_DIR lock and starts its heartbeat; resolves with the release function. DataDirLockedError if a live
 * process (or this one) holds it. Waits while it tells a dead holder from a live one: at most STALE_AFTER_MS, plus a
 * beat for a live holder to show itself.
 */
export async function acquireDataDirLock(
  dataDir: string,
  logger?: Logger,
  options: DataDirLockOptions = {},
): Promise<() => void> {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE_NAME);
  mkdirSync(dir, { recursive: true });
  const mine = heldLocks.get(dir);
  if (mine) throw new DataDirLockedError(dir, process.pid, file, mine);
  const me = self();
  const holder: LockHolder = {
    host: me.host,
    pid: process.pid,
    bootId: me.bootId,
    pidNamespace: me.pidNamespace,
    owner: randomBytes(8).toString('hex'),
    startedAt: new Date().toISOString(),
    beat: 0,
    beatAt: Date.now(),
  };
  for (let round = 0; round < 10; round++) {
    holder.beatAt = Date.now();
    const id = tryCreate(file, `${JSON.stringify(holder)}\n`);
    if (id) return await hold(dir, file, id, holder, logger, options);
    const found = readSnapshot(file);
    if (!found) continue; // released meanwhile: try again
    const verdict = await judge(dir, file, found, logger);
    if ('gone' in verdict) continue;
    if (!verdict.stale) throw new DataDirLockedError(dir, holderPid(verdict.holder), file, verdict.holder.holder);
    const taken = takeAside(file, found);
    if (taken === 'gone') continue;
    if (taken !== 'taken') throw new DataDirLockedError(dir, holderPid(taken), file, taken.holder);
    logger?.warn(
      { dataDir: dir, staleHolder: describe(found), reason: verdict.reason },
      'took over a stale DATA_DIR lock left by a process that is gone',
    );
  }
  throw new Error(`Could not take the DATA_DIR lock ${file}: it changed hands repeatedly`);
}

/**
 * The heartbeat thread. It writes through the descriptor opened when the lock file was created, which also keeps that
 * inode alive: its number cannot be given to another file (a newer lock) while we might still take it for ours. Each
 * beat first checks that the lock file is still that inode and holds our owner id (a takeover renames it away); if
 * not, it looks twice more (a takeover that lost its race puts the file back at once), then reports the loss.
 */
const HEARTBEAT_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { file, fd, holder, beatMs, flag, killOnLoss } = workerData;
const released = new Int32Array(flag);
let open = true;
let timer;
let suspicion = 0;
function mine() {
  try {
    const held = fs.fstatSync(fd, { bigint: true });
    const named = fs.statSync(file, { bigint: true });
    if (held.ino !== named.ino || held.dev !== named.dev) return false;
    return JSON.parse(fs.readFileSync(file, 'utf8')).owner === holder.owner;
  } catch {
    return false;
  }
}
function stop() {
  clearTimeout(timer);
  if (open) fs.closeSync(fd);
  open = false;
  process.exit(0);
}
function lost(reason) {
  if (Atomics.load(released, 0) === 1) return stop();
  parentPort.postMessage({ type: 'lost', reason });
  if (killOnLoss) {
    setTimeout(() => {
      if (Atomics.load(released, 0) === 1) return;
      fs.writeSync(2, 'veobot: lost the DATA_DIR lock ' + file + ' (' + reason + '); killing this process\\n');
      process.kill(process.pid, 'SIGKILL');
    }, 1000);
  }
}
function beat() {
  if (Atomics.load(released, 0) === 1) return stop();
  if (!mine()) {
    if (++suspicion < 3) return void (timer = setTimeout(beat, 100));
    return lost('the lock file was taken over by another process');
  }
  suspicion = 0;
  try {
    holder.beat += 1;
    holder.beatAt = Date.now();
    const text = Buffer.from(JSON.stringify(holder) + '\\n');
    fs.writeSync(fd, text, 0, text.length, 0);
    fs.ftruncateSync(fd, text.length);
    fs.fdatasyncSync(fd);
  } catch (err) {
    // a full disk or a failing volume: keep trying, the takeover rule decides whether that is fatal
  }
  timer = setTimeout(beat, beatMs);
}
parentPort.on('message', (m) => { if (m === 'stop') stop(); });
timer = setTimeout(beat, beatMs);
`;

async function hold(
  dir: string,
  file: string,
  id: LockFile,
  holder: LockHolder,
  logger: Logger | undefined,
  options: DataDirLockOptions,
): Promise<() => void> {
  heldLocks.set(dir, holder);
  const flag = new SharedArrayBuffer(4);
  const releasedFlag = new Int32Array(flag);
  let released = false;
  const onLost =
    options.onLost ??
    ((reason: string) => {
      const message = 'lost the DATA_DIR lock: another process took over this embedded database; stopping at once';
      if (logger) logger.fatal({ dataDir: dir, reason }, message);
      else process.stderr.write(`veobot: ${message} (${dir}: ${reason})\n`);
      process.exit(1);
    });
  const lose = (reason: string) => {
    if (released) return;
    released = true;
    heldLocks.delete(dir);
    process.removeListener('exit', onExit);
    // The flag stays down by default: it would call off the heartbeat thread's SIGKILL should this thread not exit.
    if (options.onLost) {
      Atomics.store(releasedFlag, 0, 1);
      worker.postMessage('stop');
    }
    onLost(reason);
  };
  const removeFile = () => {
    try {
      if (sameFile(file, id)) unlinkSync(file);
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
    }
  };
  let worker: Worker;
  try {
    worker = await startHeartbeat(file, id, holder, flag, options.onLost === undefined);
  } catch (err) {
    heldLocks.delete(dir);
    removeFile();
    closeSync(id.fd);
    throw err;
  }
  worker.on('message', (m: { type?: string; reason?: string }) => {
    if (m?.type === 'lost') lose(m.reason ?? 'lost');
  });
  worker.on('error', (err) => lose(`the heartbeat thread failed: ${err.message}`));
  worker.on('exit', () => lose('the heartbeat thread stopped'));

  const stop = () => {
    released = true;
    Atomics.store(releasedFlag, 0, 1);
    heldLocks.delete(dir);
    worker.postMessage('stop');
  };
  // Last resort on a normal exit without release(): leave no lock behind (a kill -9 leaves a stale one instead).
  const onExit = (): void => {
    if (released) return;
    stop();
    removeFile();
  };
  process.once('exit', onExit);
  return () => {
    if (released) return;
    process.removeListener('exit', onExit);
    stop();
    removeFile();
  };
}

/** Starts the heartbeat thread; resolves once it runs (a process that cannot beat must not hold the lock). */
async function startHeartbeat(
  file: string,
  id: LockFile,
  holder: LockHolder,
  flag: SharedArrayBuffer,
  killOnLoss: boolean,
): Promise<Worker> {
  const worker = new Worker(HEARTBEAT_SOURCE, {
    eval: true,
    workerData: {
      file,
      fd: id.fd, // from now on the thread's: it closes it when it stops
      holder,
      beatMs: HEARTBEAT_MS,
      flag,
      killOnLoss,
    },
    // a few MB of heap is plenty for a timer and a write
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
  });
  try {
    await once(worker, 'online'); // referenced until then: a pending promise alone would let the process exit
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  worker.unref(); // the heartbeat never keeps the process alive by itself
  return worker;
}
