import type { Logger } from 'pino';
import { freePermits, type QueueCapacity } from '../../domain/spend';
import type { Lease, RequestStatus, SubmitAttemptRow } from '../../domain/request';
import { num, toAttemptRow, type Raw } from '../mapping';
import { insertSubmitAttempt, returnPermit } from '../sql/attempts';
import * as sql from '../sql/queue';
import { fenceValues, type SqlRunner } from './SqlRunner';
import type { EntityManager } from 'typeorm';

/** The limits a permit must fit (the operator's settings). */
export interface PermitLimits {
  windowLimit: number;
  windowMs: number;
  /** 0 = no cap */
  maxInFlight: number;
}

/** Where one request stands (queuePositions). */
export interface QueueStanding {
  requestId: string;
  status: RequestStatus;
  fence: number;
  leaseOwner: string | null;
  /** null: not waiting for a permit (it has an attempt, or is not pending) */
  position: number | null;
  /** null unless a live instance holds it */
  grantPosition: number | null;
  length: number;
}

export interface QueueSnapshot {
  capacity: QueueCapacity;
  recentThrottles: number;
  standings: Map<string, QueueStanding>;
}

/** A request of this instance asking for a permit: the lease it holds and the output folder of its next attempt. */
export interface PermitRequest {
  lease: Lease;
  outputPrefix: string;
}

/** What a grant gave each request asked for: its attempt (the permit), 'wait', or 'lost' (its lease moved on). */
export type GrantResult = SubmitAttemptRow | 'wait' | 'lost';

function dateOrNull(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

/**
 * The submit queue in PostgreSQL (src/db/sql/queue.ts): where requests stand, what permits may use, and the grant —
 * the write-ahead attempt rows of the requests whose turn it is, inserted under the one lock every instance takes.
 */
export class QueueRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  private async capacity(
    limits: PermitLimits,
    manager?: EntityManager,
  ): Promise<{ c: QueueCapacity; throttles: number }> {
    const r = await this.sql.first(sql.queueCapacity, { windowMs: Math.round(limits.windowMs) }, manager);
    const next = r?.next_window_free_ms;
    return {
      c: {
        windowUsed: num(r?.window_used),
        windowLimit: limits.windowLimit,
        windowMs: limits.windowMs,
        nextWindowFreeMs: next === null || next === undefined ? null : num(next),
        inFlight: num(r?.in_flight),
        maxInFlight: limits.maxInFlight,
        gateMs: num(r?.gate_ms),
      },
      throttles: num(r?.recent_throttles),
    };
  }

  private async standings(ids: string[], manager?: EntityManager): Promise<Map<string, QueueStanding>> {
    const rows = await this.sql.rows(sql.queuePositions, { ids }, manager);
    return new Map(rows.map((r: Raw) => [String(r.id), toStanding(r)]));
  }

  /** The capacity now and where each of `ids` stands, read without the lock (a look that grants uses `grant`). */
  public async snapshot(ids: string[], limits: PermitLimits): Promise<QueueSnapshot> {
    const { c, throttles } = await this.capacity(limits);
    return { capacity: c, recentThrottles: throttles, standings: await this.standings(ids) };
  }

  /**
   * One look of an instance, in one transaction under the lock every instance takes: the capacity and the order are
   * read, and each asked-for request whose grant position is within the free permits gets its attempt row (fenced on
   * its lease: a request that moved on gets 'lost'); the others 'wait'. A permit whose turn belongs to a request of
   * another instance (ahead in the order) is left to that instance. Returns what was read (before the grants) with
   * the results, so the caller tells its waiting requests where they stand without another read.
   */
  public async grant(
    asked: PermitRequest[],
    limits: PermitLimits,
  ): Promise<{ results: Map<string, GrantResult>; snapshot: QueueSnapshot }> {
    return this.sql.transaction(async (manager) => {
      await this.sql.rows(sql.lockPermits, {}, manager);
      const { c, throttles } = await this.capacity(limits, manager);
      const free = freePermits(c);
      const standings = await this.standings(
        asked.map((a) => a.lease.requestId),
        manager,
      );
      const results = new Map<string, GrantResult>();
      const ordered = [...asked].sort(
        (a, b) =>
          (standings.get(a.lease.requestId)?.grantPosition ?? Infinity) -
          (standings.get(b.lease.requestId)?.grantPosition ?? Infinity),
      );
      for (const ask of ordered) {
        const id = ask.lease.requestId;
        const s = standings.get(id);
        if (!s || s.grantPosition === null || s.grantPosition > free) {
          results.set(id, 'wait');
          continue;
        }
        const raw = await this.sql.first(
          insertSubmitAttempt,
          { ...fenceValues(ask.lease), outputPrefix: ask.outputPrefix },
          manager,
        );
        if (!raw) {
          results.set(id, 'lost');
          continue;
        }
        const attempt = toAttemptRow(raw);
        results.set(id, attempt);
        this.logger.info(
          {
            request_id: id,
            attempt: attempt.attempt,
            attempt_id: attempt.id,
            output_prefix: ask.outputPrefix,
            fence: ask.lease.fence,
            queue_position: s.position,
          },
          'submit permit granted; submit attempt recorded',
        );
      }
      return { results, snapshot: { capacity: c, recentThrottles: throttles, standings } };
    });
  }

  /** Gives back a permit whose request stopped waiting before it was used: its attempt was never sent to Veo. */
  public async returnPermit(attempt: SubmitAttemptRow): Promise<void> {
    await this.sql.rows(returnPermit, {
      attemptId: attempt.id,
      error: 'permit given back: the request stopped waiting before its submit was sent',
    });
    this.logger.info({ request_id: attempt.requestId, attempt_id: attempt.id }, 'submit permit given back unused');
  }

  /** How many of one server's requests wait for a permit, and since when the oldest does. */
  public async guildStats(guildId: string): Promise<{ length: number; oldest: Date | null }> {
    const r = await this.sql.first(sql.guildQueueStats, { guildId });
    return { length: num(r?.length), oldest: dateOrNull(r?.oldest) };
  }

  /** How many requests of all servers wait for a permit, and since when the oldest does. */
  public async stats(): Promise<{ length: number; oldest: Date | null }> {
    const r = await this.sql.first(sql.queueStats, {});
    return { length: num(r?.length), oldest: dateOrNull(r?.oldest) };
  }
}

function toStanding(r: Raw): QueueStanding {
  const opt = (v: unknown) => (v === null || v === undefined ? null : num(v));
  return {
    requestId: String(r.id),
    status: r.status as RequestStatus,
    fence: num(r.fence),
    leaseOwner: (r.lease_owner ?? null) as string | null,
    position: opt(r.position),
    grantPosition: opt(r.grant_position),
    length: num(r.length),
  };
}
