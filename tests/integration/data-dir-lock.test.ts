/**
 * The DATA_DIR lock across pid namespaces: holders run as separate processes, in a pid namespace of their own
 * (`unshare --pid --fork --mount-proc`, where they are pid 1 like in a container) or in ours, and are stopped,
 * continued and killed. The lock is the compiled one (dist/, built by the jest global setup), as the bot runs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BOT_ENTRY } from '../helpers/botProcess';
import {
  CONFIRM_MS,
  DataDirLockedError,
  LOCK_FILE_NAME,
  STALE_AFTER_MS,
  acquireDataDirLock,
  readDataDirLock,
} from '../../src/db/dataDirLock';

jest.setTimeout(120_000);

const COMPILED_LOCK = join(BOT_ENTRY, '..', 'db', 'dataDirLock.js');

/** A process that takes the lock and reports on stdout; `release` on stdin lets it go, `go` starts it (with --wait). */
const HOLDER_SOURCE = `
const { acquireDataDirLock } = require(process.argv[2]);
const dataDir = process.argv[3];
const say = (event, extra) => process.stdout.write(JSON.stringify({ event, ...extra }) + '\\n');
const logger = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((level) => [level, (o, msg) => say(level, { msg, ...o })]),
);
const take = () =>
  acquireDataDirLock(dataDir, logger).then(
    (release) => {
      say('acquired', { pid: process.pid });
      process.stdin.on('data', (d) => {
        if (String(d).includes('release')) {
          release();
          say('released');
          process.exit(0);
        }
      });
    },
    (err) => {
      say('refused', { name: err.name, message: err.message, holderPid: err.pid, host: err.host });
      process.exit(3);
    },
  );
setInterval(() => {}, 1 << 30);
if (process.argv.includes('--wait')) process.stdin.once('data', take);
else take();
`;

interface HolderEvent {
  event: string;
  msg?: string;
  [key: string]: unknown;
}

