/**
 * Resume after a restart, end to end: the real bot process (dist/index.js) against the Discord and Google emulators
 * and a fresh PostgreSQL database, killed with SIGKILL and started again, two instances side by side, a database of
 * the original bot, and a large backlog.
 */
import { testRedisUrl } from '../helpers/redis';
import Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import type { EmulatedMessage } from '../emulators/discord';
import { createLegacyDatabase, type LegacyDatabase } from '../helpers/db';
import { E2EWorld, WORLD } from '../helpers/e2e';
import {
  googleClients,
  seedGeneratingRow,
  seedRow,
  submitOperationFor,
  submitsFor,
  waitUntil,
} from '../helpers/seedRows';

jest.setTimeout(180_000);

const GUILD = WORLD.guilds.main.id;
const CH = WORLD.guilds.main.channels;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;
const RESUMED = 'Resumed after bot restart';
/** A Redis database of its own, so these bots' BullMQ queue never meets another test's. */
const REDIS_URL = testRedisUrl(5);

type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** Every message the bot wrote (channel messages and interaction replies) that carries this request's marker. */
function resultMessages(world: E2EWorld, id: string): EmulatedMessage[] {
  return world.discord
    .messages()
    .filter(
      (m) =>
        m.authorId === WORLD.botUserId &&
        m.embeds.some(
          (e) =>
            String(e.footer?.text ?? '').includes(id) &&
            !String(e.title ?? '').includes('Making') &&
            !String(e.title ?? '').includes('Finished after a bot restart'),
        ),
    );
}

function expectChannelAnnouncement(world: E2EWorld, id: string, channelId: string, userId: string): EmulatedMessage {
  const messages = resultMessages(world, id);
  expect(messages).toHaveLength(1);
  const m = messages[0]!;
  expect(m).toMatchObject({ kind: 'channel', channelId });
  expect(m.embeds[0].footer.text).toContain(RESUMED);
  expect(m.content).toContain(`<@${userId}>`);
  expect(m.pinged).toEqual({ users: [userId], roles: [], everyone: false });
  return m;
}

async function announcedAll(ds: DataSource | { query: Query }, ids: string[]): Promise<boolean> {
  const rows = (await ds.query(
    `SELECT count(*)::int AS n FROM video_requests WHERE id = ANY($1::uuid[]) AND announcement = 'sent'`,
    [ids],
  )) as { n: number }[];
  return rows[0]!.n === ids.length;
}

