/**
 * Spend control (issue #13): the operator's caps, a server's own settings within them, the budgets a request is
 * refused by, and the submit queue's position and estimate. Plain values and rules; the SQL lives in src/db, the
 * work in src/services, the words shown in Discord in src/discord.
 */
import { HOUR_MS, MINUTE_MS } from './time';
import { VEO_DURATIONS, type ValidVideoInput, type VeoDuration, type VideoCommandInput } from './videoInput';

/** The operator's settings (environment) that bound what any server may do. 0 = no cap where noted. */
export interface OperatorCaps {
  /** DAILY_QUOTA: videos per member per rolling 24 h (0 turns /video off) */
  dailyQuota: number;
  /** ALLOWED_CHANNEL_IDS (empty = all) */
  allowedChannelIds: string[];
  /** ALLOWED_GUILD_IDS (empty = all) */
  allowedGuildIds: string[];
  /** GLOBAL_DAILY_VIDEO_SECONDS (0 = no cap) */
  globalDailySeconds: number;
  /** GUILD_DAILY_VIDEO_SECONDS: the default and the most a server may set (0 = no cap) */
  guildDailySeconds: number;
}

/** What a server stored with `/settings set`; null = not set (the operator's default applies). */
export interface GuildSettingsRow {
  guildId: string;
  allowedChannelIds: string[] | null;
  memberDailyQuota: number | null;
  dailyVideoSeconds: number | null;
  allowHd: boolean | null;
  allowAudio: boolean | null;
  maxLengthSeconds: VeoDuration | null;
  updatedAt: Date | null;
  updatedBy: string | null;
}

/** The limits in force in one server: its settings, each capped by the operator's. */
export interface GuildLimits {
  /** empty = every channel */
  allowedChannelIds: string[];
  /** videos a member may make here per rolling 24 h (what `/settings show` says) */
  memberDailyQuota: number;
  /**
   * The server's own per-member quota, counted over the member's requests in this server; null = the server set none
   * (only the operator's DAILY_QUOTA applies, counted over the member's requests in every server).
   */
  serverMemberQuota: number | null;
  /** null = no cap */
  dailyVideoSeconds: number | null;
  allowHd: boolean;
  allowAudio: boolean;
  maxLengthSeconds: VeoDuration;
}

export const MAX_LENGTH_SECONDS: VeoDuration = 8;
/** A server with no operator cap may still set its own, up to this (a year of 8-second videos every minute). */
export const MAX_SERVER_VIDEO_SECONDS = 10_000_000;
/** Channels one server may list. */
export const MAX_ALLOWED_CHANNELS = 25;

export function emptySettings(guildId: string): GuildSettingsRow {
  return {
    guildId,
    allowedChannelIds: null,
    memberDailyQuota: null,
    dailyVideoSeconds: null,
    allowHd: null,
    allowAudio: null,
    maxLengthSeconds: null,
    updatedAt: null,
    updatedBy: null,
  };
}

/** A server's settings capped by the operator's (a value stored under a higher operator cap is read as the new cap). */
export function guildLimits(op: OperatorCaps, stored: GuildSettingsRow | null): GuildLimits {
  const s = stored ?? emptySettings('');
  let channels = op.allowedChannelIds;
  if (s.allowedChannelIds && s.allowedChannelIds.length > 0) {
    const within =
      op.allowedChannelIds.length === 0
        ? s.allowedChannelIds
        : s.allowedChannelIds.filter((id) => op.allowedChannelIds.includes(id));
    // The operator removed every channel this server chose: the operator's list stands.
    if (within.length > 0) channels = within;
  }
  const serverQuota = s.memberDailyQuota === null ? null : Math.min(s.memberDailyQuota, op.dailyQuota);
  const opSeconds = op.guildDailySeconds > 0 ? op.guildDailySeconds : null;
  const seconds =
    s.dailyVideoSeconds === null
      ? opSeconds
      : opSeconds === null
        ? s.dailyVideoSeconds
        : Math.min(s.dailyVideoSeconds, opSeconds);
  return {
    allowedChannelIds: channels,
    memberDailyQuota: serverQuota ?? op.dailyQuota,
    serverMemberQuota: serverQuota,
    dailyVideoSeconds: seconds,
    allowHd: s.allowHd ?? true,
    allowAudio: s.allowAudio ?? true,
    maxLengthSeconds: s.maxLengthSeconds ?? MAX_LENGTH_SECONDS,
  };
}

