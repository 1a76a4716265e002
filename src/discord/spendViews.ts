/** What spend control shows in Discord (issue #13): `/video` refusals, `/usage`, `/settings` (values from services). */
import type { APIEmbed } from 'discord.js';
import { QUOTA_RULE_TEXT } from '../domain/policy';
import type { BudgetUse, GuildLimits, GuildSettingsRow, OperatorCaps, QueueInfo } from '../domain/spend';
import { describeWait } from '../domain/spend';
import { fitContent, fitEmbed } from './limits';
import { COLORS } from './text';

/** A refusal as src/services/VideoRequestService describes it (kept structural: discord imports no services). */
export type RefusalView =
  | { cap: 'allowed_guilds' }
  | { cap: 'channel'; allowedChannelIds: string[] }
  | { cap: 'option'; problems: string[] }
  | { cap: 'member_quota'; scope: 'bot' | 'server'; used: number; limit: number; freesAt: Date | null }
  | { cap: 'guild_budget' | 'global_budget'; used: number; limit: number; need: number; freesAt: Date | null };

/** A Discord timestamp, shown to each reader in their own time zone ("in 3 hours"). */
export function when(date: Date, style: 'R' | 'f' = 'R'): string {
  return `<t:${Math.floor(new Date(date).getTime() / 1000)}:${style}>`;
}

function mentionList(ids: string[], max = 10): string {
  const shown = ids.slice(0, max).map((id) => `<#${id}>`);
  const more = ids.length > shown.length ? ` and ${ids.length - shown.length} more channels` : '';
  return `${shown.join(', ')}${more}`;
}

/** "a 4-second", "an 8-second", "an 11-second" (the article as the number is spoken). */
function secondsLong(n: number): string {
  return `${/^(8|11|18)/.test(String(n)) ? 'an' : 'a'} ${n}-second`;
}

/** What a refused requester reads (ephemeral): which cap, and when room frees up. */
export function refusalMessage(r: RefusalView): string {
  switch (r.cap) {
    case 'allowed_guilds':
      return 'This bot does not make videos in this server: its operator allows it only in certain servers.';
    case 'channel':
      // A long allow-list would overflow the reply (2,000 characters): name the first few.
      return `Videos can only be made in ${mentionList(r.allowedChannelIds)}.`;
    case 'option':
      return fitContent(r.problems.join('\n'));
    case 'member_quota':
      if (r.limit === 0) return 'Video generation is turned off in this server.';
      return (
        `You have used your ${r.limit} video${r.limit === 1 ? '' : 's'}${r.scope === 'server' ? ' in this server' : ''} for the last 24 hours. ${QUOTA_RULE_TEXT}; ` +
        (r.freesAt ? `your next one frees up ${when(r.freesAt)}.` : 'try again later.')
      );
    case 'guild_budget':
    case 'global_budget': {
      const whose =
        r.cap === 'guild_budget'
          ? `This server has used ${r.used} of its ${r.limit} video-seconds for the last 24 hours`
          : `The bot has used ${r.used} of the ${r.limit} video-seconds its operator allows all servers together for the last 24 hours`;
      if (r.limit === 0) {
        return r.cap === 'guild_budget'
          ? 'This server allows no videos right now (its daily video budget is 0 video-seconds).'
          : 'Video generation is turned off on this bot (its daily video budget is 0 video-seconds).';
      }
      const left = Math.max(0, r.limit - r.used);
      const shorter = left >= 4 ? ` A video of up to ${left >= 6 ? 6 : 4} seconds still fits now.` : '';
      const room = r.freesAt
        ? ` Room for this one frees up ${when(r.freesAt)}.`
        : r.need > r.limit
          ? ` The whole budget is smaller than this video (${r.need} video-seconds).`
          : ' Try again later.';
      return `${whose}, so ${secondsLong(r.need)} video does not fit.${shorter}${room}`;
    }
  }
}

/** The Status line of a queued request: "Queued · position 4 · about 2 min". */
export function queuedText(q: QueueInfo): string {
  return `Queued · position ${q.position} · ${describeWait(q.etaMs)}`;
}

function budgetLine(use: BudgetUse, unit: string): string {
  return use.limit === null ? `${use.used} ${unit} (no cap)` : `${use.used} of ${use.limit} ${unit}`;
}

