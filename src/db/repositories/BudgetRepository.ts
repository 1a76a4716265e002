import type { EntityManager } from 'typeorm';
import { BudgetExceededError, QuotaExceededError } from '../../domain/errors';
import { QUOTA_WINDOW_MS, reservedSeconds } from '../../domain/policy';
import { guildLimits, type BudgetUse, type GuildLimits, type OperatorCaps } from '../../domain/spend';
import { toGuildSettingsRow, num } from '../mapping';
import * as budgets from '../sql/budgets';
import { countQuotaUsage, lockUserQuota } from '../sql/requests';
import { getGuildSettings } from '../sql/settings';
import type { SqlRunner } from './SqlRunner';

/** What a new request must fit: the user's quota, its server's budget and the bot's (policy.holdsReservation). */
export interface SpendCheck {
  userId: string;
  guildId: string;
  requestType: string;
  durationSeconds: number | null;
}

function dateOrNull(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

/**
 * The budgets and the member quota, read from the request rows of the rolling window (no counters of their own), and
 * the check a new row must pass, under the locks of its insert transaction.
 */
export class BudgetRepository {
  public constructor(private readonly sql: SqlRunner) {}

  /** The server's settings capped by the operator's (read inside `manager`'s transaction when given). */
  public async limitsFor(guildId: string, caps: OperatorCaps, manager?: EntityManager): Promise<GuildLimits> {
    const raw = await this.sql.first(getGuildSettings, { guildId }, manager);
    return guildLimits(caps, raw ? toGuildSettingsRow(raw) : null);
  }

  /** The server's video-seconds of the window `since`, and when `need` more would fit under `limit`. */
  public async guildUse(
    guildId: string,
    since: Date,
    limit: number | null,
    need: number,
    manager?: EntityManager,
  ): Promise<BudgetUse> {
    const used = num((await this.sql.first(budgets.guildBudgetUse, { guildId, since }, manager))?.used);
    const freesAt =
      limit !== null && used + need > limit
        ? dateOrNull(
            (
              await this.sql.first(
                budgets.guildBudgetFreesAt,
                { guildId, since, windowMs: QUOTA_WINDOW_MS, used, need, limit },
                manager,
              )
            )?.frees_at,
          )
        : null;
    return { used, limit, freesAt };
  }

  /** All servers' video-seconds of the window `since`, and when `need` more would fit under `limit`. */
  public async globalUse(since: Date, limit: number | null, need: number, manager?: EntityManager): Promise<BudgetUse> {
    const used = num((await this.sql.first(budgets.globalBudgetUse, { since }, manager))?.used);
    const freesAt =
      limit !== null && used + need > limit
        ? dateOrNull(
            (
              await this.sql.first(
                budgets.globalBudgetFreesAt,
                { since, windowMs: QUOTA_WINDOW_MS, used, need, limit },
                manager,
              )
            )?.frees_at,
          )
        : null;
    return { used, limit, freesAt };
  }

  /** The user's requests counting against the quota since `since`, and when their next slot frees under `limit`. */
  public async quotaUse(
    userId: string,
    since: Date,
    limit: number,
    requestType = 'veo',
    manager?: EntityManager,
  ): Promise<BudgetUse> {
    const row = await this.sql.first(countQuotaUsage, { userId, since, requestType }, manager);
    const used = num(row?.count);
    let freesAt: Date | null = null;
    if (used > 0 && limit > 0) {
      // The slot that frees first once the user is at (or over) the limit: the (used - limit)-th oldest.
      const offset = Math.max(0, used - limit);
      freesAt = dateOrNull(
        (
          await this.sql.first(
            budgets.quotaSlotFreesAt,
            { userId, since, requestType, offset, windowMs: QUOTA_WINDOW_MS },
            manager,
          )
        )?.frees_at,
      );
    }
    return { used, limit, freesAt };
  }

  /**
   * Inside the insert transaction: takes the global, server and user locks in that fixed order (no deadlock between
   * requests of different servers and users), then checks the bot's budget, the server's and the user's quota.
   * Throws BudgetExceededError or QuotaExceededError; returns the limits in force.
   */
  public async enforce(
    manager: EntityManager,
    check: SpendCheck,
    caps: OperatorCaps,
    since: Date,
  ): Promise<GuildLimits> {
    const need = reservedSeconds(check.durationSeconds);
    if (caps.globalDailySeconds > 0) await this.sql.rows(budgets.lockGlobalBudget, {}, manager);
    await this.sql.rows(budgets.lockGuildBudget, { guildId: check.guildId }, manager);
    await this.sql.rows(lockUserQuota, { userId: check.userId }, manager);
    const limits = await this.limitsFor(check.guildId, caps, manager);
    if (caps.globalDailySeconds > 0) {
      const use = await this.globalUse(since, caps.globalDailySeconds, need, manager);
      if (use.used + need > caps.globalDailySeconds)
        throw new BudgetExceededError('global', use.used, caps.globalDailySeconds, need, use.freesAt);
    }
    if (limits.dailyVideoSeconds !== null) {
      const use = await this.guildUse(check.guildId, since, limits.dailyVideoSeconds, need, manager);
      if (use.used + need > limits.dailyVideoSeconds)
        throw new BudgetExceededError('guild', use.used, limits.dailyVideoSeconds, need, use.freesAt);
    }
    const quota = await this.quotaUse(check.userId, since, limits.memberDailyQuota, check.requestType, manager);
    if (quota.used >= limits.memberDailyQuota)
      throw new QuotaExceededError(quota.used, limits.memberDailyQuota, quota.freesAt);
    return limits;
  }
}
