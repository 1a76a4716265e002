import type { Logger } from 'pino';
import { emptySettings, type GuildSettingsRow, type SettingsPatch } from '../../domain/spend';
import { toGuildSettingsRow } from '../mapping';
import * as sql from '../sql/settings';
import type { SqlRunner } from './SqlRunner';

/** One recorded change of a server's settings. */
export interface SettingChange {
  setting: keyof SettingsPatch;
  oldValue: string | null;
  newValue: string | null;
  userId: string;
  changedAt: Date;
}

function show(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** Per-server settings (`/settings`): read, and changed with a record of who changed what (one transaction). */
export class GuildSettingsRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  /** The server's stored settings (every value null when it never set any). */
  public async get(guildId: string): Promise<GuildSettingsRow> {
    const raw = await this.sql.first(sql.getGuildSettings, { guildId });
    return raw ? toGuildSettingsRow(raw) : emptySettings(guildId);
  }

  /**
   * Applies `patch` by `userId`: under the server's settings lock, the row is read, the changed values written and
   * each change recorded with who made it and the value before. Values equal to the stored one are not changes.
   */
  public async update(
    guildId: string,
    userId: string,
    patch: SettingsPatch,
  ): Promise<{ before: GuildSettingsRow; after: GuildSettingsRow; changes: SettingChange[] }> {
    return this.sql.transaction(async (manager) => {
      await this.sql.rows(sql.lockGuildSettings, { guildId }, manager);
      const raw = await this.sql.first(sql.getGuildSettings, { guildId }, manager);
      const before = raw ? toGuildSettingsRow(raw) : emptySettings(guildId);
      const next = { ...before, ...patch };
      const changes: SettingChange[] = [];
      for (const key of Object.keys(patch) as (keyof SettingsPatch)[]) {
        const oldValue = show(before[key]);
        const newValue = show(next[key]);
        if (oldValue === newValue) continue;
        await this.sql.rows(sql.insertSettingChange, { guildId, userId, setting: key, oldValue, newValue }, manager);
        changes.push({ setting: key, oldValue, newValue, userId, changedAt: new Date() });
      }
      if (changes.length === 0) return { before, after: before, changes };
      const written = await this.sql.first(
        sql.upsertGuildSettings,
        {
          guildId,
          allowedChannelIds: next.allowedChannelIds,
          memberDailyQuota: next.memberDailyQuota,
          dailyVideoSeconds: next.dailyVideoSeconds,
          allowHd: next.allowHd,
          allowAudio: next.allowAudio,
          maxLengthSeconds: next.maxLengthSeconds,
          updatedBy: userId,
        },
        manager,
      );
      const after = toGuildSettingsRow(written!);
      for (const c of changes) {
        this.logger.info(
          { guild_id: guildId, user_id: userId, setting: c.setting, old_value: c.oldValue, new_value: c.newValue },
          'server setting changed',
        );
      }
      return { before, after, changes };
    });
  }

  /** The server's latest changes, newest first. */
  public async recentChanges(guildId: string, limit = 5): Promise<SettingChange[]> {
    const rows = await this.sql.rows(sql.recentSettingChanges, { guildId, limit });
    return rows.map((r) => ({
      setting: String(r.setting) as keyof SettingsPatch,
      oldValue: (r.old_value ?? null) as string | null,
      newValue: (r.new_value ?? null) as string | null,
      userId: String(r.user_id),
      changedAt: r.changed_at instanceof Date ? r.changed_at : new Date(String(r.changed_at)),
    }));
  }
}
