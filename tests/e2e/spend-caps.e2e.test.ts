import Redis from 'ioredis';
import type { InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { freePort, metricValue, scrapeMetrics } from '../helpers/metrics';
import { testRedisUrl } from '../helpers/redis';
import { waitForRefusal, waitForResult } from '../helpers/videoReplies';

// The operator's caps (issue #13, point 2) against the real bot, the Discord and Google emulators and PostgreSQL:
// servers outside ALLOWED_GUILD_IDS, and the per-server and global video-seconds budgets held across two instances.

jest.setTimeout(240_000);

const MAIN = WORLD.guilds.main;
const OTHER = WORLD.guilds.other;
/** A Redis database of its own, so these bots' BullMQ queue never meets another test's. */
const REDIS_URL = testRedisUrl(11);

describe('operator caps', () => {
  let world: E2EWorld;
  afterEach(async () => world?.close());

  it('a server outside ALLOWED_GUILD_IDS is refused with a clear message, without a row or a Veo call', async () => {
    world = await E2EWorld.start();
    const port = await freePort();
    await world.startBot({ ALLOWED_GUILD_IDS: MAIN.id, HTTP_PORT: String(port) });
    const calls = world.google.submitCalls;

    const refused = world.video(
      { prompt: 'a heron in the reeds' },
      { guildId: OTHER.id, channelId: OTHER.channels.general.id },
    );
    expect(await refused.waitForAck(5_000)).toBe(4); // answered at once, never deferred
    expect(await waitForRefusal(refused)).toBe(
      'This bot does not make videos in this server: its operator allows it only in certain servers.',
    );
    expect(refused.original()!.ephemeral).toBe(true);
    expect(await world.requestsOf(WORLD.users.member.id)).toEqual([]);
    expect(world.google.submitCalls).toBe(calls);

    // The allowed server works as before.
    const made = await waitForResult(world.video({ prompt: 'a heron in the reeds' }));
    expect(made.embeds[0].title).toMatch(/ready/);
    expect(metricValue(await scrapeMetrics(port), 'veobot_requests_refused_total', { cap: 'allowed_guilds' })).toBe(1);
  });

  it('per-server and global budgets refuse with the reason and hold across two instances: no overshoot under 20 concurrent requests', async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate({ kind: 'done', afterMs: 200, videoBytes: 16 * 1024 });
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    await redis.flushdb();
    try {
      // 40 video-seconds per server (five 8-second videos), 64 for the whole bot (eight).
      const env = {
        REDIS_URL,
        DAILY_QUOTA: '100',
        GUILD_DAILY_VIDEO_SECONDS: '40',
        GLOBAL_DAILY_VIDEO_SECONDS: '64',
      };
      await Promise.all([
        world.startBot({ ...env, INSTANCE_ID: 'instance-a' }),
        world.startBot({ ...env, INSTANCE_ID: 'instance-b' }),
      ]);
      await world.discord.waitFor(
        () => world.discord.sessions.filter((s) => s.ready && s.connected).length >= 2,
        15_000,
        'both gateway sessions',
      );

      // 20 requests at once in one server, alternating between the two instances.
      const burst = (guild: typeof MAIN | typeof OTHER, users: string[], tag: string): InteractionHandle[] =>
        Array.from({ length: 20 }, (_, i) =>
          world.discord.pushInteraction({
            name: 'video',
            guildId: guild.id,
            channelId: guild.channels.general.id,
            userId: users[i % users.length]!,
            options: { prompt: `${tag} ${i}`, length: 8 },
            sessionIndex: i % 2,
          }),
        );
      const mainUsers = [WORLD.users.member.id, WORLD.users.member2.id, WORLD.users.admin.id, WORLD.users.owner.id];
      const first = burst(MAIN, mainUsers, 'a tide pool at noon');
      const acks = await Promise.all(first.map((h) => h.waitForAck(10_000)));
      expect(acks.filter((t) => t === 5)).toHaveLength(5); // deferred: accepted
      expect(acks.filter((t) => t === 4)).toHaveLength(15); // answered at once: refused
      const serverRefusals = await Promise.all(
        first.filter((h) => h.interaction.ackType === 4).map((h) => waitForRefusal(h)),
      );
      for (const text of serverRefusals) {
        expect(text).toMatch(
          /^This server has used 40 of its 40 video-seconds for the last 24 hours, so an 8-second video does not fit\. Room for this one frees up <t:\d+:R>\.$/,
        );
      }

      const otherUsers = [WORLD.users.member.id, WORLD.users.otherAdmin.id, WORLD.users.owner.id];
      const second = burst(OTHER, otherUsers, 'a kelp forest at dusk');
      const acks2 = await Promise.all(second.map((h) => h.waitForAck(10_000)));
      expect(acks2.filter((t) => t === 5)).toHaveLength(3); // 64 - 40 = 24 video-seconds left for the whole bot
      for (const h of second.filter((x) => x.interaction.ackType === 4)) {
        expect(await waitForRefusal(h)).toMatch(
          /^The bot has used 64 of the 64 video-seconds its operator allows all servers together for the last 24 hours, so an 8-second video does not fit\. Room for this one frees up <t:\d+:R>\.$/,
        );
      }

      // What Veo was asked for never went past either budget.
      const accepted = [...first, ...second].filter((h) => h.interaction.ackType === 5);
      await Promise.all(accepted.map((h) => waitForResult(h, 60_000)));
      expect(world.google.submits).toHaveLength(8);
      expect(world.google.billedSeconds).toBe(64);
      const rows = await world.db.database.dataSource.query(
        `SELECT guild_id, count(*)::int AS n, sum(duration_seconds)::int AS s FROM video_requests GROUP BY guild_id ORDER BY guild_id`,
      );
      expect(rows).toEqual([
        { guild_id: MAIN.id, n: 5, s: 40 },
        { guild_id: OTHER.id, n: 3, s: 24 },
      ]);

      // /usage tells a member where they and the server stand; /resume status tells admins the budget and the queue.
      const usage = world.discord.pushInteraction({
        name: 'usage',
        guildId: MAIN.id,
        channelId: MAIN.channels.general.id,
        userId: WORLD.users.member.id,
      });
      const shown = await usage.waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
      expect(shown.ephemeral).toBe(true);
      const text = JSON.stringify(shown.embeds[0]);
      const mine = (await world.requestsOf(WORLD.users.member.id)).length;
      expect(text).toContain(`${mine} of 100 videos used · ${100 - mine} left now`);
      expect(text).toMatch(/40 of 40 video-seconds used · room for an 8-second video frees up <t:\d+:R>/);
      expect(text).toMatch(/64 of 64 video-seconds used/);

      const status = world.discord.pushInteraction({
        name: 'resume',
        subcommand: 'status',
        guildId: MAIN.id,
        channelId: MAIN.channels.general.id,
        userId: WORLD.users.admin.id,
      });
      const page = await status.waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
      const fields = page.embeds[0].fields as { name: string; value: string }[];
      expect(fields.find((f) => f.name === 'Budget (24 h)')?.value).toBe('40 of 40 video-seconds');
      expect(fields.find((f) => f.name === 'Waiting for Veo')?.value).toBe('nobody');
    } finally {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    }
  });
});
