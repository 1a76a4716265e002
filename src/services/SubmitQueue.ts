import type { Logger } from 'pino';
import type { QueueRepository } from '../db/repositories';
import type { PermitLimits, QueueSnapshot } from '../db/repositories/QueueRepository';
import { FencedWriteError } from '../domain/errors';
import type { Lease, SubmitAttemptRow } from '../domain/request';
import { estimateQueueWait, type QueueInfo } from '../domain/spend';
import type { Config } from '../lib/config';
import type { Metrics } from '../lib/metrics';

/** Longest pause between two looks at the queue while requests of this instance wait. */
const MAX_TICK_MS = 1_000;
/** Shortest pause: a busy queue is looked at no more often than this. */
const MIN_TICK_MS = 25;
/** After a database error, the next look waits this long. */
const ERROR_TICK_MS = 1_000;

export interface SubmitQueueDeps {
  queue: QueueRepository;
  config: Pick<Config, 'spend'>;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

/** A request of this process waiting for a permit. */
interface Waiter {
  lease: Lease;
  outputPrefix: string;
  enqueuedAt: number;
  onWait?: (info: QueueInfo) => void;
  last?: string;
  settle(result: SubmitAttemptRow | null, error?: Error): void;
}

export interface PermitAsk {
  lease: Lease;
  /** the output folder of the attempt the permit creates */
  outputPrefix: string;
  signal?: AbortSignal;
  /** told where the request stands whenever that changes (not called when a permit comes at once) */
  onWait?: (info: QueueInfo) => void;
}

/**
 * This process's side of the submit queue (issue #13, src/db/sql/queue.ts). A pending request asks for a permit
 * before each Veo submit; the permit is its write-ahead attempt row, granted under the lock every instance takes, when
 * its turn has come and VEO_SUBMITS_PER_MINUTE, VEO_MAX_IN_FLIGHT and Google's last retry delay leave room.
 *
 * However many requests wait here, one loop looks at the queue: one transaction per look for all of them, which
 * grants the permits whose turn it is and reads where the others stand. The look comes when a request starts to
 * wait, when one of this process's operations ends, and otherwise when the capacity will next free (the oldest submit
 * leaving the window, the retry delay running out), at most a second apart, so another instance's finished work is
 * noticed too. Nothing is held in memory that a crash could lose: a waiting request is a pending row, and a restarted
 * or other instance puts it back in line in its place.
 */
export class SubmitQueue {
  private readonly waiters = new Map<string, Waiter>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  private again = false;
  private stopped = false;

  public constructor(private readonly deps: SubmitQueueDeps) {
    this.now = deps.now ?? Date.now;
  }

  private get limits(): PermitLimits {
    const { spend } = this.deps.config;
    return { windowLimit: spend.submitsPerMinute, windowMs: spend.submitWindowMs, maxInFlight: spend.maxInFlight };
  }

  /** Requests of this process waiting now. */
  public get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Waits for this request's permit: resolves with its attempt (recorded, `submitting`), or null when the request no
   * longer waits for one (the signal was aborted, or it has an attempt already: look at its attempts again). Rejects
   * with FencedWriteError when another instance or an admin took the request meanwhile.
   */
  public acquire(ask: PermitAsk): Promise<SubmitAttemptRow | null> {
    const id = ask.lease.requestId;
    if (this.stopped || ask.signal?.aborted) return Promise.resolve(null);
    if (this.waiters.has(id)) return Promise.reject(new Error(`request ${id} already waits for a permit`));
    return new Promise((resolve, reject) => {
      const onAbort = () => waiter.settle(null);
      const waiter: Waiter = {
        lease: ask.lease,
        outputPrefix: ask.outputPrefix,
        enqueuedAt: this.now(),
        onWait: ask.onWait,
        settle: (result, error) => {
          if (this.waiters.get(id) !== waiter) return;
          this.waiters.delete(id);
          ask.signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(result);
        },
      };
      this.waiters.set(id, waiter);
      ask.signal?.addEventListener('abort', onAbort, { once: true });
      this.kick();
    });
  }

