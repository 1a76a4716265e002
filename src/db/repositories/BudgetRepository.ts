import type { EntityManager } from 'typeorm';
import { BudgetExceededError, QuotaExceededError, RequestRefusedError } from '../../domain/errors';
import { QUOTA_WINDOW_MS, reservedSeconds } from '../../domain/policy';
import {
  checkRequestRules,
  guildLimits,
  memberQuotas,
  type BudgetUse,
  type GuildLimits,
  type OperatorCaps,
} from '../../domain/spend';
import { toGuildSettingsRow, num } from '../mapping';
import * as budgets from '../sql/budgets';
import { lockUserQuota } from '../sql/requests';
import { getGuildSettings } from '../sql/settings';
import type { SqlRunner } from './SqlRunner';

/** What a new request must fit: the user's quota, its server's budget and the bot's (policy.holdsReservation). */
export interface SpendCheck {
  userId: string;
  guildId: string;
  channelId: string;
  requestType: string;
  durationSeconds: number | null;
  resolution?: string | null;
  generateAudio?: boolean | null;
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

  /**
   * The user's requests counting against the quota since `since` (in every server, or only in `guildId`), and when
   * their next slot frees under `limit`.
   */
  public async quotaUse(
    userId: string,
    since: Date,
    limit: number,
    options: { requestType?: string; guildId?: string | null; manager?: EntityManager } = {},
  ): Promise<BudgetUse> {
    const { manager } = options;
    const scope = { userId, since, requestType: options.requestType ?? 'veo', guildId: options.guildId ?? null };
    const used = num((await this.sql.first(budgets.quotaUse, scope, manager))?.count);
    let freesAt: Date | null = null;
    if (used > 0 && limit > 0) {
      // The slot that frees first once the user is at (or over) the limit: the (used - limit)-th oldest.
      const offset = Math.max(0, used - limit);
      freesAt = dateOrNull(
        (await this.sql.first(budgets.quotaSlotFreesAt, { ...scope, offset, windowMs: QUOTA_WINDOW_MS }, manager))
          ?.frees_at,
      );
    }
    return { used, limit, freesAt };
  }

  /** Each member quota the user must fit in this server (memberQuotas), as it stands. */
  public async memberQuotaUses(
    userId: string,
    guildId: string,
    since: Date,
    caps: OperatorCaps,
    limits: GuildLimits,
    options: { requestType?: string; manager?: EntityManager } = {},
  ): Promise<(BudgetUse & { scope: 'bot' | 'server'; limit: number })[]> {
    const uses = [];
    for (const q of memberQuotas(caps, limits)) {
      const use = await this.quotaUse(userId, since, q.limit, {
        ...options,
        guildId: q.scope === 'server' ? guildId : null,
      });
      uses.push({ ...use, scope: q.scope, limit: q.limit });
    }
    return uses;
  }

  /**
   * Inside the insert transaction: takes the global, server and user locks in that fixed order (no deadlock between
   * requests of different servers and users), then checks the servers, channels and options allowed (whatever made
   * the request), the bot's budget, the server's and the user's quota. Throws RequestRefusedError,
   * BudgetExceededError or QuotaExceededError; returns the limits in force.
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
    const broken = checkRequestRules(caps, limits, {
      ...check,
      resolution: check.resolution ?? null,
      generateAudio: check.generateAudio ?? null,
    });
    if (broken) throw new RequestRefusedError(broken);
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
    const quotas = await this.memberQuotaUses(check.userId, check.guildId, since, caps, limits, {
      requestType: check.requestType,
      manager,
    });
    for (const q of quotas) {
      if (q.used >= q.limit) throw new QuotaExceededError(q.used, q.limit, q.freesAt, q.scope);
    }
    return limits;
  }
}
