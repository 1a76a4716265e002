/**
 * Instance heartbeats (issue #15) on real PostgreSQL and on the embedded engine: a process records itself and beats;
 * a lease whose holder stopped beating is free at once (the lease itself is 10 minutes long, so only the dead-owner
 * rule can explain a claim); a restart with the same INSTANCE_ID takes its work back under a new fence and the old
 * fence's writes are refused; a second live process with the same id is refused; beats outlive a database outage.
 */
import pino from 'pino';
import { openDatabase, type Database } from '../../src/db/dataSource';
import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { FencedWriteError } from '../../src/domain/errors';
import type { Lease } from '../../src/domain/request';
import { DuplicateInstanceError, InstanceHeartbeat } from '../../src/services/InstanceHeartbeat';
import { createTestDatabase, DATABASE_KINDS, silentLogger, type TestDatabase } from '../helpers/db';
import { TcpProxy } from '../helpers/tcpProxy';

jest.setTimeout(60_000);

const LONG_LEASE_MS = 10 * 60_000;
const DEAD_AFTER_MS = 1_000;

/** Resolves once `check` returns true (polled), or fails saying what it waited for. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(DATABASE_KINDS)('instance heartbeats on %s', (kind) => {
  let t: TestDatabase;
  let store: RequestStore;
  const heartbeats: InstanceHeartbeat[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    store = createRequestStore(t.database.dataSource, silentLogger());
  });
  afterAll(async () => {
    for (const h of heartbeats) h.stop();
    await t?.drop();
  });
  beforeEach(async () => {
    for (const h of heartbeats.splice(0)) h.stop();
    await t.database.dataSource.query('TRUNCATE video_requests CASCADE');
    await t.database.dataSource.query('DELETE FROM bot_instances');
  });

  function heartbeat(instanceId: string, extra: Partial<ConstructorParameters<typeof InstanceHeartbeat>[0]> = {}) {
    const h = new InstanceHeartbeat({
      instances: store.instances,
      instanceId,
      deadAfterMs: DEAD_AFTER_MS,
      shards: () => [0],
      logger: silentLogger(),
      ...extra,
    });
    heartbeats.push(h);
    return h;
  }

  /** A request leased by `owner` for ten minutes. */
  async function leasedBy(owner: string): Promise<Lease> {
    const { lease } = await store.requests.createRequest(
      { userId: 'u', guildId: 'g', channelId: 'c', prompt: 'p', aspectRatio: '16:9' },
      owner,
      LONG_LEASE_MS,
    );
    return lease;
  }

  it('records the instance with its shards and beats; /resume status sees it live, then not responding', async () => {
    const a = heartbeat('alpha', { shards: () => [0, 1] });
    await a.register();
    const [first] = await store.instances.list();
    expect(first).toMatchObject({ instanceId: 'alpha', shards: [0, 1], dead: false });
    await until(async () => {
      await a.beatNow();
      const [now] = await store.instances.list();
      return now!.lastBeatAt.getTime() > first!.lastBeatAt.getTime();
    }, 'a later beat');
    // It stops beating (killed): after INSTANCE_DEAD_AFTER_MS it is listed as not responding.
    a.stop();
    await until(async () => (await store.instances.list())[0]!.dead, 'alpha seen dead');
  });

  it('frees the leases of an instance that stopped beating at once, not those of a live one or of an unknown owner', async () => {
    const a = heartbeat('alpha');
    await a.register();
    a.start();
    const held = await leasedBy('alpha');
    const legacy = await leasedBy('older-bot-version'); // no instance row: waits for its own expiry
    const b = heartbeat('bravo');
    await b.register();
    b.start();

    expect(await store.leases.claimNext('bravo', LONG_LEASE_MS)).toBeNull();
    expect(await store.instances.takeoverWaiting('bravo')).toBe(false);

    a.stop(); // killed: no clean stop, no more beats
    await until(() => store.instances.takeoverWaiting('bravo'), 'alpha’s work seen claimable');
    const claim = await store.leases.claimNext('bravo', LONG_LEASE_MS);
    expect(claim).toMatchObject({ row: { id: held.requestId }, takeover: true, previousOwner: 'alpha' });
    expect(claim!.lease.fence).toBe(held.fence + 1);
    // alpha's fenced writes are refused from now on.
    await expect(store.requests.markFailed(held, 'late', 'bot', ['pending'])).rejects.toBeInstanceOf(FencedWriteError);
    // The request of a bot without heartbeats is still leased for its ten minutes.
    expect(await store.leases.claimNext('bravo', LONG_LEASE_MS)).toBeNull();
    expect((await store.requests.getById(legacy.requestId))!.leaseOwner).toBe('older-bot-version');
  });

  it('frees the leases left under a cleanly stopped instance at once', async () => {
    const a = heartbeat('alpha');
    await a.register();
    const held = await leasedBy('alpha');
    await a.markStopped();
    expect(await store.instances.list()).toEqual([]);
    expect(await store.leases.claimNext('bravo', LONG_LEASE_MS)).toMatchObject({ row: { id: held.requestId } });
  });

  it('a clean stop that gave its leases back makes the others claim at once (rolling restart), not at their next sweep', async () => {
    const a = heartbeat('alpha');
    const b = heartbeat('bravo');
    await a.register();
    await b.register();
    const handedBack = await leasedBy('alpha');
    // A live instance's request deferred to a later sweep (lease given back, no owner) does not call for a claim.
    const deferred = await leasedBy('bravo');
    await store.leases.releaseLease(deferred);
    expect(await store.instances.takeoverWaiting('bravo')).toBe(false);

    // alpha shuts down gracefully: it gives its lease back, then marks itself stopped.
    await store.leases.releaseLease(handedBack);
    await a.markStopped();
    expect(await store.instances.takeoverWaiting('bravo')).toBe(true);
    const claim = await store.leases.claimNext('bravo', LONG_LEASE_MS);
    expect(claim).toMatchObject({ row: { id: handedBack.requestId } });
  });

  it('a restart with the same INSTANCE_ID takes its work back under a new fence; the old fence is refused', async () => {
    const before = heartbeat('veobot-0');
    await before.register();
    before.start();
    const held = await leasedBy('veobot-0');
    before.stop(); // kill -9: the row stays, beating stops

    const after = heartbeat('veobot-0');
    const registered = await after.register(); // waits for two missed beats at most
    expect(registered).toEqual({ freed: 1, replaced: true });
    expect(after.incarnation).not.toBe(before.incarnation);
    const claim = await store.leases.claimNext('veobot-0', LONG_LEASE_MS);
    expect(claim).toMatchObject({ row: { id: held.requestId } });
    expect(claim!.lease.fence).toBe(held.fence + 1);
    // The old incarnation's lease (same owner name, old fence) can change nothing.
    await expect(store.requests.markFailed(held, 'stale', 'bot', ['pending'])).rejects.toBeInstanceOf(FencedWriteError);
    expect(await store.leases.releaseLease(held)).toBe(false);
    await store.requests.markFailed(claim!.lease, 'done by the new one', 'bot', ['pending']);

    // The old process was only stalled: at its next beat it finds its id taken and stops itself.
    const replaced = jest.fn();
    const stalled = new InstanceHeartbeat({
      instances: store.instances,
      instanceId: 'veobot-0',
      deadAfterMs: DEAD_AFTER_MS,
      shards: () => [0],
      logger: silentLogger(),
      onReplaced: replaced,
    });
    Object.defineProperty(stalled, 'incarnation', { value: before.incarnation });
    await stalled.beatNow();
    expect(replaced).toHaveBeenCalledTimes(1);
    expect((await store.instances.find('veobot-0'))!.incarnation).toBe(after.incarnation);
  });

  it('on the embedded database (one process, DATA_DIR lock) a restart replaces the previous incarnation without waiting', async () => {
    const before = heartbeat('embedded-bot');
    await before.register();
    const held = await leasedBy('embedded-bot');
    before.stop(); // it just beat: without `exclusive` the newcomer would wait for two missed beats
    const sleep = jest.fn(() => Promise.resolve());
    const after = heartbeat('embedded-bot', { exclusive: true, sleep });
    expect(await after.register()).toEqual({ freed: 1, replaced: true });
    expect(sleep).not.toHaveBeenCalled();
    expect(await store.leases.claimNext('embedded-bot', LONG_LEASE_MS)).toMatchObject({ row: { id: held.requestId } });
  });

  it('on the embedded database a start under a new INSTANCE_ID ends every other instance at once: their work is free, none is shown live', async () => {
    const killed = heartbeat('embedded-first-pid');
    await killed.register();
    const held = await leasedBy('embedded-first-pid');
    killed.stop(); // it just beat, and a new default id does not match it
    const next = heartbeat('embedded-second-pid', { exclusive: true });
    await next.register();
    expect((await store.instances.list()).map((i) => i.instanceId)).toEqual(['embedded-second-pid']);
    expect(await store.instances.takeoverWaiting('embedded-second-pid')).toBe(true);
    expect(await store.leases.claimNext('embedded-second-pid', LONG_LEASE_MS)).toMatchObject({
      row: { id: held.requestId },
      takeover: true,
      previousOwner: 'embedded-first-pid',
    });
  });

  it('refuses to start a second live process with the same INSTANCE_ID and leaves the first one its work', async () => {
    const live = heartbeat('veobot-1');
    await live.register();
    live.start();
    const held = await leasedBy('veobot-1');

    const duplicate = heartbeat('veobot-1');
    await expect(duplicate.register()).rejects.toBeInstanceOf(DuplicateInstanceError);

    expect((await store.instances.find('veobot-1'))!.incarnation).toBe(live.incarnation);
    expect(await store.requests.getById(held.requestId)).toMatchObject({ leaseOwner: 'veobot-1', fence: held.fence });
    expect(await store.leases.claimNext('someone-else', LONG_LEASE_MS)).toBeNull();
  });

  if (kind === 'postgres') {
    it('keeps beating through a database outage without throwing, and beats again once it is back', async () => {
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.url!).port || 5432) });
      let cut: Database | undefined;
      try {
        cut = await openDatabase({ ...t.settings, url: proxy.rewrite(t.url!) }, silentLogger());
        const lines: string[] = [];
        const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
        const h = new InstanceHeartbeat({
          instances: createRequestStore(cut.dataSource, silentLogger()).instances,
          instanceId: 'through-outage',
          deadAfterMs: DEAD_AFTER_MS,
          shards: () => [0],
          logger,
        });
        heartbeats.push(h);
        await h.register();
        const registeredAt = (await store.instances.find('through-outage'))!.lastBeatAt.getTime();
        proxy.cut();
        await expect(h.beatNow()).resolves.toBeUndefined();
        await expect(h.beatNow()).resolves.toBeUndefined();
        expect(lines.filter((l) => l.includes('could not record a heartbeat'))).toHaveLength(1);
        proxy.restore();
        await until(async () => {
          await h.beatNow();
          return (await store.instances.find('through-outage'))!.lastBeatAt.getTime() > registeredAt;
        }, 'a beat after the outage');
      } finally {
        await cut?.close().catch(() => undefined);
        await proxy.close();
      }
    });
  }
});