  /** Look at the queue now (a request started waiting, or an operation of this process ended). */
  public kick(): void {
    if (this.stopped) return;
    if (this.looking) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /** Stops looking; waiting requests get null (their drive stops at its next safe point). */
  public stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of [...this.waiters.values()]) waiter.settle(null);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.look();
    }, ms);
    // A waiting request is driven by a promise its own worker holds; the look itself never keeps a process alive.
    this.timer.unref();
  }

  private async look(): Promise<void> {
    if (this.looking || this.stopped) return;
    if (this.waiters.size === 0) return;
    this.looking = true;
    this.again = false;
    let next: number;
    try {
      next = await this.lookOnce();
    } catch (error) {
      // A database outage: the requests keep waiting (their rows and leases are in PostgreSQL), and the loop goes on.
      this.deps.logger.warn({ err: error, waiting: this.waiters.size }, 'could not look at the submit queue; retrying');
      next = ERROR_TICK_MS;
    } finally {
      this.looking = false;
    }
    if (this.stopped || this.waiters.size === 0) return;
    this.schedule(this.again ? 0 : next);
  }

  /**
   * One look, one transaction: permits for this process's requests whose turn it is, and where the others stand;
   * returns the next pause.
   */
  private async lookOnce(): Promise<number> {
    const waiting = [...this.waiters.values()];
    const { results, snapshot } = await this.deps.queue.grant(
      waiting.map((w) => ({ lease: w.lease, outputPrefix: w.outputPrefix })),
      this.limits,
    );
    let granted = 0;
    for (const waiter of waiting) {
      const { lease } = waiter;
      const id = lease.requestId;
      const result = results.get(id);
      if (result && typeof result === 'object') {
        granted++;
        if (this.waiters.get(id) !== waiter) {
          // It stopped waiting (shutdown) while the grant was written: the attempt is known never to have been sent,
          // so it is given back rather than left to look like a submit cut off mid-way.
          await this.deps.queue
            .returnPermit(result)
            .catch((error: unknown) =>
              this.deps.logger.warn({ err: error, request_id: id }, 'could not give an unused permit back'),
            );
          continue;
        }
        this.deps.metrics.submitQueueWait.observe((this.now() - waiter.enqueuedAt) / 1000);
        waiter.settle(result);
        continue;
      }
      const s = snapshot.standings.get(id);
      if (
        result === 'lost' ||
        !s ||
        s.fence !== lease.fence ||
        s.leaseOwner !== lease.owner ||
        s.status !== 'pending'
      ) {
        waiter.settle(
          null,
          new FencedWriteError(
            id,
            'acquireSubmitPermit',
            { states: ['pending'], fence: lease.fence, owner: lease.owner },
            s ? { status: s.status, fence: s.fence, leaseOwner: s.leaseOwner, announcement: null } : null,
          ),
        );
        continue;
      }
      // Not in line: an attempt of it exists already (a grant whose answer was lost); its attempts say what next.
      if (s.position === null) waiter.settle(null);
    }
    // Permits were taken: look again at once for whoever is next.
    if (granted > 0) this.again = true;
    this.tell(snapshot);
    return this.nextPause(snapshot);
  }

  /** Tells each waiting request where it stands, when that changed. */
  private tell(snapshot: QueueSnapshot): void {
    const length = Math.max(0, ...[...snapshot.standings.values()].map((s) => s.length));
    for (const [id, waiter] of this.waiters) {
      const position = snapshot.standings.get(id)?.position;
      if (position === null || position === undefined || !waiter.onWait) continue;
      const info: QueueInfo = { position, length, etaMs: estimateQueueWait(position, snapshot.capacity) };
      const key = `${info.position}/${Math.round(info.etaMs / 30_000)}`;
      if (key === waiter.last) continue;
      waiter.last = key;
      try {
        waiter.onWait(info);
      } catch (error) {
        this.deps.logger.debug({ err: error, request_id: id }, 'queue position observer failed');
      }
    }
  }

  /** Until the capacity may next free: the retry delay's end, the oldest submit leaving the window, or a second. */
  private nextPause(snapshot: QueueSnapshot): number {
    const c = snapshot.capacity;
    let ms = MAX_TICK_MS;
    if (c.gateMs > 0) ms = c.gateMs;
    else if (c.windowUsed >= c.windowLimit && c.nextWindowFreeMs !== null) ms = c.nextWindowFreeMs;
    return Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.ceil(ms)));
  }
}
