import { PermissionFlagsBits } from 'discord.js';
import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { waitForRefusal, waitForResult } from '../helpers/videoReplies';

// `/settings show|set` (issue #13, point 3) against the real bot, the Discord and Google emulators and PostgreSQL:
// Manage Server only, values within the operator's caps, a change takes effect at once and survives a restart.

jest.setTimeout(180_000);

const MAIN = WORLD.guilds.main;
const ADMIN = WORLD.users.admin.id;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;
const ENV = { DAILY_QUOTA: '5', GUILD_DAILY_VIDEO_SECONDS: '600' };

describe('/settings (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate({ kind: 'done', afterMs: 200, videoBytes: 16 * 1024 });
    await world.startBot(ENV);
  });
  afterAll(async () => world?.close());

  function settings(
    subcommand: 'show' | 'set',
    options: Record<string, string | number | boolean> = {},
    userId = ADMIN,
  ) {
    return world.discord.pushInteraction({
      name: 'settings',
      subcommand,
      options,
      userId,
      guildId: MAIN.id,
      channelId: MAIN.channels.general.id,
    });
  }
  const answer = (h: InteractionHandle): Promise<EmulatedMessage> =>
    h.waitForReply((m) => !m.loading && (m.content.length > 0 || m.embeds.length > 0), 10_000);
  const field = (m: EmulatedMessage, name: string) =>
    (m.embeds[0]?.fields as { name: string; value: string }[] | undefined)?.find((f) => f.name === name)?.value;

  it('is registered for servers only, shown by default to members with Manage Server', () => {
    const cmd = world.discord.commands.global.find((c) => c.name === 'settings');
    expect(cmd.default_member_permissions).toBe(PermissionFlagsBits.ManageGuild.toString());
    expect(cmd.contexts).toEqual([0]);
    const set = cmd.options.find((o: { name: string }) => o.name === 'set');
    expect(set.options.map((o: { name: string }) => o.name).sort()).toEqual([
      'audio',
      'channels',
      'daily_video_seconds',
      'hd',
      'longest_length',
      'member_daily_quota',
    ]);
    const usage = world.discord.commands.global.find((c) => c.name === 'usage');
    expect(usage.default_member_permissions ?? null).toBeNull(); // for every member
  });

  it('refuses members without Manage Server, and out-of-range values with the allowed range, changing nothing', async () => {
    const denied = await answer(settings('set', { member_daily_quota: 1 }, MEMBER));
    expect(denied.ephemeral).toBe(true);
    expect(denied.content).toMatch(/Manage Server/);

    const refused = await answer(settings('set', { member_daily_quota: 9, daily_video_seconds: 5000 }));
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toBe(
      'Nothing was changed.\n' +
        'member_daily_quota: must be a whole number from 0 to 5 videos per member (you gave 9).\n' +
        'daily_video_seconds: must be a whole number from 0 to 600 video-seconds (you gave 5000).',
    );
    const foreign = await answer(settings('set', { channels: `<#${WORLD.guilds.other.channels.general.id}>` }));
    expect(foreign.content).toContain('is not a text channel of this server');
    expect(await world.db.database.dataSource.query(`SELECT * FROM guild_settings`)).toEqual([]);
  });

  it('a change takes effect at once, is recorded with who made it, and survives a restart', async () => {
    const videos = MAIN.channels.videos.id;
    const saved = await answer(
      settings('set', { member_daily_quota: 1, hd: false, longest_length: 4, channels: `<#${videos}>` }),
    );
    expect(saved.content).toBe(
      `Saved (applies at once, on every instance). channels: default → <#${videos}>; member_daily_quota: default → 1; ` +
        'hd: default → not allowed; longest_length: default → 4.',
    );
    expect(field(saved, 'member_daily_quota')).toMatch(/^1 videos per member here per 24 h · allowed 0–5$/);

    // At once: the other channel is refused, HD and 8 seconds are refused, and no option means 4 seconds, 720p.
    const inGeneral = world.video({ prompt: 'a lighthouse at dusk' });
    expect(await waitForRefusal(inGeneral)).toBe(`Videos can only be made in <#${videos}>.`);
    const tooMuch = world.video({ prompt: 'a lighthouse at dusk', hd: true, length: 8 }, { channelId: videos });
    expect(await waitForRefusal(tooMuch)).toBe(
      'HD (1080p) videos are turned off in this server.\nThis server allows videos of up to 4 seconds.',
    );
    const made = await waitForResult(world.video({ prompt: 'a lighthouse at dusk' }, { channelId: videos }));
    expect(made.embeds[0].title).toMatch(/ready/);
    expect(world.google.submits.at(-1)!.parameters).toMatchObject({ durationSeconds: 4, resolution: '720p' });
    const again = world.video({ prompt: 'a second lighthouse' }, { channelId: videos });
    expect(await waitForRefusal(again)).toMatch(/^You have used your 1 video in this server for the last 24 hours\./);

    // Recorded with who made it, and logged.
    const changes = await world.db.database.dataSource.query(
      `SELECT user_id, setting, old_value, new_value FROM guild_setting_changes ORDER BY id`,
    );
    expect(changes).toEqual([
      { user_id: ADMIN, setting: 'allowedChannelIds', old_value: null, new_value: videos },
      { user_id: ADMIN, setting: 'memberDailyQuota', old_value: null, new_value: '1' },
      { user_id: ADMIN, setting: 'allowHd', old_value: null, new_value: 'false' },
      { user_id: ADMIN, setting: 'maxLengthSeconds', old_value: null, new_value: '4' },
    ]);
    expect(
      world.bots[0]!.logs.filter(
        (l) => l.msg === 'server setting changed' && l.user_id === ADMIN && l.guild_id === MAIN.id,
      ),
    ).toHaveLength(4);

    // A restart: the settings are in PostgreSQL, so the new process shows and applies them.
    await world.bots[0]!.stop();
    await world.startBot(ENV);
    const shown = await answer(settings('show'));
    expect(shown.ephemeral).toBe(true);
    expect(field(shown, 'channels')).toBe(`<#${videos}>`);
    expect(field(shown, 'hd')).toBe('not allowed');
    expect(field(shown, 'longest_length')).toBe('4 seconds');
    expect(field(shown, 'audio')).toBe('allowed (default)');
    expect(field(shown, 'daily_video_seconds')).toBe('600 video-seconds per 24 h (default) · allowed 0–600');
    expect(field(shown, 'Latest changes')).toContain(`<@${ADMIN}>`);
    expect(shown.pinged).toEqual({ users: [], roles: [], everyone: false });
    const afterRestart = world.video({ prompt: 'a long pan', length: 8 }, { userId: MEMBER2, channelId: videos });
    expect(await waitForRefusal(afterRestart)).toBe('This server allows videos of up to 4 seconds.');

    // `all` brings the channels back to the operator's default.
    const reset = await answer(settings('set', { channels: 'all' }));
    expect(reset.content).toBe(`Saved (applies at once, on every instance). channels: <#${videos}> → default.`);
    const anywhere = await waitForResult(world.video({ prompt: 'a short pan' }, { userId: MEMBER2 }));
    expect(anywhere.embeds[0].title).toMatch(/ready/);
  });
});
