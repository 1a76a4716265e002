import type { Logger } from 'pino';
import { isRequestId, requestLogFields, type Claim, type Lease } from '../../domain/request';
import { toRequestRow, type Raw } from '../mapping';
import * as sql from '../sql/leases';
import { fenceValues, type SqlRunner } from './SqlRunner';

/**
 * Claims (one worker per request: `FOR UPDATE SKIP LOCKED`, fence + 1 on every claim), lease renewal and release.
 * services/LeaseManager is the one user in the bot: it holds, renews and gives back this process's leases.
 */
export class LeaseRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  private toClaim(raw: Raw, owner: string, logTakeover: boolean): Claim {
    const row = toRequestRow(raw);
    const previousOwner = (raw.previous_lease_owner ?? null) as string | null;
    const takeover = logTakeover && previousOwner !== null;
    if (logTakeover) {
      this.logger[takeover ? 'info' : 'debug'](
        { ...requestLogFields(row), owner, previous_owner: previousOwner, takeover },
        takeover ? 'request taken over: its lease ran out or its instance stopped beating' : 'request claimed',
      );
    }
    return {
      row,
      lease: { requestId: row.id, fence: row.fence, owner },
      takeover,
      previousOwner: takeover ? previousOwner : null,
    };
  }

  /**
   * Claims the oldest claimable row (pending/generating, or announcement due) whose lease is empty or run out,
   * skipping rows other transactions hold; increments its fence. null = nothing to claim.
   */
  public async claimNext(
    owner: string,
    leaseMs: number,
    opts: { guildId?: string; excludeIds?: string[] } = {},
  ): Promise<Claim | null> {
    const raw = await this.sql.first(sql.claim, {
      owner,
      leaseMs: Math.round(leaseMs),
      guildId: opts.guildId ?? null,
      requestId: null,
      excludeIds: opts.excludeIds ?? [],
    });
    return raw ? this.toClaim(raw, owner, true) : null;
  }

  /** Claims one given row on the same terms as claimNext (null: not claimable, leased, or not in `guildId`). */
  public async claimById(id: string, owner: string, leaseMs: number, guildId?: string): Promise<Claim | null> {
    if (!isRequestId(id)) return null;
    const raw = await this.sql.first(sql.claim, {
      owner,
      leaseMs: Math.round(leaseMs),
      guildId: guildId ?? null,
      requestId: id,
      excludeIds: [],
    });
    return raw ? this.toClaim(raw, owner, true) : null;
  }

  /**
   * Claims a timed-out request whose paid Veo operation may still have finished (checked at most every
   * `minIntervalMs`, for `windowHours` after creation). null = none due.
   */
  public async claimLateDelivery(
    owner: string,
    leaseMs: number,
    opts: { windowHours: number; minIntervalMs: number },
  ): Promise<Claim | null> {
    const raw = await this.sql.first(sql.claimLateDelivery, {
      owner,
      leaseMs: Math.round(leaseMs),
      windowHours: opts.windowHours,
      minIntervalMs: Math.round(opts.minIntervalMs),
    });
    return raw ? this.toClaim(raw, owner, false) : null;
  }

  /** Extends the leases `owner` holds on claimable rows (only those of `onlyIds` when given); returns how many. */
  public async renewLeases(owner: string, leaseMs: number, onlyIds?: string[]): Promise<number> {
    const raws = await this.sql.rows(sql.renewLeases, { owner, leaseMs: Math.round(leaseMs), ids: onlyIds ?? null });
    return raws.length;
  }

  /**
   * Gives a lease back (fenced), so any instance may claim the row at once. Returns false, rather than throwing,
   * when the lease was no longer held (someone else claimed the row, or an admin expired it): there is nothing to
   * give back then.
   */
  public async releaseLease(lease: Lease): Promise<boolean> {
    const raws = await this.sql.rows(sql.releaseLease, fenceValues(lease));
    if (raws.length === 0) {
      this.logger.debug({ request_id: lease.requestId, fence: lease.fence }, 'lease release skipped: no longer held');
    }
    return raws.length > 0;
  }
}
