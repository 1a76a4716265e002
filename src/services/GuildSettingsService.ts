import type { BudgetRepository, GuildSettingsRepository } from '../db/repositories';
import type { SettingChange } from '../db/repositories/GuildSettingsRepository';
import {
  checkSettingsChange,
  settingRanges,
  type GuildLimits,
  type GuildSettingsRow,
  type OperatorCaps,
  type SettingsChangeInput,
} from '../domain/spend';
import type { Config } from '../lib/config';

/** The operator's caps, from the settings. */
export function operatorCaps(config: Pick<Config, 'video' | 'spend'>): OperatorCaps {
  return {
    dailyQuota: config.video.dailyQuota,
    allowedChannelIds: config.video.allowedChannelIds,
    allowedGuildIds: config.spend.allowedGuildIds,
    globalDailySeconds: config.spend.globalDailyVideoSeconds,
    guildDailySeconds: config.spend.guildDailyVideoSeconds,
  };
}

/** What `/settings show` shows. */
export interface SettingsView {
  guildId: string;
  stored: GuildSettingsRow;
  /** what is in force: the stored values capped by the operator's */
  limits: GuildLimits;
  caps: OperatorCaps;
  ranges: ReturnType<typeof settingRanges>;
  recent: SettingChange[];
}

export type SettingsResult =
  { ok: false; problems: string[] } | { ok: true; changes: SettingChange[]; view: SettingsView };

/**
 * Everything behind `/settings` (issue #13, point 3): a server's settings within the operator's caps, stored in
 * PostgreSQL (so every instance applies a change at once, and it survives restarts), each change recorded and logged
 * with who made it. No Discord types: the command passes the server's text channel ids.
 */
export class GuildSettingsService {
  public constructor(
    private readonly deps: {
      settings: GuildSettingsRepository;
      budgets: BudgetRepository;
      config: Pick<Config, 'video' | 'spend'>;
    },
  ) {}

  public get caps(): OperatorCaps {
    return operatorCaps(this.deps.config);
  }

  /** The limits in force in a server now. */
  public limitsFor(guildId: string): Promise<GuildLimits> {
    return this.deps.budgets.limitsFor(guildId, this.caps);
  }

  public async show(guildId: string): Promise<SettingsView> {
    const caps = this.caps;
    const [stored, limits, recent] = await Promise.all([
      this.deps.settings.get(guildId),
      this.deps.budgets.limitsFor(guildId, caps),
      this.deps.settings.recentChanges(guildId, 3),
    ]);
    return { guildId, stored, limits, caps, ranges: settingRanges(caps), recent };
  }

  /**
   * Applies a change by `userId` after checking every value against the operator's caps (each refusal names the
   * allowed range) and `guildChannelIds` (the server's text channels).
   */
  public async set(
    guildId: string,
    userId: string,
    change: SettingsChangeInput,
    guildChannelIds: readonly string[],
  ): Promise<SettingsResult> {
    const checked = checkSettingsChange(this.caps, change, guildChannelIds);
    if (!checked.ok) return checked;
    const { changes } = await this.deps.settings.update(guildId, userId, checked.patch);
    return { ok: true, changes, view: await this.show(guildId) };
  }
}
