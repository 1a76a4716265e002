import type { BudgetRepository, QueueRepository } from '../db/repositories';
import { QUOTA_WINDOW_MS, reservedSeconds } from '../domain/policy';
import type { BudgetUse } from '../domain/spend';
import type { Config } from '../lib/config';
import { operatorCaps } from './GuildSettingsService';

/** What `/usage` shows a member. */
export interface UsageView {
  /**
   * the member's videos of the last 24 h that count, their quota, and when the next slot frees: the quota with the least
   * room left (`scope` 'server': the server's own, over their videos here; 'bot': the operator's, over every server)
   */
  quota: BudgetUse & { scope: 'bot' | 'server' };
  /** the server's video-seconds of the last 24 h against its budget (limit null: no cap) */
  guild: BudgetUse;
  /** the whole bot's, when the operator set a cap */
  global: BudgetUse | null;
  /** video-seconds an 8-second video reserves, to say when room frees for one */
  typicalNeed: number;
}

/** What `/resume status` adds for spend: the server's budget and its requests waiting for a submit permit. */
export interface GuildSpendStatus {
  budget: BudgetUse;
  queueLength: number;
  oldestQueuedAt: Date | null;
}

/** The values behind `/usage` and the spend part of `/resume status` (issue #13, point 5), read from the request rows. */
export class SpendService {
  private readonly now: () => number;

  public constructor(
    private readonly deps: {
      budgets: BudgetRepository;
      queue: QueueRepository;
      config: Pick<Config, 'video' | 'spend'>;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  private since(): Date {
    return new Date(this.now() - QUOTA_WINDOW_MS);
  }

  public async usage(guildId: string, userId: string): Promise<UsageView> {
    const caps = operatorCaps(this.deps.config);
    const { budgets } = this.deps;
    const since = this.since();
    const need = reservedSeconds(null);
    const limits = await budgets.limitsFor(guildId, caps);
    const [quotas, guild, global] = await Promise.all([
      budgets.memberQuotaUses(userId, guildId, since, caps, limits),
      budgets.guildUse(guildId, since, limits.dailyVideoSeconds, need),
      caps.globalDailySeconds > 0 ? budgets.globalUse(since, caps.globalDailySeconds, need) : Promise.resolve(null),
    ]);
    const room = (q: { used: number; limit: number }) => q.limit - q.used;
    const quota = quotas.reduce((a, b) => (room(b) < room(a) ? b : a));
    return { quota, guild, global, typicalNeed: need };
  }

  public async guildStatus(guildId: string): Promise<GuildSpendStatus> {
    const caps = operatorCaps(this.deps.config);
    const { budgets, queue } = this.deps;
    const limits = await budgets.limitsFor(guildId, caps);
    const [budget, stats] = await Promise.all([
      budgets.guildUse(guildId, this.since(), limits.dailyVideoSeconds, reservedSeconds(null)),
      queue.guildStats(guildId),
    ]);
    return { budget, queueLength: stats.length, oldestQueuedAt: stats.oldest };
  }
}
