import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { InstanceRepository } from '../db/repositories';
import type { InstanceRecord } from '../db/repositories/InstanceRepository';

/** Another live process already runs under this INSTANCE_ID: this one must not start (it would take its work). */
export class DuplicateInstanceError extends Error {
  public constructor(public readonly instanceId: string) {
    super(
      `another live process is running with INSTANCE_ID=${instanceId} (it is still beating). Give every process ` +
        'its own INSTANCE_ID (e.g. the StatefulSet pod name), or leave INSTANCE_ID unset for a unique one.',
    );
    this.name = 'DuplicateInstanceError';
  }
}

export interface InstanceHeartbeatDeps {
  instances: InstanceRepository;
  instanceId: string;
  deadAfterMs: number;
  /** the only process that can use this database (embedded, under its DATA_DIR lock): a previous row is replaced at once */
  exclusive?: boolean;
  /** this process's Discord shards (read at every beat: they are known only once the gateway is up) */
  shards: () => number[];
  logger: Logger;
  /** another instance's work is claimable now (its holder stopped beating): claim it into free capacity */
  onTakeoverWaiting?: () => void;
  /** a newer process took over this INSTANCE_ID (this one was believed dead): this process must stop */
  onReplaced?: () => void;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Records this process in bot_instances and beats every fifth of INSTANCE_DEAD_AFTER_MS (issue #15). Any instance
 * treats a lease whose holder has not beaten for INSTANCE_DEAD_AFTER_MS as free (src/db/sql/tables.ts `leaseFree`),
 * so the work of a killed process moves in seconds instead of waiting for LEASE_DURATION_MS.
 *
 * Same INSTANCE_ID: a restarted process replaces its dead incarnation and frees its leases at once (its own startup
 * sweep claims them back, each with a new fence). A row that is still beating belongs to a live process with the same
 * id (a misconfiguration): `register` waits up to two of its beats to tell that from a process that was just killed,
 * and refuses to start when it beats (DuplicateInstanceError). The older process, if it was only stalled and finds
 * its id taken at its next beat, stops itself (`onReplaced`).
 *
 * Each beat also looks for claimable work whose holder stopped beating and asks for a claim round then, instead of
 * waiting for the next sweep. A database outage only delays beats: they are retried on the next tick.
 */
export class InstanceHeartbeat {
  public readonly incarnation = randomUUID();
  public readonly beatIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private failing = false;
  private stopped = false;
  private readonly sleep: (ms: number) => Promise<void>;

  public constructor(private readonly deps: InstanceHeartbeatDeps) {
    this.beatIntervalMs = Math.max(200, Math.floor(deps.deadAfterMs / 5));
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
  }

  /**
   * Records this process under its INSTANCE_ID. A previous incarnation that stopped or is dead is replaced and its
   * leases freed; one that beat recently is watched for up to two of its beat intervals; a live one makes this throw.
   */
  public async register(): Promise<{ freed: number; replaced: boolean }> {
    const { instances, instanceId, logger } = this.deps;
    for (;;) {
      const seen = await instances.find(instanceId);
      const recorded = await instances.register({
        instanceId,
        incarnation: this.incarnation,
        previous: seen?.incarnation ?? null,
        exclusive: this.deps.exclusive ?? false,
        shards: this.deps.shards(),
        beatIntervalMs: this.beatIntervalMs,
        deadAfterMs: this.deps.deadAfterMs,
      });
      if (recorded) {
        logger.info(
          {
            event: 'instance_registered',
            instance: instanceId,
            instance_label: instanceLabel(instanceId),
            replaced_incarnation: seen !== null,
            leases_freed: recorded.freed,
            beat_interval_ms: this.beatIntervalMs,
            dead_after_ms: this.deps.deadAfterMs,
          },
          seen
            ? 'took over INSTANCE_ID from its previous process; its requests are free to resume'
            : 'instance registered',
        );
        return { freed: recorded.freed, replaced: seen !== null };
      }
      const now = await instances.find(instanceId);
      if (!now || now.dead || now.stopped) continue; // gone or dead meanwhile: try again
      // A live process holds the id: a beat since we looked, or another newcomer that registered it first.
      if (!seen || now.incarnation !== seen.incarnation || now.lastBeatAt.getTime() !== seen.lastBeatAt.getTime()) {
        throw new DuplicateInstanceError(instanceId);
      }
      // It beat moments ago and not since: wait for its next beat (alive) or for two intervals without one (killed).
      logger.info(
        { event: 'instance_waiting', instance: instanceId, quiet_ms: Math.round(now.quietMs) },
        'a process with this INSTANCE_ID beat moments ago: waiting to see whether it is alive',
      );
      if ((await this.waitForBeatOrSilence(now)) === 'beat') throw new DuplicateInstanceError(instanceId);
    }
  }

  /** Polls the row until it beats again or has been quiet for two of its beats (or stopped, or changed hands). */
  private async waitForBeatOrSilence(seen: InstanceRecord): Promise<'beat' | 'silent'> {
    const step = Math.max(50, Math.min(250, Math.floor(seen.beatIntervalMs / 4)));
    for (;;) {
      await this.sleep(step);
      const row = await this.deps.instances.find(this.deps.instanceId);
      if (!row || row.incarnation !== seen.incarnation) return 'silent'; // register looks again
      if (row.lastBeatAt.getTime() !== seen.lastBeatAt.getTime()) return 'beat';
      if (row.stopped || row.dead || row.quietMs > Math.min(row.deadAfterMs, 2 * row.beatIntervalMs)) return 'silent';
    }
  }

  public start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.beatNow(), this.beatIntervalMs);
    this.timer.unref();
  }