/**
 * The member quotas a new request must fit: the operator's DAILY_QUOTA over the member's requests in every server, and
 * the server's own over those in this server, when it set one.
 */
export function memberQuotas(op: OperatorCaps, limits: GuildLimits): { scope: 'bot' | 'server'; limit: number }[] {
  const quotas: { scope: 'bot' | 'server'; limit: number }[] = [{ scope: 'bot', limit: op.dailyQuota }];
  if (limits.serverMemberQuota !== null) quotas.push({ scope: 'server', limit: limits.serverMemberQuota });
  return quotas;
}

/** The ranges `/settings set` accepts, from the operator's caps. */
export function settingRanges(op: OperatorCaps): {
  memberDailyQuota: { min: number; max: number };
  dailyVideoSeconds: { min: number; max: number };
} {
  return {
    memberDailyQuota: { min: 0, max: op.dailyQuota },
    dailyVideoSeconds: { min: 0, max: op.guildDailySeconds > 0 ? op.guildDailySeconds : MAX_SERVER_VIDEO_SECONDS },
  };
}

/** One `/settings set`: only the options given. `channels` is raw text: channel mentions or ids, or `all`. */
export interface SettingsChangeInput {
  channels?: string | null;
  memberDailyQuota?: number | null;
  dailyVideoSeconds?: number | null;
  allowHd?: boolean | null;
  allowAudio?: boolean | null;
  maxLengthSeconds?: number | null;
}

/** The stored columns a change writes (undefined = unchanged; null = back to the operator's default). */
export type SettingsPatch = Partial<
  Pick<
    GuildSettingsRow,
    'allowedChannelIds' | 'memberDailyQuota' | 'dailyVideoSeconds' | 'allowHd' | 'allowAudio' | 'maxLengthSeconds'
  >
>;

const CHANNEL_TOKEN = /^(?:<#(\d{17,20})>|(\d{17,20}))$/;

/**
 * Checks a change against the operator's caps and the server's channels (`guildChannelIds`: the text channels of the
 * server). Every problem is named with the allowed range, so the admin fixes them in one go.
 */
export function checkSettingsChange(
  op: OperatorCaps,
  change: SettingsChangeInput,
  guildChannelIds: readonly string[],
): { ok: true; patch: SettingsPatch } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const patch: SettingsPatch = {};
  const ranges = settingRanges(op);

  if (change.channels !== undefined && change.channels !== null) {
    const text = change.channels.trim();
    if (/^(all|any|every|none|reset|default)$/i.test(text)) patch.allowedChannelIds = null;
    else {
      const tokens = text.split(/[\s,]+/).filter(Boolean);
      const ids: string[] = [];
      const bad: string[] = [];
      for (const token of tokens) {
        const m = CHANNEL_TOKEN.exec(token);
        if (m) ids.push((m[1] ?? m[2])!);
        else bad.push(token);
      }
      const unique = [...new Set(ids)];
      if (bad.length > 0 || unique.length === 0) {
        problems.push(
          'channels: give channel mentions like #videos (separated by spaces), or `all` for every channel.',
        );
      } else if (unique.length > MAX_ALLOWED_CHANNELS) {
        problems.push(`channels: at most ${MAX_ALLOWED_CHANNELS} channels (you gave ${unique.length}).`);
      } else {
        const notHere = unique.filter((id) => !guildChannelIds.includes(id));
        const notAllowed =
          op.allowedChannelIds.length === 0 ? [] : unique.filter((id) => !op.allowedChannelIds.includes(id));
        if (notHere.length > 0)
          problems.push(
            `channels: ${notHere.map((id) => `<#${id}>`).join(', ')} is not a text channel of this server.`,
          );
        else if (notAllowed.length > 0) {
          problems.push(
            `channels: the bot's operator allows videos only in ${op.allowedChannelIds.map((id) => `<#${id}>`).join(', ')}; ` +
              `${notAllowed.map((id) => `<#${id}>`).join(', ')} is not among them.`,
          );
        } else patch.allowedChannelIds = unique;
      }
    }
  }
  const whole = (name: string, value: number | null | undefined, range: { min: number; max: number }, unit: string) => {
    if (value === undefined || value === null) return undefined;
    if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
      problems.push(`${name}: must be a whole number from ${range.min} to ${range.max}${unit} (you gave ${value}).`);
      return undefined;
    }
    return value;
  };
  const quota = whole('member_daily_quota', change.memberDailyQuota, ranges.memberDailyQuota, ' videos per member');
  if (quota !== undefined) patch.memberDailyQuota = quota;
  const seconds = whole('daily_video_seconds', change.dailyVideoSeconds, ranges.dailyVideoSeconds, ' video-seconds');
  if (seconds !== undefined) patch.dailyVideoSeconds = seconds;
  if (change.allowHd !== undefined && change.allowHd !== null) patch.allowHd = change.allowHd;
  if (change.allowAudio !== undefined && change.allowAudio !== null) patch.allowAudio = change.allowAudio;
  if (change.maxLengthSeconds !== undefined && change.maxLengthSeconds !== null) {
    if (!(VEO_DURATIONS as readonly number[]).includes(change.maxLengthSeconds))
      problems.push(`longest_length: must be 4, 6 or 8 seconds (you gave ${change.maxLengthSeconds}).`);
    else patch.maxLengthSeconds = change.maxLengthSeconds as VeoDuration;
  }
  if (problems.length > 0) return { ok: false, problems };
  if (Object.keys(patch).length === 0)
    return { ok: false, problems: ['Nothing to change: give at least one option (see `/settings show`).'] };
  return { ok: true, patch };
}

