import type { Logger } from 'pino';
import { num, type Raw } from '../mapping';
import * as sql from '../sql/instances';
import type { SqlRunner } from './SqlRunner';

/** An instance's row as another process sees it. */
export interface InstanceRecord {
  instanceId: string;
  incarnation: string;
  lastBeatAt: Date;
  beatIntervalMs: number;
  deadAfterMs: number;
  stopped: boolean;
  dead: boolean;
  /** how long since its last beat, by the database clock */
  quietMs: number;
}

export interface InstanceListing {
  instanceId: string;
  shards: number[];
  startedAt: Date;
  lastBeatAt: Date;
  dead: boolean;
}

export type Registration = sql.InstanceRegistration;

const shardList = (v: unknown): number[] => (Array.isArray(v) ? v.map(num) : []);

/** bot_instances: registration, beats, clean stops and the list `/resume status` shows. */
export class InstanceRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  public async find(instanceId: string): Promise<InstanceRecord | null> {
    const raw = await this.sql.first(sql.getInstance, { instanceId });
    if (!raw) return null;
    return {
      instanceId: String(raw.instance_id),
      incarnation: String(raw.incarnation),
      lastBeatAt: new Date(raw.last_beat_at as string),
      beatIntervalMs: num(raw.beat_interval_ms),
      deadAfterMs: num(raw.dead_after_ms),
      stopped: raw.stopped === true,
      dead: raw.dead === true,
      quietMs: num(raw.quiet_ms),
    };
  }

  /**
   * Records the incarnation and, in the same transaction, frees every lease and server run held under the id (the
   * work of the incarnation it replaces). Returns how many request leases were freed, or null when the row was not
   * recorded (someone else holds the id, or the previous incarnation beat meanwhile).
   */
  public async register(r: Registration): Promise<{ freed: number } | null> {
    return this.sql.transaction(async (manager) => {
      const row = await this.sql.first(sql.registerInstance, r, manager);
      if (!row) return null;
      const freed = await this.sql.rows(sql.freeLeasesOf, { instanceId: r.instanceId }, manager);
      await this.sql.rows(sql.endAdminRunsOf, { instanceId: r.instanceId }, manager);
      if (r.exclusive) await this.sql.rows(sql.stopOtherInstances, { instanceId: r.instanceId }, manager);
      return { freed: freed.length };
    });
  }

  /** One beat; false when the row is not this incarnation's any more (or is gone). */
  public async beat(instanceId: string, incarnation: string, shards: number[]): Promise<boolean> {
    return (await this.sql.rows(sql.beat, { instanceId, incarnation, shards })).length > 0;
  }

  public async markStopped(instanceId: string, incarnation: string): Promise<boolean> {
    return (await this.sql.rows(sql.markStopped, { instanceId, incarnation })).length > 0;
  }

  public async list(): Promise<InstanceListing[]> {
    const raws = await this.sql.rows(sql.listInstances, {});
    return raws.map((raw: Raw) => ({
      instanceId: String(raw.instance_id),
      shards: shardList(raw.shards),
      startedAt: new Date(raw.started_at as string),
      lastBeatAt: new Date(raw.last_beat_at as string),
      dead: raw.dead === true,
    }));
  }

  public async prune(keep: string): Promise<number> {
    const gone = await this.sql.rows(sql.pruneInstances, { instanceId: keep });
    if (gone.length > 0) this.logger.info({ instances: gone.map((g) => g.instance_id) }, 'forgot long-dead instances');
    return gone.length;
  }

  /** Whether work another owner held is claimable now (its holder stopped beating, or its lease ran out). */
  public async takeoverWaiting(owner: string): Promise<boolean> {
    const raw = await this.sql.first(sql.takeoverWaiting, { owner });
    return raw?.waiting === true;
  }
}