/** `/usage` (ephemeral): the member's quota and the server's video-seconds, each with when room frees up. */
export function usageEmbed(view: {
  quota: BudgetUse & { scope: 'bot' | 'server' };
  guild: BudgetUse;
  global: BudgetUse | null;
  typicalNeed: number;
}): APIEmbed {
  const { quota, guild, global } = view;
  const quotaLimit = quota.limit ?? 0;
  const mine =
    quotaLimit === 0
      ? 'Video generation is turned off in this server.'
      : `${budgetLine(quota, 'videos')} used` +
        (quota.used < quotaLimit
          ? ` · ${quotaLimit - quota.used} left now`
          : ` · your next one frees up ${quota.freesAt ? when(quota.freesAt) : 'later'}`) +
        (quota.used > 0 && quota.used < quotaLimit && quota.freesAt
          ? ` · the oldest counts until ${when(quota.freesAt)}`
          : '');
  const budget = (use: BudgetUse) => {
    let text = `${budgetLine(use, 'video-seconds')} used`;
    if (use.limit !== null && use.used + view.typicalNeed > use.limit)
      text += use.freesAt
        ? ` · room for ${secondsLong(view.typicalNeed)} video frees up ${when(use.freesAt)}`
        : ' · full for now';
    return text;
  };
  const fields = [
    { name: `Your videos${quota.scope === 'server' ? ' in this server' : ''} (last 24 hours)`, value: mine },
    { name: 'This server (last 24 hours)', value: budget(guild) },
  ];
  if (global) fields.push({ name: 'The whole bot (last 24 hours)', value: budget(global) });
  return fitEmbed({
    title: 'Your video usage',
    color: COLORS.progress,
    fields,
    footer: { text: `${QUOTA_RULE_TEXT}. Video-seconds are length × videos; failed requests give theirs back.` },
  });
}

const yesNo = (v: boolean) => (v ? 'allowed' : 'not allowed');

function source(stored: unknown): string {
  return stored === null || stored === undefined ? ' (default)' : '';
}

/** `/settings show` (ephemeral): what is in force, whether the server set it, the allowed range, the last changes. */
export function settingsEmbed(view: {
  stored: GuildSettingsRow;
  limits: GuildLimits;
  caps: OperatorCaps;
  ranges: { memberDailyQuota: { min: number; max: number }; dailyVideoSeconds: { min: number; max: number } };
  recent: { setting: string; oldValue: string | null; newValue: string | null; userId: string; changedAt: Date }[];
}): APIEmbed {
  const { stored, limits, ranges } = view;
  const fields = [
    {
      name: 'channels',
      value:
        (limits.allowedChannelIds.length === 0 ? 'every channel' : mentionList(limits.allowedChannelIds, 20)) +
        source(stored.allowedChannelIds),
    },
    {
      name: 'member_daily_quota',
      value: `${limits.memberDailyQuota} videos per member here per 24 h${source(stored.memberDailyQuota)} · allowed ${ranges.memberDailyQuota.min}–${ranges.memberDailyQuota.max}`,
    },
    {
      name: 'daily_video_seconds',
      value: `${limits.dailyVideoSeconds === null ? 'no cap' : `${limits.dailyVideoSeconds} video-seconds per 24 h`}${source(stored.dailyVideoSeconds)} · allowed ${ranges.dailyVideoSeconds.min}–${ranges.dailyVideoSeconds.max}`,
    },
    { name: 'hd', value: `${yesNo(limits.allowHd)}${source(stored.allowHd)}`, inline: true },
    { name: 'audio', value: `${yesNo(limits.allowAudio)}${source(stored.allowAudio)}`, inline: true },
    {
      name: 'longest_length',
      value: `${limits.maxLengthSeconds} seconds${source(stored.maxLengthSeconds)}`,
      inline: true,
    },
  ];
  if (view.recent.length > 0) {
    fields.push({
      name: 'Latest changes',
      value: view.recent.map((c) => `${when(c.changedAt)} <@${c.userId}> ${changeText(c)}`).join('\n'),
    });
  }
  return fitEmbed({
    title: 'Video settings of this server',
    color: COLORS.progress,
    description:
      'Change them with `/settings set`. Each value stays within what the bot’s operator allows; “default” means ' +
      'the operator’s setting applies.',
    fields,
  });
}

/** The `/settings set` option each stored setting comes from. */
const OPTION_NAMES: Record<string, string> = {
  allowedChannelIds: 'channels',
  memberDailyQuota: 'member_daily_quota',
  dailyVideoSeconds: 'daily_video_seconds',
  allowHd: 'hd',
  allowAudio: 'audio',
  maxLengthSeconds: 'longest_length',
};

function settingValue(setting: string, value: string | null): string {
  if (value === null) return 'default';
  if (setting === 'allowedChannelIds') return mentionList(value.split(',').filter(Boolean), 5);
  if (setting === 'allowHd' || setting === 'allowAudio') return value === 'true' ? 'allowed' : 'not allowed';
  return value;
}

/** One recorded change, as people read it: "member_daily_quota: default → 2". */
export function changeText(c: { setting: string; oldValue: string | null; newValue: string | null }): string {
  return `${OPTION_NAMES[c.setting] ?? c.setting}: ${settingValue(c.setting, c.oldValue)} → ${settingValue(c.setting, c.newValue)}`;
}

/** What `/settings set` answers above the new settings. */
export function settingsChangedText(
  changes: { setting: string; oldValue: string | null; newValue: string | null }[],
): string {
  if (changes.length === 0) return 'Nothing changed: those are the current settings.';
  return fitContent(`Saved (applies at once, on every instance). ${changes.map(changeText).join('; ')}.`);
}