/**
 * Applies a server's option limits to a valid `/video` input: an option the server turned off, asked for
 * explicitly, is refused with the reason; left unset, it quietly takes the allowed value (no audio, the longest allowed
 * length).
 */
export function applyGuildOptions(
  raw: Pick<VideoCommandInput, 'length' | 'hd' | 'audio'>,
  valid: ValidVideoInput,
  limits: GuildLimits,
): { ok: true; value: ValidVideoInput } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const value = { ...valid };
  if (raw.hd === true && !limits.allowHd) problems.push('HD (1080p) videos are turned off in this server.');
  if (raw.audio === true && !limits.allowAudio) problems.push('Videos with sound are turned off in this server.');
  if (raw.audio === null && !limits.allowAudio) value.generateAudio = false;
  if (raw.length !== null && raw.length > limits.maxLengthSeconds)
    problems.push(`This server allows videos of up to ${limits.maxLengthSeconds} seconds.`);
  if (raw.length === null && value.durationSeconds > limits.maxLengthSeconds)
    value.durationSeconds = limits.maxLengthSeconds;
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

/** A request refused by a rule of where and what it may be (not by a budget). */
export type RuleRefusal =
  { cap: 'allowed_guilds' } | { cap: 'channel'; allowedChannelIds: string[] } | { cap: 'option'; problems: string[] };

/** Where a request may be made: the servers the operator allows, the server's channels. */
export function checkPlace(
  op: OperatorCaps,
  limits: GuildLimits,
  where: { guildId: string; channelId: string },
): RuleRefusal | null {
  if (op.allowedGuildIds.length > 0 && !op.allowedGuildIds.includes(where.guildId)) return { cap: 'allowed_guilds' };
  if (limits.allowedChannelIds.length > 0 && !limits.allowedChannelIds.includes(where.channelId))
    return { cap: 'channel', allowedChannelIds: limits.allowedChannelIds };
  return null;
}

/**
 * The rules a request must meet whatever made it (a `/video`, or a button that makes one): its place, and the
 * options the server allows, on the values the request will be made with.
 */