describe('resume after restart (real bot processes, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;
  let query: Query;

  beforeEach(async () => {
    world = await E2EWorld.start();
    const ds = world.db.database.dataSource;
    query = (sql, params) => ds.query(sql, params) as Promise<Record<string, unknown>[]>;
  });
  afterEach(async () => world?.close());

  it('SIGKILL mid-generation, restart: one channel message pings the requester, the stale reply points to it, Veo saw one submit', async () => {
    world.google.setDefaultFate({ kind: 'done', afterMs: 6_000, videoBytes: 48_000 });
    const first = await world.startBot();
    const handle = world.video({ prompt: 'a heron fishing at dawn', length: 4 });
    await handle.waitForAck(5_000);
    const [generating] = await world.waitForRow((rows) => rows[0]?.status === 'generating', MEMBER);
    await first.kill();

    const second = await world.startBot();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);
    expect(row).toMatchObject({
      id: generating!.id,
      status: 'completed',
      deliveredAs: 'attachment',
      submitAttempts: 1,
    });
    expect(world.google.submits).toHaveLength(1);

    // An edit notifies nobody, so the resumed result is a new message that mentions (and pings) only the requester.
    const message = expectChannelAnnouncement(world, row!.id, CH.general.id, MEMBER);
    expect(message.attachments).toHaveLength(1);
    expect(row!.notificationMessageId).toBe(message.id);
    // The token is still fresh: the stuck progress embed now points to the result instead of saying "Generating".
    const pointer = await world.discord.waitFor(
      () => handle.original()?.embeds.find((e) => String(e.title).includes('Finished after a bot restart')),
      10_000,
      'the original reply to point to the result',
    );
    expect(pointer.description).toContain(message.id);
    expect(handle.original()!.attachments).toEqual([]);
    expect(handle.followUps()).toEqual([]);
    expect(second.logs.some((l) => l.msg === 'gateway ready')).toBe(true);
  });

  it('SIGKILL mid-generation, restart after the token expired: one channel message pinging only the requester', async () => {
    world.google.setDefaultFate({ kind: 'done', afterMs: 5_000, videoBytes: 48_000 });
    const first = await world.startBot();
    const handle = world.video({ prompt: 'a snail crossing a leaf', length: 4 }, { channelId: CH.videos.id });
    await handle.waitForAck(5_000);
    const [generating] = await world.waitForRow((rows) => rows[0]?.status === 'generating', MEMBER);
    await first.kill();
    // The bot stayed down for 20 minutes: Discord's token has expired, and the row knows it.
    world.discord.clock.advance(20 * 60_000);
    await query(`UPDATE video_requests SET interaction_expires_at = now() - interval '5 minutes' WHERE id = $1`, [
      generating!.id,
    ]);

    await world.startBot();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);

    expect(row).toMatchObject({ status: 'completed', submitAttempts: 1 });
    const message = expectChannelAnnouncement(world, row!.id, CH.videos.id, MEMBER);
    expect(message.attachments).toHaveLength(1);
    expect(row!.notificationMessageId).toBe(message.id);
    expect(world.google.submits).toHaveLength(1);
    // The original (deferred) reply was not turned into a second result.
    expect(handle.original()?.embeds.some((e) => String(e.footer?.text ?? '').includes(RESUMED)) ?? false).toBe(false);
  });

  it('resumes pending and generating rows found at startup and announces them in their channels', async () => {
    const pending = await seedRow(world, { prompt: 'pending before the crash', channelId: CH.general.id });
    const { id: generatingId, operationName } = await seedGeneratingRow(
      world,
      { kind: 'done', afterPolls: 2, videoBytes: 30_000 },
      { userId: MEMBER2, channelId: CH.videos.id },
    );
    const submitsBefore = world.google.submits.length;

    const bot = await world.startBot({}, { waitForCommands: false });
    await waitUntil('both rows announced', () => announcedAll(world.db.database.dataSource, [pending, generatingId]));

    expect(await world.tracking.requests.getById(pending)).toMatchObject({ status: 'completed', submitAttempts: 1 });
    expect(await world.tracking.requests.getById(generatingId)).toMatchObject({
      status: 'completed',
      submitAttempts: 1,
      operationName,
    });
    expect(submitsFor(world, pending)).toBe(1);
    expect(world.google.submits.length - submitsBefore).toBe(1);
    expectChannelAnnouncement(world, pending, CH.general.id, MEMBER);
    expectChannelAnnouncement(world, generatingId, CH.videos.id, MEMBER2);
    const finished = await bot.waitForLog((l) => l.event === 'resume_finished' && (l.total_resumed as number) >= 1);
    expect(finished).toMatchObject({ reason: 'startup', failures: 0 });
  });

  it('DISABLE_TASK_RESUME=true leaves unfinished rows alone and says so in the log', async () => {
    const id = await seedRow(world);
    const bot = await world.startBot({ DISABLE_TASK_RESUME: 'true' }, { waitForCommands: false });
    await bot.waitForLog((l) => String(l.msg).includes('automatic resume is disabled'));
    // Several sweep intervals (SWEEP_INTERVAL_MS=1000) pass with nothing claimed.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await world.tracking.requests.getById(id)).toMatchObject({
      status: 'pending',
      submitAttempts: 0,
      leaseOwner: 'dead-instance',
    });
    expect(world.google.submitCalls).toBe(0);
    expect(world.channelMessages(CH.general.id)).toEqual([]);
    expect(bot.logs.some((l) => l.event === 'resume_start')).toBe(false);
  });

  it('two instances on one database and Redis resume 20 rows: each submitted once and announced once', async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    await redis.flushdb();
    try {
      // Each generation takes a second, so the backlog outlasts either bot's start and both take part.
      world.google.setDefaultFate({ kind: 'done', afterMs: 1_000, videoBytes: 20_000 });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++)
        ids.push(
          await seedRow(world, {
            prompt: `shared backlog ${i}`,
            userId: i % 2 ? MEMBER : MEMBER2,
            channelId: i % 3 ? CH.general.id : CH.videos.id,
          }),
        );

      const env = { REDIS_URL, RESUME_CONCURRENCY: '3' };
      const [a, b] = await Promise.all([
        world.startBot({ ...env, INSTANCE_ID: 'instance-a' }, { waitForCommands: false }),
        world.startBot({ ...env, INSTANCE_ID: 'instance-b' }, { waitForCommands: false }),
      ]);
      await waitUntil('all 20 announced', () => announcedAll(world.db.database.dataSource, ids), 120_000);
      // Give a duplicate the chance to show up before counting.
      await new Promise((r) => setTimeout(r, 2_000));

      for (const id of ids) {
        expect(submitsFor(world, id)).toBe(1);
        expect(resultMessages(world, id)).toHaveLength(1);
      }
      expect(world.google.submits).toHaveLength(20);
      const rows = await query(`SELECT status, submit_attempts, lease_owner FROM video_requests`);
      expect(rows.every((r) => r.status === 'completed' && r.submit_attempts === 1)).toBe(true);
      // Both instances did part of the work (the claims really competed).
      expect(new Set(rows.map((r) => r.lease_owner))).toEqual(new Set(['instance-a', 'instance-b']));
      expect(
        a.logs.some((l) => l.msg === 'scheduled tasks on Redis (BullMQ): several instances can share the work'),
      ).toBe(true);
      expect(b.running && a.running).toBe(true);
    } finally {
      await redis.flushdb().catch(() => undefined);
      redis.disconnect();
    }
  });

  describe('on a database of the original bot', () => {
    let legacy: LegacyDatabase;
    afterEach(async () => legacy?.drop());

    it('is upgraded at start and its unfinished rows resumed; finished rows are not announced again', async () => {
      legacy = await createLegacyDatabase('postgres');
      const insert = async (status: string, extra: { operation?: string; prefix?: string; urls?: string[] } = {}) =>
        (
          await legacy.query(
            `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio, status, operation_name, gcs_prefix, video_urls, created_at, completed_at)
             VALUES ($1, $2, $3, 'an old bot request', 8, '16:9', '720p', true, $4, $5, $6, $7, now() - interval '10 minutes', CASE WHEN $4 = 'completed' THEN now() END) RETURNING id`,
            [MEMBER, GUILD, CH.general.id, status, extra.operation ?? null, extra.prefix ?? null, extra.urls ?? null],
          )
        )[0]!.id as string;
      const pending = await insert('pending');
      const done = await insert('completed', { urls: [`gs://${world.google.bucket}/legacy/sample_0.mp4`] });
      const generating = await insert('pending');
      const { operationName, prefix } = await submitOperationFor(googleClients(world), generating, {
        kind: 'done',
        afterPolls: 1,
        videoBytes: 25_000,
      });
      await legacy.query(
        `UPDATE video_requests SET status = 'generating', operation_name = $2, gcs_prefix = $3, started_at = now() WHERE id = $1`,
        [generating, operationName, prefix],
      );
      await legacy.release();
      const submitsBefore = world.google.submits.length;

      await world.startBot({ DATABASE_URL: legacy.url! }, { waitForCommands: false });
      await waitUntil('legacy rows announced', () => announcedAll({ query: legacy.query }, [pending, generating]));

      const rows = await legacy.query(`SELECT id, status, model, announcement FROM video_requests`);
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      expect(byId.get(pending)).toMatchObject({
        status: 'completed',
        model: 'veo-3.1-fast-generate-001',
        announcement: 'sent',
      });
      expect(byId.get(generating)).toMatchObject({ status: 'completed', announcement: 'sent' });
      expect(byId.get(done)).toMatchObject({ status: 'completed', announcement: null });
      expect(world.google.submits.length - submitsBefore).toBe(1);
      expect(submitsFor(world, pending)).toBe(1);
      expectChannelAnnouncement(world, pending, CH.general.id, MEMBER);
      expectChannelAnnouncement(world, generating, CH.general.id, MEMBER);
      expect(resultMessages(world, done)).toEqual([]);
    });
  });

  it('reaches READY and serves /video while 2,000 unfinished rows wait to be resumed', async () => {
    world.google.fateForPrompt('backlog row', { kind: 'never' });
    await query(
      `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, status, model, created_at, fence)
       SELECT $1, $2, $3, 'backlog row ' || n, 4, '16:9', '720p', 'pending', 'veo-3.1-fast-generate-001', now() - interval '1 hour' + n * interval '1 millisecond', 0
       FROM generate_series(1, 2000) AS n`,
      [MEMBER2, GUILD, CH.general.id],
    );

    // The backlog reserves 8,000 video-seconds of the last 24 hours; the daily budgets are not what this is about.
    const bot = await world.startBot({
      RESUME_CONCURRENCY: '3',
      GUILD_DAILY_VIDEO_SECONDS: '0',
      GLOBAL_DAILY_VIDEO_SECONDS: '0',
    });
    await bot.waitForLog((l) => l.event === 'resume_start');
    const handle = world.video({ prompt: 'a fresh request during the backlog', length: 4 });
    expect(await handle.waitForAck(5_000)).toBe(5);
    const reply = await handle.waitForReply((m) => m.attachments.length > 0, 60_000);
    expect(reply.embeds[0].footer.text).not.toContain(RESUMED);

    const [counts] = await query(
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending FROM video_requests WHERE user_id = $1`,
      [MEMBER2],
    );
    // Still waiting: the backlog is worked through three at a time, behind the live bot.
    expect(counts!.pending as number).toBeGreaterThan(1_900);
    expect(world.google.maxInFlight).toBeLessThanOrEqual(4);
    expect(bot.logs.find((l) => l.event === 'resume_start')).toMatchObject({ pending: 2000 });
  });
});
