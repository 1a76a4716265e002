/**
 * Two instances side by side (issue #7, part 2): two real bot processes on one PostgreSQL database and one Redis
 * database while 100 requests flow through them, 40 left unfinished by a dead instance (20 pending, 20 generating with
 * an operation Veo already accepted) and 60 new `/video` requests sent to both gateway sessions while the backlog is
 * being resumed. Counted from what Discord and Veo saw: no request submitted twice, none announced twice, none lost.
 */
import { testRedisUrl } from '../helpers/redis';
import Redis from 'ioredis';
import type { InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { resultNotifications, submitsFor } from '../helpers/outcomes';
import { seedGeneratingRow, seedRow } from '../helpers/seedRows';

jest.setTimeout(300_000);

/** A Redis database of its own, so these bots' BullMQ queue never meets another test's. */
const REDIS_URL = testRedisUrl(7);
const GUILD = WORLD.guilds.main.id;
const CHANNELS = [WORLD.guilds.main.channels.general.id, WORLD.guilds.main.channels.videos.id];
const USERS = [WORLD.users.member.id, WORLD.users.member2.id, WORLD.users.admin.id, WORLD.users.owner.id];

describe('two instances on one PostgreSQL and one Redis, 100 requests (resumed and new)', () => {
  let world: E2EWorld;
  let redis: Redis;

  beforeEach(async () => {
    world = await E2EWorld.start();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    await redis.flushdb();
  });
  afterEach(async () => {
    await world?.close();
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
  });

  it('every request finished, submitted once and announced once; both instances did part of the work', async () => {
    // Each video takes a second and a half, so the backlog and the new requests overlap on both instances.
    world.google.setDefaultFate({ kind: 'done', afterMs: 1_500, videoBytes: 20_000 });
    const ds = world.db.database.dataSource;

    // 40 rows as a dead instance left them (its lease ran out).
    const backlog: string[] = [];
    for (let i = 0; i < 40; i++) {
      const spec = { userId: USERS[i % USERS.length]!, channelId: CHANNELS[i % 2]!, prompt: `left behind ${i}` };
      // Every other one had already been accepted by Veo: resuming must poll, not submit again.
      backlog.push(i % 2 === 1 ? (await seedGeneratingRow(world, undefined, spec)).id : await seedRow(world, spec));
    }

    const env = { REDIS_URL, RESUME_CONCURRENCY: '3', DAILY_QUOTA: '1000' };
    const [a, b] = await Promise.all([
      world.startBot({ ...env, INSTANCE_ID: 'instance-a' }),
      world.startBot({ ...env, INSTANCE_ID: 'instance-b' }),
    ]);
    await world.discord.waitFor(
      () => world.discord.sessions.filter((s) => s.ready && s.connected).length >= 2,
      15_000,
      'both gateway sessions',
    );

    // 60 new requests, alternating between the two sessions (so both instances take live work), while the backlog runs.
    const handles: InteractionHandle[] = [];
    for (let i = 0; i < 60; i++) {
      handles.push(
        world.discord.pushInteraction({
          name: 'video',
          guildId: GUILD,
          channelId: CHANNELS[i % 2]!,
          userId: USERS[i % USERS.length]!,
          options: { prompt: `fresh request ${i}`, length: 4 },
          sessionIndex: i % 2,
        }),
      );
      await new Promise((r) => setTimeout(r, 150));
    }
    for (const h of handles) await h.waitForAck(10_000);

    const tokens = handles.map((h) => h.token);
    const newIds = async () =>
      (await ds.query(`SELECT id FROM video_requests WHERE interaction_token = ANY($1)`, [tokens])).map(
        (r: { id: string }) => r.id,
      ) as string[];
    const deadline = Date.now() + 200_000;
    for (;;) {
      const [{ waiting }] = (await ds.query(
        `SELECT count(*)::int AS waiting FROM video_requests WHERE status IN ('pending', 'generating') OR announcement IS DISTINCT FROM 'sent'`,
      )) as { waiting: number }[];
      if (waiting === 0 && (await newIds()).length === 60) break;
      if (Date.now() > deadline) throw new Error(`still ${waiting} request(s) unfinished or unannounced`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Give a late duplicate the chance to show up before counting.
    await new Promise((r) => setTimeout(r, 2_000));

    const ids = [...backlog, ...(await newIds())];
    expect(ids).toHaveLength(100);
    const twiceSubmitted = ids.filter((id) => submitsFor(world.google, id) !== 1);
    const notOnce = ids.filter((id) => resultNotifications(world.discord, id).length !== 1);
    expect(twiceSubmitted).toEqual([]);
    expect(notOnce).toEqual([]);
    expect(world.google.submits).toHaveLength(100);

    const rows = (await ds.query(`SELECT status, lease_owner, fence, submit_attempts FROM video_requests`)) as {
      status: string;
      lease_owner: string | null;
      submit_attempts: number;
    }[];
    expect(rows).toHaveLength(100);
    expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);
    // Both instances took part: in the live requests and in resuming the backlog.
    const backlogOwners = (await ds.query(
      `SELECT DISTINCT lease_owner FROM video_requests WHERE id = ANY($1::uuid[])`,
      [backlog],
    )) as { lease_owner: string }[];
    expect(new Set(backlogOwners.map((r) => r.lease_owner))).toEqual(new Set(['instance-a', 'instance-b']));
    const liveOwners = (await ds.query(
      `SELECT DISTINCT lease_owner FROM video_requests WHERE interaction_token = ANY($1)`,
      [tokens],
    )) as { lease_owner: string }[];
    expect(new Set(liveOwners.map((r) => r.lease_owner))).toEqual(new Set(['instance-a', 'instance-b']));
    // New requests were answered in their own /video reply.
    const idByToken = new Map(
      (
        (await ds.query(`SELECT id, interaction_token FROM video_requests WHERE interaction_token = ANY($1)`, [
          tokens,
        ])) as { id: string; interaction_token: string }[]
      ).map((r) => [r.interaction_token, r.id]),
    );
    const answeredElsewhere = handles.filter(
      (h) => resultNotifications(world.discord, idByToken.get(h.token)!)[0]?.id !== h.original()?.id,
    );
    expect(answeredElsewhere.map((h) => h.token.slice(0, 24))).toEqual([]);
    expect(a.running && b.running).toBe(true);
  });
});