class Holder {
  public readonly events: HolderEvent[] = [];
  public stderr = '';
  /** exit code, or null when a signal ended it (then see `signal`) */
  public readonly exited: Promise<number | null>;
  public signalCode: NodeJS.Signals | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        this.events.push(JSON.parse(buffer.slice(0, nl)) as HolderEvent);
        buffer = buffer.slice(nl + 1);
      }
      this.waiters.forEach((w) => w());
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.signalCode = signal;
        resolve(code);
      }),
    );
    void this.exited.then(() => this.waiters.forEach((w) => w()));
  }

  /** In a pid namespace of its own (`namespaced`, where it is pid 1), or in ours. Its own process group. */
  public static start(script: string, dataDir: string, opts: { namespaced: boolean; wait?: boolean }): Holder {
    const args = [script, COMPILED_LOCK, dataDir, ...(opts.wait ? ['--wait'] : [])];
    const child = opts.namespaced
      ? spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, ...args], { detached: true })
      : spawn(process.execPath, args, { detached: true });
    return new Holder(child);
  }

  public send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Signals the whole group (for a namespaced holder: unshare and the node process under it). */
  public signal(signal: NodeJS.Signals): void {
    process.kill(-this.child.pid!, signal);
  }

  public waitFor(event: string, timeoutMs = 60_000): Promise<HolderEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find((e) => e.event === event);
        if (found) return done(() => resolve(found));
        if (this.child.exitCode !== null || this.child.signalCode !== null)
          return done(() => reject(new Error(`holder exited waiting for ${event}: ${this.report()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${event}: ${this.report()}`))), timeoutMs);
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The first of several events. */
  public async waitForAny(events: string[], timeoutMs = 60_000): Promise<HolderEvent> {
    return Promise.race(events.map((e) => this.waitFor(e, timeoutMs).catch(() => new Promise<never>(() => {}))));
  }

  public report(): string {
    return `events ${JSON.stringify(this.events)} stderr ${this.stderr}`;
  }

  public kill(): void {
    try {
      this.signal('SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A step that must finish: on a timeout, says which one, with what the holders and the lock file showed. */
async function within<T>(what: string, promise: Promise<T>, timeoutMs: number, context: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}\n${context()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function canUnshare(): boolean {
  return spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function nsOfSelf(): string {
  return readlinkSync('/proc/self/ns/pid');
}

/** This kernel and pid namespace, as a lock file names them. */
function ownIdentity(): { bootId: string; pidNamespace: string } {
  return { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNamespace: nsOfSelf() };
}

/** A lock file as a holder would have left it. */
function writeLock(dataDir: string, fields: Record<string, unknown>): void {
  const lock = {
    host: hostname(),
    pid: 4242,
    bootId: null,
    pidNamespace: null,
    owner: 'left-behind',
    startedAt: new Date(Date.now() - 3_600_000).toISOString(),
    beat: 100,
    beatAt: Date.now() - 60_000,
    ...fields,
  };
  writeFileSync(join(dataDir, LOCK_FILE_NAME), `${JSON.stringify(lock)}\n`);
}

/** A logger that keeps what it is told (the lock logs why it took a lock over). */
function recordingLogger() {
  const lines: { level: string; msg: string; [key: string]: unknown }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, msg, ...obj });
  const logger = { info: at('info'), warn: at('warn'), fatal: at('fatal'), debug: at('debug'), error: at('error') };
  return { lines, logger: logger as unknown as Logger };
}

describe('DATA_DIR lock across pid namespaces and processes', () => {
  const unshare = canUnshare();
  const inNamespaces = unshare ? it : it.skip;
  if (!unshare) console.warn('unshare --pid is not available (needs root): the pid-namespace tests are skipped');

  let work: string;
  let script: string;
  let dataDir: string;
  const holders: Holder[] = [];
  const releases: (() => void)[] = [];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'veobot-lock-'));
    script = join(work, 'holder.js');
    writeFileSync(script, HOLDER_SOURCE);
  });
  beforeEach(() => {
    dataDir = mkdtempSync(join(work, 'data-'));
  });
  afterEach(async () => {
    for (const release of releases.splice(0)) release();
    for (const h of holders.splice(0)) {
      h.kill();
      await h.exited;
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const holder = (opts: { namespaced: boolean; wait?: boolean }) => {
    const h = Holder.start(script, dataDir, opts);
    holders.push(h);
    return h;
  };
  const acquire = async (logger?: Logger) => {
    const release = await acquireDataDirLock(dataDir, logger, { onLost: () => undefined });
    releases.push(release);
    return release;
  };

  inNamespaces('refuses a live holder in another pid namespace, naming its host and pid', async () => {
    const other = holder({ namespaced: true });
    expect(await other.waitFor('acquired')).toMatchObject({ pid: 1 }); // pid 1 in its namespace, like a container
    const theirs = readDataDirLock(dataDir)!.holder!;
    expect(theirs.pidNamespace).not.toBe(nsOfSelf());

    const err = (await acquire().catch((e: unknown) => e)) as DataDirLockedError;
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err).toMatchObject({ pid: 1, host: hostname(), dataDir });
    expect(err.message).toContain(`is in use by process 1:`);
    expect(err.message).toContain(`host ${hostname()} (pid 1 in its pid namespace ${theirs.pidNamespace})`);
    expect(readDataDirLock(dataDir)!.holder!.owner).toBe(theirs.owner); // untouched, still beating
    expect(readDataDirLock(dataDir)!.holder!.beat).toBeGreaterThan(0);

    other.send('release');
    expect(await other.exited).toBe(0);
    expect(readDataDirLock(dataDir)).toBeUndefined();
    await acquire(); // free again
  });

  inNamespaces(
    'two containers on one volume, both pid 1 in their own pid namespaces: the second is refused',
    async () => {
      const first = holder({ namespaced: true });
      expect(await first.waitFor('acquired')).toMatchObject({ pid: 1 });
      const second = holder({ namespaced: true });
      expect(await second.waitForAny(['acquired', 'refused'])).toMatchObject({
        event: 'refused',
        name: 'DataDirLockedError',
        holderPid: 1,
        host: hostname(),
      });
      expect(await second.exited).toBe(3);
      expect(first.events.map((e) => e.event)).toEqual(['acquired']); // still holding, never told otherwise
    },
  );

  inNamespaces(
    'takes over from a holder that stopped beating (SIGSTOP); continued, the old holder stops at once',
    async () => {
      const other = holder({ namespaced: true });
      await other.waitFor('acquired');
      other.signal('SIGSTOP');
      const { lines, logger } = recordingLogger();
      const context = () =>
        `holder: ${other.report()}\nlock: ${JSON.stringify(readDataDirLock(dataDir))}\nlog: ${JSON.stringify(lines)}`;
      await within('the takeover', acquire(logger), 60_000, context);
      const takeover = lines.find((l) => l.msg === 'took over a stale DATA_DIR lock left by a process that is gone');
      expect(takeover?.reason).toMatch(/^no heartbeat for \d+\.\d s$/);
      expect(takeover?.staleHolder).toMatchObject({ pid: 1, host: hostname() });
      const mine = readDataDirLock(dataDir)!.holder!;
      expect(mine.pid).toBe(process.pid);

      other.signal('SIGCONT');
      // It exits with a fatal log line, or, if its main thread is slow to act, its heartbeat thread kills it.
      const code = await within('the old holder to stop', other.exited, 30_000, context);
      const fatal = other.events.find((e) => e.event === 'fatal')?.msg ?? '';
      if (code === 1) expect(fatal).toMatch(/^lost the DATA_DIR lock/);
      else {
        expect({ code, signal: other.signalCode }).toEqual({ code: null, signal: 'SIGKILL' });
        expect(other.stderr).toMatch(/lost the DATA_DIR lock .*killing this process/);
      }
      // It never wrote over the new holder's lock.
      expect(readDataDirLock(dataDir)!.holder!.owner).toBe(mine.owner);
    },
  );

  inNamespaces('takes over a killed (SIGKILL) holder of another pid namespace once its beat is stale', async () => {
    const other = holder({ namespaced: true });
    await other.waitFor('acquired');
    other.signal('SIGKILL');
    await other.exited;
    const killedAt = Date.now();
    const lastBeat = readDataDirLock(dataDir)!.holder!.beatAt;
    await acquire();
    const takenAt = Date.now();
    // Not before the documented staleness (its pid cannot be checked from here), and not long after it.
    expect(takenAt - lastBeat).toBeGreaterThanOrEqual(STALE_AFTER_MS);
    expect(takenAt - killedAt).toBeLessThan(STALE_AFTER_MS + CONFIRM_MS + 15_000); // a generous ceiling
    console.log(`SIGKILLed holder in another pid namespace: taken over ${takenAt - killedAt} ms after the kill`);
  });

  it('takes over at once a lock of this kernel and pid namespace whose process is gone', async () => {
    writeLock(dataDir, { ...ownIdentity(), pid: deadPid(), beatAt: Date.now() });
    const { lines, logger } = recordingLogger();
    await acquire(logger);
    expect(lines.find((l) => l.level === 'warn')?.reason).toMatch(/^its process \d+ is gone$/);
  });

  it('takes over a lock with an old beat from another pid namespace of this kernel', async () => {
    writeLock(dataDir, { bootId: ownIdentity().bootId, pidNamespace: 'pid:[1]', beatAt: Date.now() - 60_000 });
    const { lines, logger } = recordingLogger();
    await acquire(logger);
    const reason = String(lines.find((l) => l.level === 'warn')?.reason);
    expect(reason).toMatch(/^no heartbeat for \d+\.\d s$/);
    expect(Number(/[\d.]+/.exec(reason)![0])).toBeGreaterThanOrEqual(60);
  });

  it('takes over a lock from another host only after watching it unchanged for the stale time', async () => {
    // Another host's clock cannot be compared with ours: an old beatAt alone proves nothing.
    writeLock(dataDir, { host: 'elsewhere', bootId: 'another-boot', pidNamespace: 'pid:[1]', beatAt: Date.now() });
    const { lines, logger } = recordingLogger();
    await acquire(logger);
    const reason = String(lines.find((l) => l.level === 'warn')?.reason);
    expect(reason).toMatch(/^its lock file did not change for \d+\.\d s$/);
    expect(Number(/[\d.]+/.exec(reason)![0]) * 1000).toBeGreaterThanOrEqual(STALE_AFTER_MS);
  });

  it('two opens at once in one process: one wins, the other is told this process has it', async () => {
    const before = [
      () => undefined, // no lock yet
      () => writeLock(dataDir, { ...ownIdentity(), pid: deadPid() }), // a stale lock, taken over at once
      () => writeLock(dataDir, { bootId: ownIdentity().bootId, pidNamespace: 'pid:[1]' }), // one that is watched
    ];
    for (const setUp of before) {
      setUp();
      const results = await Promise.allSettled([acquire(), acquire()]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const { reason } = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(reason).toBeInstanceOf(DataDirLockedError);
      expect((reason as Error).message).toContain(`is in use by process ${process.pid} (this process)`);
      for (const release of releases.splice(0)) release();
    }
  });

  it('two processes racing for a stale lock: exactly one wins, the other names it', async () => {
    const stale = [
      () => writeLock(dataDir, { ...ownIdentity(), pid: deadPid() }), // dead at once
      () => writeLock(dataDir, { bootId: ownIdentity().bootId, pidNamespace: 'pid:[1]' }), // old beat
    ];
    for (let round = 0; round < 4; round++) {
      stale[round % 2]!();
      const racers = [holder({ namespaced: false, wait: true }), holder({ namespaced: false, wait: true })];
      for (const r of racers) r.send('go');
      const outcomes = await Promise.all(racers.map((r) => r.waitForAny(['acquired', 'refused'])));
      const winners = outcomes.filter((o) => o.event === 'acquired');
      expect({ round, winners: winners.length }).toEqual({ round, winners: 1 });
      const loser = outcomes.find((o) => o.event === 'refused')!;
      expect(loser).toMatchObject({ name: 'DataDirLockedError', holderPid: winners[0]!.pid });
      const winner = racers[outcomes.indexOf(winners[0]!)]!;
      winner.send('release');
      expect(await winner.exited).toBe(0);
      for (const h of holders.splice(0)) {
        h.kill();
        await h.exited;
      }
    }
  });
});