export function checkRequestRules(
  op: OperatorCaps,
  limits: GuildLimits,
  request: {
    guildId: string;
    channelId: string;
    durationSeconds: number | null;
    resolution: string | null;
    generateAudio: boolean | null;
  },
): RuleRefusal | null {
  const place = checkPlace(op, limits, request);
  if (place) return place;
  const problems: string[] = [];
  if (request.resolution === '1080p' && !limits.allowHd)
    problems.push('HD (1080p) videos are turned off in this server.');
  if (request.generateAudio !== false && !limits.allowAudio)
    problems.push('Videos with sound are turned off in this server.');
  if ((request.durationSeconds ?? MAX_LENGTH_SECONDS) > limits.maxLengthSeconds)
    problems.push(`This server allows videos of up to ${limits.maxLengthSeconds} seconds.`);
  return problems.length > 0 ? { cap: 'option', problems } : null;
}

/** Which cap refused a request (the `cap` label of `veobot_requests_refused_total`). */
export type RefusalCap = 'allowed_guilds' | 'channel' | 'option' | 'member_quota' | 'guild_budget' | 'global_budget';

/** How much of a budget a window holds, and when room frees up for a request of `need` seconds. */
export interface BudgetUse {
  used: number;
  /** null = no cap */
  limit: number | null;
  /** when enough of today's reservations leave the 24-hour window for `need` more seconds (null: never needed / unknown) */
  freesAt: Date | null;
}

/** A request waiting for a submit permit: where it stands and about how long it will wait. */
export interface QueueInfo {
  /** 1 = next */
  position: number;
  /** requests waiting in all */
  length: number;
  etaMs: number;
}

/** What the queue's capacity looks like now (VEO_SUBMITS_PER_MINUTE over its window, VEO_MAX_IN_FLIGHT, 429s). */
export interface QueueCapacity {
  /** submits counted in the current window */
  windowUsed: number;
  windowLimit: number;
  windowMs: number;
  /** ms until the oldest counted submit leaves the window (null: none counted) */
  nextWindowFreeMs: number | null;
  inFlight: number;
  /** 0 = no cap */
  maxInFlight: number;
  /** ms until Google's 429 retry delay ends (0: none) */
  gateMs: number;
}

/** Permits free right now. */
export function freePermits(c: QueueCapacity): number {
  if (c.gateMs > 0) return 0;
  const byRate = Math.max(0, c.windowLimit - c.windowUsed);
  const byFlight = c.maxInFlight > 0 ? Math.max(0, c.maxInFlight - c.inFlight) : Number.POSITIVE_INFINITY;
  return Math.min(byRate, byFlight);
}

/** Typical Veo generation time, for the queue estimate while VEO_MAX_IN_FLIGHT is what holds requests back. */
export const TYPICAL_GENERATION_MS = 80_000;

/**
 * About how long the request at `position` (1 = next) will wait: the longest of what the rate window, the operations
 * in flight and Google's retry delay need before that many permits are free.
 */
export function estimateQueueWait(position: number, c: QueueCapacity): number {
  const ahead = Math.max(0, position - 1);
  const rateFree = Math.max(0, c.windowLimit - c.windowUsed);
  let byRate = 0;
  if (ahead >= rateFree) {
    const beyond = ahead - rateFree;
    byRate = (c.nextWindowFreeMs ?? 0) + Math.floor(beyond / Math.max(1, c.windowLimit)) * c.windowMs;
  }
  let byFlight = 0;
  if (c.maxInFlight > 0) {
    const flightFree = Math.max(0, c.maxInFlight - c.inFlight);
    if (ahead >= flightFree) byFlight = Math.ceil((ahead - flightFree + 1) / c.maxInFlight) * TYPICAL_GENERATION_MS;
  }
  return Math.max(byRate, byFlight, c.gateMs);
}

/** "less than a minute", "about 2 min", "about 3 h". */
export function describeWait(ms: number): string {
  if (ms < MINUTE_MS) return 'less than a minute';
  if (ms < 2 * HOUR_MS) return `about ${Math.round(ms / MINUTE_MS)} min`;
  return `about ${Math.round(ms / HOUR_MS)} h`;
}
