import type { Logger } from 'pino';
import type { RequestTrackingService } from './RequestTrackingService';

/**
 * Renews every lease this instance holds, a third of the lease time apart, so a live instance keeps its requests
 * and a dead one loses them within LEASE_DURATION_MS.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  public constructor(
    private readonly tracking: RequestTrackingService,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
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
      return await this.tracking.renewLeases(this.owner, this.leaseMs);
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
