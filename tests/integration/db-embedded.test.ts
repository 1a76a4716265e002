import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDataDirLock } from '../../src/db/dataDirLock';
import { DataDirLockedError, LOCK_FILE_NAME, openDatabase, type Database } from '../../src/db/dataSource';
import { migrations } from '../../src/db/migrations';
import { createRequestStore } from '../../src/db/repositories';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';

/** A live process that is not us (stands for a second bot holding the DATA_DIR). */
function startSleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}
/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('embedded database (PGlite) DATA_DIR', () => {
  let t: TestDatabase;
  let reopened: Database | undefined;
  let sleeper: ChildProcess | undefined;

  beforeAll(async () => {
    t = await createTestDatabase('embedded');
  });
  afterAll(async () => {
    sleeper?.kill('SIGKILL');
    await reopened?.close();
    await t?.drop();
  });

  const lockFile = () => join(t.dataDir!, LOCK_FILE_NAME);
  /** The pid in the lock file (a heartbeat lock's holder, or an earlier version's bare pid). */
  const lockPid = () => {
    const lock = readDataDirLock(t.dataDir!);
    return lock?.holder?.pid ?? lock?.legacyPid;
  };

  it('holds a lock file with our pid while open', () => {
    expect(t.database.mode).toBe('embedded');
    expect(lockPid()).toBe(process.pid);
    expect(existsSync(join(t.dataDir!, 'pglite', 'PG_VERSION'))).toBe(true);
  });

  it('a second open of the same DATA_DIR in this process gets DataDirLockedError, and the first keeps working', async () => {
    const err = await openDatabase(t.settings, silentLogger()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err).toMatchObject({ dataDir: t.dataDir, pid: process.pid });
    expect((err as Error).message).toContain(t.dataDir!);
    expect((err as Error).message).toContain(String(process.pid));
    expect(await t.database.dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(lockPid()).toBe(process.pid);
  });

  it('keeps its data across close and reopen, and releases the lock on close', async () => {
    const tracking = createRequestStore(t.database.dataSource, silentLogger());
    const { row, lease } = await tracking.requests.createRequest(
      { userId: 'u', guildId: 'g', channelId: 'c', prompt: 'persist me', aspectRatio: '9:16', seed: 7 },
      'me',
      60_000,
    );
    await tracking.attempts.recordSubmitAttempt(lease, 'gs://b/1/');
    await t.database.close();
    await t.database.close(); // idempotent
    expect(existsSync(lockFile())).toBe(false);

    reopened = await openDatabase(t.settings, silentLogger());
    const again = createRequestStore(reopened.dataSource, silentLogger());
    expect(await again.requests.getById(row.id)).toMatchObject({
      prompt: 'persist me',
      seed: 7,
      fence: 1,
      submitAttempts: 1,
    });
    expect(await again.attempts.getAttempts(row.id)).toHaveLength(1);
    expect(await reopened.dataSource.query(`SELECT count(*)::int AS n FROM migrations`)).toEqual([
      { n: migrations.length },
    ]);
    await reopened.close();
    reopened = undefined;
  });

  it('refuses a DATA_DIR whose lock names another live process, and takes it over once that process is gone', async () => {
    sleeper = startSleeper();
    const pid = sleeper.pid!;
    writeFileSync(lockFile(), `${pid}\n`);
    const err = await openDatabase(t.settings, silentLogger()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err).toMatchObject({ pid, dataDir: t.dataDir });
    expect(readFileSync(lockFile(), 'utf8').trim()).toBe(String(pid)); // untouched

    const exited = new Promise((resolve) => sleeper!.once('exit', resolve));
    sleeper.kill('SIGKILL');
    await exited;
    sleeper = undefined;
    reopened = await openDatabase(t.settings, silentLogger());
    expect(lockPid()).toBe(process.pid);
    await reopened.close();
    reopened = undefined;
  });

  it('takes over a stale lock: a dead pid, or our own pid left by an earlier process (pid reuse)', async () => {
    for (const stale of [deadPid(), process.pid]) {
      writeFileSync(lockFile(), `${stale}\n`);
      reopened = await openDatabase(t.settings, silentLogger());
      expect(lockPid()).toBe(process.pid);
      await reopened.close();
      reopened = undefined;
      expect(existsSync(lockFile())).toBe(false);
    }
  });
});
