import type { Logger } from 'pino';
import type { Claim, Lease } from '../domain/request';
import type { LeaseRepository } from '../db/repositories';

/**
 * Every lease this process has, in one place: it claims requests, holds the ones a worker of this process is driving,
 * renews those (a third of the lease time apart, so a live process keeps its requests and a dead one loses them
 * within LEASE_DURATION_MS), and gives leases back.
 *
 * Only driven requests are renewed: a lease left behind by a worker that stopped on an error (its release failing
 * too, as in a database outage) must run out, so that a sweep can pick the request up again. A request this process
 * still drives is never claimed by it a second time.
 */
export class LeaseManager {
  /** Requests being driven, with how many workers drive each (after a takeover within this process, a stale and a current worker may briefly overlap). */
  private readonly driving = new Map<string, { workers: number; lease: Lease }>();
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  public constructor(
    private readonly leases: LeaseRepository,
    public readonly owner: string,
    public readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** Claims the oldest claimable request (in one guild if given) that this process is not already driving. */
  public claimNext(opts: { guildId?: string } = {}): Promise<Claim | null> {
    return this.leases.claimNext(this.owner, this.leaseMs, { guildId: opts.guildId, excludeIds: this.drivingIds() });
  }

  /** Claims one given request (null: not claimable now, or not in `guildId`). */
  public claimById(id: string, guildId?: string): Promise<Claim | null> {
    return this.leases.claimById(id, this.owner, this.leaseMs, guildId);
  }

  /** Claims a timed-out request whose paid operation may have finished since (late delivery). */
  public claimLateDelivery(opts: { windowHours: number; minIntervalMs: number }): Promise<Claim | null> {
    return this.leases.claimLateDelivery(this.owner, this.leaseMs, opts);
  }

  /** Marks a request as driven by a worker of this process until the returned function is called. */
  public hold(lease: Lease): () => void {
    const id = lease.requestId;
    const held = this.driving.get(id);
    // The newest claim's lease is the one worth giving back (an older one was fenced off by it).
    this.driving.set(id, {
      workers: (held?.workers ?? 0) + 1,
      lease: held && held.lease.fence > lease.fence ? held.lease : lease,
    });
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const now = this.driving.get(id);
      if (!now) return;
      if (now.workers > 1) now.workers--;
      else this.driving.delete(id);
    };
  }

  public drivingIds(): string[] {
    return [...this.driving.keys()];
  }

  /**
   * Gives a lease back so any instance may claim the request at once. Never throws: a lease that is no longer held
   * (someone else claimed the row) or a database that does not answer leaves the lease to run out.
   */
  public async release(lease: Lease): Promise<boolean> {
    return this.leases.releaseLease(lease).catch((error: unknown) => {
      this.logger.debug({ err: error, request_id: lease.requestId }, 'could not give a lease back; it will run out');
      return false;
    });
  }

  /**
   * Gives back every lease this process is driving (the shutdown deadline: workers that did not reach a safe point in
   * time). Another instance continues them at once; the worker's later writes are refused by the fence.
   */
  public async releaseAll(): Promise<number> {
    const leases = [...this.driving.values()].map((d) => d.lease);
    const released = await Promise.all(leases.map((lease) => this.release(lease)));
    return released.filter(Boolean).length;
  }

  public start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renewNow(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Renews the leases of the requests this process drives; returns how many were renewed. */
  public async renewNow(): Promise<number> {
    if (this.renewing) return 0;
    this.renewing = true;
    try {
      const ids = this.drivingIds();
      return ids.length === 0 ? 0 : await this.leases.renewLeases(this.owner, this.leaseMs, ids);
    } catch (error) {
      // A database outage: keep trying; fenced writes stop this process if another took the work over meanwhile.
      this.logger.warn({ err: error }, 'could not renew leases');
      return 0;
    } finally {
      this.renewing = false;
    }
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