  /** One beat, then the takeover check and the pruning of long-dead rows. Never throws. */
  public async beatNow(): Promise<void> {
    if (this.beating || this.stopped) return;
    this.beating = true;
    const { instances, instanceId, logger } = this.deps;
    try {
      const alive = await instances.beat(instanceId, this.incarnation, this.deps.shards());
      if (this.failing) logger.info({ instance: instanceId }, 'heartbeat recorded again');
      this.failing = false;
      if (!alive) {
        await this.lostRow();
        return;
      }
      if (this.deps.onTakeoverWaiting && (await instances.takeoverWaiting(instanceId))) this.deps.onTakeoverWaiting();
      await instances.prune(instanceId);
    } catch (error) {
      // The database is away: other instances may take this one's work meanwhile (fenced); beat on.
      if (!this.failing) logger.warn({ err: error, instance: instanceId }, 'could not record a heartbeat; retrying');
      this.failing = true;
    } finally {
      this.beating = false;
    }
  }

  /** The beat found no row of this incarnation: pruned after a long outage (record it again), or taken over. */
  private async lostRow(): Promise<void> {
    const { instances, instanceId, logger } = this.deps;
    const row = await instances.find(instanceId);
    if (!row) {
      await instances.register({
        instanceId,
        incarnation: this.incarnation,
        previous: null,
        exclusive: false,
        shards: this.deps.shards(),
        beatIntervalMs: this.beatIntervalMs,
        deadAfterMs: this.deps.deadAfterMs,
      });
      return;
    }
    if (row.incarnation === this.incarnation) return; // stopped by our own stop() meanwhile
    this.stop();
    logger.error(
      { event: 'instance_replaced', instance: instanceId },
      'another process took over this INSTANCE_ID (this one was not beating); stopping this process',
    );
    this.deps.onReplaced?.();
  }

  /** Stops beating (the row is left as it is: markStopped is the clean end). */
  public stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A clean shutdown: stop beating and mark the row stopped, so any lease still under the id is free at once. */
  public async markStopped(): Promise<void> {
    this.stop();
    await this.deps.instances.markStopped(this.deps.instanceId, this.incarnation).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'could not mark this instance stopped; it will be seen dead soon');
    });
  }
}

/** The short name `/resume status` shows for an instance (see domain InstanceView): stable, and not the id. */
export function instanceLabel(instanceId: string): string {
  let h = 0x811c9dc5;
  for (const ch of instanceId) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0').slice(0, 6);
}
