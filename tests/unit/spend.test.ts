import { progressEmbed, resultEmbed } from '../../src/discord/embeds';
import { refusalMessage, settingsChangedText, usageEmbed } from '../../src/discord/spendViews';
import { LIMITS } from '../../src/discord/limits';
import {
  classify,
  countsAgainstQuota,
  holdsReservation,
  lateCheckIntervalMs,
  reservedSeconds,
  throttleDelayMs,
  type SpendFacts,
} from '../../src/domain/policy';
import type { VideoRequestRow } from '../../src/domain/request';
import {
  applyGuildOptions,
  checkSettingsChange,
  describeWait,
  estimateQueueWait,
  freePermits,
  guildLimits,
  type OperatorCaps,
  type QueueCapacity,
} from '../../src/domain/spend';
import { validateVideoInput } from '../../src/domain/videoInput';
import { retryDelayMs } from '../../src/services/veoErrors';

const OP = 'projects/p/locations/l/publishers/google/models/m/operations/x';
const facts = (over: Partial<SpendFacts>): SpendFacts => ({
  status: 'failed',
  failureKind: 'google',
  failureReason: null,
  operationName: null,
  maybeBilledAttempts: 0,
  ...over,
});

describe('the reservation rule (policy.holdsReservation) and the quota', () => {
  it('unfinished and completed requests hold their reservation and count against the quota', () => {
    for (const status of ['pending', 'generating', 'completed']) {
      expect(holdsReservation(facts({ status, failureKind: null }))).toBe(true);
      expect(countsAgainstQuota(facts({ status, failureKind: null }))).toBe(true);
    }
  });

  it('a request that ended without ever reaching Veo frees its reservation', () => {
    // refused by Veo (every attempt rejected, 429 included), invalid row, cancelled or expired before any submit
    expect(holdsReservation(facts({ failureReason: 'veo_refused' }))).toBe(false);
    expect(holdsReservation(facts({ status: 'timeout', failureKind: 'expired', failureReason: 'expired' }))).toBe(
      false,
    );
    expect(holdsReservation(facts({ status: 'timeout', failureKind: 'admin', failureReason: 'admin' }))).toBe(false);
    expect(holdsReservation(facts({ failureKind: 'cancelled' as never }))).toBe(false);
  });

  it('an input image found unusable before any submit frees it and is not counted (nothing was billed)', () => {
    for (const event of [
      {
        kind: 'image_refused',
        problem: 'The image (x.jpg) is not a PNG, JPEG or WebP image (checked by its content).',
      },
      { kind: 'image_gone', option: 'last_frame' },
    ] as const) {
      const verdict = classify(event);
      expect(verdict).toMatchObject({ status: 'failed', failureKind: 'input', reason: event.kind });
      const row = facts({ failureKind: verdict.failureKind, failureReason: verdict.reason });
      expect(holdsReservation(row)).toBe(false);
      expect(countsAgainstQuota(row)).toBe(false);
    }
    expect(classify({ kind: 'image_gone', option: 'last_frame' }).message).toBe(
      'The last frame could no longer be fetched from Discord (its link expired before the bot could copy it).',
    );
  });

  it('an operation Google failed or filtered frees it, even though it was submitted', () => {
    expect(holdsReservation(facts({ failureReason: 'veo_failed', operationName: OP, maybeBilledAttempts: 1 }))).toBe(
      false,
    );
    expect(
      holdsReservation(
        facts({ failureKind: 'filtered', failureReason: 'filtered', operationName: OP, maybeBilledAttempts: 1 }),
      ),
    ).toBe(false);
  });

  it('expire never hides money: a submitted or ambiguous request expired by an admin keeps both places', () => {
    const submitted = facts({ status: 'timeout', failureKind: 'admin', operationName: OP, maybeBilledAttempts: 1 });
    const ambiguous = facts({ status: 'timeout', failureKind: 'admin', maybeBilledAttempts: 1 });
    for (const row of [submitted, ambiguous]) {
      expect(holdsReservation(row)).toBe(true);
      expect(countsAgainstQuota(row)).toBe(true);
    }
    // Never submitted: the expiry frees both.
    const never = facts({ status: 'timeout', failureKind: 'admin' });
    expect(holdsReservation(never)).toBe(false);
    expect(countsAgainstQuota(never)).toBe(false);
  });

  it('a timeout while Veo works holds the budget (it was billed) but, as before, not the member quota', () => {
    const deadline = facts({ status: 'timeout', failureKind: 'google', failureReason: 'deadline', operationName: OP });
    expect(holdsReservation(deadline)).toBe(true);
    expect(countsAgainstQuota(deadline)).toBe(false);
  });

  it('reserves duration × samples; rows of the original bot without a length reserve 8 s', () => {
    expect(reservedSeconds(4)).toBe(4);
    expect(reservedSeconds(null)).toBe(8);
  });

  it('checks timed-out operations every 30 polls, at most every 5 minutes', () => {
    expect(lateCheckIntervalMs(10_000)).toBe(300_000);
    expect(lateCheckIntervalMs(100)).toBe(3_000);
  });
});

