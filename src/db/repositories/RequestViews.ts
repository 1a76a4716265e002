import type { GuildSummary, UnfinishedRow, VideoRequestRow } from '../../domain/request';
import { num, toRequestRow } from '../mapping';
import * as sql from '../sql/views';
import type { SqlRunner } from './SqlRunner';

function dateOrNull(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

/** Read-only views: metrics counts across guilds, and everything `/resume` shows of one guild. */
export class RequestViews {
  public constructor(private readonly sql: SqlRunner) {}

  /** All guilds, for metrics: unfinished rows by status, and finished rows whose announcement is due. */
  public async countUnfinishedByState(): Promise<{
    pending: number;
    generating: number;
    awaiting_announcement: number;
  }> {
    const r = await this.sql.first(sql.countUnfinishedByState, {});
    return {
      pending: num(r?.pending ?? 0),
      generating: num(r?.generating ?? 0),
      awaiting_announcement: num(r?.awaiting_announcement ?? 0),
    };
  }

  public async getGuildSummary(guildId: string): Promise<GuildSummary> {
    const r = await this.sql.first(sql.guildSummary, { guildId });
    return {
      pending: num(r?.pending ?? 0),
      generating: num(r?.generating ?? 0),
      awaitingAnnouncement: num(r?.awaiting_announcement ?? 0),
      failed24h: num(r?.failed_24h ?? 0),
      timeout24h: num(r?.timeout_24h ?? 0),
      videoSecondsAtRisk: num(r?.video_seconds_at_risk ?? 0),
      oldestUnfinishedAt: dateOrNull(r?.oldest_unfinished_at),
    };
  }

  /** The guild's unfinished rows (and rows awaiting their announcement), oldest first, with lease liveness. */
  public async listUnfinished(
    guildId: string,
    page: { offset: number; limit: number },
  ): Promise<{ rows: UnfinishedRow[]; total: number }> {
    const raws = await this.sql.rows(sql.listUnfinished, { guildId, limit: page.limit, offset: page.offset });
    const total = await this.sql.count(sql.countUnfinished, { guildId });
    return {
      rows: raws.map((raw) => ({
        ...toRequestRow(raw),
        leaseLive: raw.lease_live === true,
        attemptCount: num(raw.attempt_count),
      })),
      total,
    };
  }

  /** The guild's latest failed or timed-out requests (24 h), newest first. */
  public async recentFailures(guildId: string, limit: number): Promise<VideoRequestRow[]> {
    return (await this.sql.rows(sql.recentFailures, { guildId, limit })).map(toRequestRow);
  }

  /** Autocomplete: the guild's requests whose id starts with `idPrefix`, newest first (`unfinishedOnly`: pending and generating). */
  public async findForGuild(
    guildId: string,
    idPrefix: string,
    limit: number = 25,
    options: { unfinishedOnly?: boolean } = {},
  ): Promise<VideoRequestRow[]> {
    const prefix = idPrefix.toLowerCase().replace(/[^0-9a-f-]/g, '');
    return (
      await this.sql.rows(sql.findForGuild, {
        guildId,
        idPrefix: prefix,
        limit,
        unfinishedOnly: options.unfinishedOnly ?? false,
      })
    ).map(toRequestRow);
  }

  /** `/history`: the member's latest requests in this guild, newest first (their own, in this guild only). */
  public async history(guildId: string, userId: string, limit: number): Promise<VideoRequestRow[]> {
    return (await this.sql.rows(sql.history, { guildId, userId, limit })).map(toRequestRow);
  }
}
