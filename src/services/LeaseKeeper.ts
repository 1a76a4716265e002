import type { Logger } from 'pino';
import type { RequestTrackingService } from './RequestTrackingService';

/**
 * Renews this instance's leases, a third of the lease time apart, so a live instance keeps its requests and a dead
 * one loses them within LEASE_DURATION_MS. With `drivenIds`, only the leases of requests a worker of this process is
 * still driving: a lease left behind by a worker that stopped on an error runs out, and a sweep picks it up again.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  public constructor(
    private readonly tracking: RequestTrackingService,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
    private readonly drivenIds?: () => string[],
  ) {}

  public start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renewNow(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  public async renewNow(): Promise<number> {
    if (this.renewing) return 0;
    this.renewing = true;
    try {
      if (!this.drivenIds) return await this.tracking.renewLeases(this.owner, this.leaseMs);
      const ids = this.drivenIds();
      return ids.length === 0 ? 0 : await this.tracking.renewLeases(this.owner, this.leaseMs, ids);
    } catch (error) {
      // A database outage: keep trying; fenced writes stop this instance if another took the work over meanwhile.
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