describe('Google 429: the retry delay', () => {
  const body = (details: unknown[]) =>
    JSON.stringify({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded', details } });

  it('reads google.rpc.RetryInfo.retryDelay (a protobuf Duration in JSON)', () => {
    expect(retryDelayMs(body([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '53s' }]), null)).toBe(
      53_000,
    );
    expect(
      retryDelayMs(body([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '58.934310785s' }]), null),
    ).toBe(58_934);
  });

  it('falls back on the Retry-After header (seconds or an HTTP date), else nothing', () => {
    expect(retryDelayMs(body([]), '7')).toBe(7_000);
    const now = Date.parse('2026-12-01T10:00:00Z');
    expect(retryDelayMs('not json', 'Tue, 01 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(retryDelayMs(body([{ '@type': 'type.googleapis.com/google.rpc.Help' }]), null)).toBeUndefined();
    expect(retryDelayMs(body([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: 'soon' }]), 'x')).toBe(
      undefined,
    );
  });

  it("waits Google's delay when given, else 2 s doubling with recent 429s, at most a minute", () => {
    expect(throttleDelayMs(53_000, 0)).toBe(53_000);
    expect(throttleDelayMs(undefined, 0)).toBe(2_000);
    expect(throttleDelayMs(undefined, 2)).toBe(8_000);
    expect(throttleDelayMs(undefined, 50)).toBe(60_000);
    expect(throttleDelayMs(10 * 3_600_000, 0)).toBe(3_600_000);
  });
});

const CAPS: OperatorCaps = {
  dailyQuota: 5,
  allowedChannelIds: [],
  allowedGuildIds: [],
  globalDailySeconds: 1800,
  guildDailySeconds: 600,
};
const CH = { a: '1300000000000001011', b: '1300000000000001012', other: '1300000000000002011' };

describe("a server's settings within the operator's caps", () => {
  it("the operator's defaults apply where the server set nothing", () => {
    expect(guildLimits(CAPS, null)).toEqual({
      allowedChannelIds: [],
      memberDailyQuota: 5,
      dailyVideoSeconds: 600,
      allowHd: true,
      allowAudio: true,
      maxLengthSeconds: 8,
      serverMemberQuota: null,
    });
    expect(guildLimits({ ...CAPS, guildDailySeconds: 0 }, null).dailyVideoSeconds).toBeNull();
  });

  it('a stored value above a lowered operator cap is read as the cap', () => {
    const stored = {
      guildId: 'g',
      allowedChannelIds: [CH.a, CH.b],
      memberDailyQuota: 4,
      dailyVideoSeconds: 500,
      allowHd: false,
      allowAudio: null,
      maxLengthSeconds: 6 as const,
      updatedAt: null,
      updatedBy: null,
    };
    expect(guildLimits({ ...CAPS, dailyQuota: 2, guildDailySeconds: 100, allowedChannelIds: [CH.b] }, stored)).toEqual({
      allowedChannelIds: [CH.b],
      memberDailyQuota: 2,
      serverMemberQuota: 2,
      dailyVideoSeconds: 100,
      allowHd: false,
      allowAudio: true,
      maxLengthSeconds: 6,
    });
  });

  it('refuses out-of-range values naming the allowed range, and changes nothing then', () => {
    const result = checkSettingsChange(CAPS, { memberDailyQuota: 9, dailyVideoSeconds: 601 }, [CH.a]);
    expect(result).toEqual({
      ok: false,
      problems: [
        'member_daily_quota: must be a whole number from 0 to 5 videos per member (you gave 9).',
        'daily_video_seconds: must be a whole number from 0 to 600 video-seconds (you gave 601).',
      ],
    });
  });

  it("accepts channels of this server only, within the operator's list; `all` goes back to the default", () => {
    expect(checkSettingsChange(CAPS, { channels: `<#${CH.a}> ${CH.b}` }, [CH.a, CH.b])).toEqual({
      ok: true,
      patch: { allowedChannelIds: [CH.a, CH.b] },
    });
    const foreign = checkSettingsChange(CAPS, { channels: `<#${CH.other}>` }, [CH.a]);
    expect(foreign.ok).toBe(false);
    expect(JSON.stringify(foreign)).toContain('is not a text channel of this server');
    const outside = checkSettingsChange({ ...CAPS, allowedChannelIds: [CH.a] }, { channels: `<#${CH.b}>` }, [
      CH.a,
      CH.b,
    ]);
    expect(JSON.stringify(outside)).toContain("the bot's operator allows videos only in");
    expect(checkSettingsChange(CAPS, { channels: 'all' }, [])).toEqual({
      ok: true,
      patch: { allowedChannelIds: null },
    });
    expect(checkSettingsChange(CAPS, { channels: 'general please' }, [CH.a]).ok).toBe(false);
    expect(checkSettingsChange(CAPS, {}, [CH.a])).toEqual({
      ok: false,
      problems: ['Nothing to change: give at least one option (see `/settings show`).'],
    });
  });

  it('applies option limits to /video: explicit forbidden options are refused, unset ones take the allowed value', () => {
    const limits = { ...guildLimits(CAPS, null), allowHd: false, allowAudio: false, maxLengthSeconds: 6 as const };
    const input = (raw: { length: number | null; hd: boolean | null; audio: boolean | null }) => {
      const v = validateVideoInput({ prompt: 'a red fox', ratio: null, negativePrompt: null, seed: null, ...raw });
      if (!v.ok) throw new Error('invalid');
      return applyGuildOptions(raw, v.value, limits);
    };
    expect(input({ length: null, hd: null, audio: null })).toMatchObject({
      ok: true,
      value: { durationSeconds: 6, generateAudio: false, resolution: '720p' },
    });
    expect(input({ length: 8, hd: true, audio: true })).toEqual({
      ok: false,
      problems: [
        'HD (1080p) videos are turned off in this server.',
        'Videos with sound are turned off in this server.',
        'This server allows videos of up to 6 seconds.',
      ],
    });
  });
});

describe('the submit queue: permits and the estimate', () => {
  const cap = (over: Partial<QueueCapacity> = {}): QueueCapacity => ({
    windowUsed: 0,
    windowLimit: 50,
    windowMs: 60_000,
    nextWindowFreeMs: null,
    inFlight: 0,
    maxInFlight: 20,
    gateMs: 0,
    ...over,
  });

  it('free permits are the least of the window, the operations in flight and the 429 gate', () => {
    expect(freePermits(cap())).toBe(20);
    expect(freePermits(cap({ windowUsed: 45 }))).toBe(5);
    expect(freePermits(cap({ inFlight: 19 }))).toBe(1);
    expect(freePermits(cap({ maxInFlight: 0 }))).toBe(50);
    expect(freePermits(cap({ gateMs: 500 }))).toBe(0);
  });

  it('estimates the wait from the window, the operations in flight and the gate', () => {
    const full = cap({ windowUsed: 50, nextWindowFreeMs: 20_000, maxInFlight: 0 });
    expect(estimateQueueWait(1, full)).toBe(20_000);
    expect(estimateQueueWait(51, full)).toBe(80_000); // the next window's 50, then one more minute
    expect(estimateQueueWait(1, cap())).toBe(0);
    expect(estimateQueueWait(1, cap({ gateMs: 9_000 }))).toBe(9_000);
    expect(estimateQueueWait(21, cap({ inFlight: 20 }))).toBeGreaterThan(0);
    expect(describeWait(20_000)).toBe('less than a minute');
    expect(describeWait(125_000)).toBe('about 2 min');
    expect(describeWait(3 * 3_600_000)).toBe('about 3 h');
  });

  it('the progress embed says "Queued · position 4 · about 2 min" and shows no progress yet', () => {
    const row = { id: '00000000-0000-4000-8000-000000000001', prompt: 'a fox', durationSeconds: 8 } as VideoRequestRow;
    const embed = progressEmbed(row, 'queued', 30_000, undefined, { position: 4, length: 9, etaMs: 120_000 });
    expect(embed.fields![0]).toMatchObject({ name: 'Status', value: 'Queued · position 4 · about 2 min' });
    expect(embed.fields![2]!.value).toContain('0%');
  });
});

describe('what users read', () => {
  const at = new Date('2026-12-01T10:00:00Z');
  it('refusals say which cap, with when room frees up, within 2,000 characters', () => {
    expect(refusalMessage({ cap: 'allowed_guilds' })).toMatch(/does not make videos in this server/);
    expect(refusalMessage({ cap: 'guild_budget', used: 600, limit: 600, need: 8, freesAt: at })).toBe(
      'This server has used 600 of its 600 video-seconds for the last 24 hours, so an 8-second video does not fit. ' +
        'Room for this one frees up <t:1796119200:R>.',
    );
    expect(refusalMessage({ cap: 'global_budget', used: 1796, limit: 1800, need: 8, freesAt: at })).toMatch(
      /^The bot has used 1796 of the 1800 video-seconds .* A video of up to 4 seconds still fits now\. Room for this one frees up <t:1796119200:R>\.$/,
    );
    expect(refusalMessage({ cap: 'member_quota', scope: 'bot', used: 5, limit: 5, freesAt: at })).toBe(
      'You have used your 5 videos for the last 24 hours. Failures caused by the bot or Google do not count; your ' +
        'next one frees up <t:1796119200:R>.',
    );
    expect(refusalMessage({ cap: 'member_quota', scope: 'server', used: 1, limit: 1, freesAt: at })).toMatch(
      /^You have used your 1 video in this server for the last 24 hours\./,
    );
    const many = Array.from({ length: 500 }, (_, i) => `1300000000000${String(i).padStart(6, '0')}`);
    expect(refusalMessage({ cap: 'channel', allowedChannelIds: many }).length).toBeLessThanOrEqual(LIMITS.content);
  });

  it('/usage shows the quota and the budgets with when room frees', () => {
    const embed = usageEmbed({
      quota: { used: 5, limit: 5, freesAt: at, scope: 'bot' },
      guild: { used: 40, limit: 600, freesAt: null },
      global: { used: 1800, limit: 1800, freesAt: at },
      typicalNeed: 8,
    });
    const text = JSON.stringify(embed);
    expect(text).toContain('5 of 5 videos used · your next one frees up <t:1796119200:R>');
    expect(text).toContain('40 of 600 video-seconds used');
    expect(text).toContain('1800 of 1800 video-seconds used · room for an 8-second video frees up <t:1796119200:R>');
  });

  it('a paid video delivered after an admin expired its request says so', () => {
    const row = {
      id: '00000000-0000-4000-8000-000000000001',
      prompt: 'a fox',
      status: 'completed',
      expiredBy: '1300000000000000102',
      aspectRatio: '16:9',
    } as VideoRequestRow;
    expect(JSON.stringify(resultEmbed(row, { resumed: true }))).toContain('A server admin had stopped waiting');
    const timedOut = { ...row, status: 'timeout', failureKind: 'admin', operationName: OP } as VideoRequestRow;
    expect(JSON.stringify(resultEmbed(timedOut, { resumed: false }))).toContain(
      'if it still finishes, it will be posted',
    );
  });

  it('a settings change is told option by option', () => {
    expect(
      settingsChangedText([
        { setting: 'memberDailyQuota', oldValue: null, newValue: '2' },
        { setting: 'allowHd', oldValue: null, newValue: 'false' },
      ]),
    ).toBe('Saved (applies at once, on every instance). member_daily_quota: default → 2; hd: default → not allowed.');
  });
});
