import { randomUUID } from 'node:crypto';
import * as sql from '../sql/adminRuns';
import type { SqlRunner } from './SqlRunner';

export interface HeldAdminRun {
  token: string;
}

/** The one `/resume run` of a server at a time, across instances (admin_runs). */
export class AdminRunRepository {
  public constructor(private readonly sql: SqlRunner) {}

  /** The run, or who holds it (and since when) when another live run does. */
  public async take(
    guildId: string,
    adminId: string,
    owner: string,
    leaseMs: number,
  ): Promise<{ held: HeldAdminRun } | { busy: { adminId: string; startedAt: Date } }> {
    const token = randomUUID();
    const taken = await this.sql.first(sql.takeAdminRun, {
      guildId,
      adminId,
      owner,
      token,
      leaseMs: Math.round(leaseMs),
    });
    if (taken) return { held: { token } };
    const current = await this.sql.first(sql.currentAdminRun, { guildId });
    // Gone between the two statements (it ended meanwhile): try once more.
    if (!current) return this.take(guildId, adminId, owner, leaseMs);
    return { busy: { adminId: String(current.admin_id), startedAt: new Date(String(current.started_at)) } };
  }

  public async renew(guildId: string, run: HeldAdminRun, leaseMs: number): Promise<boolean> {
    return (
      (await this.sql.rows(sql.renewAdminRun, { guildId, token: run.token, leaseMs: Math.round(leaseMs) })).length > 0
    );
  }

  public async end(guildId: string, run: HeldAdminRun): Promise<void> {
    await this.sql.rows(sql.endAdminRun, { guildId, token: run.token });
  }
}
