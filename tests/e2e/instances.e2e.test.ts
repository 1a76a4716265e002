/**
 * Scale-out (issue #15), with real bot processes on one PostgreSQL and one Redis database:
 *
 * - one of two instances is killed (SIGKILL) while the survivor is busy with long Veo operations of its own; the dead
 *   one's requests are finished by the survivor and each requester is told once. LEASE_DURATION_MS is ten minutes, far
 *   longer than the test, so only the dead-owner rule (heartbeats) can explain the takeover; and the survivor's own
 *   requests are still running when it takes over, so claiming did not wait for them;
 * - `/resume status` on the survivor lists both instances, the dead one as not responding;
 * - a process restarted with the same INSTANCE_ID takes its interrupted request back at once (ten-minute lease too),
 *   under a new fence, without a second submit; a second live process with the same id is refused.
 */
import Redis from 'ioredis';
import type { InteractionHandle } from '../emulators/discord';
import { BotProcess } from '../helpers/botProcess';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { resultNotifications, submitsFor } from '../helpers/outcomes';
import { testRedisUrl } from '../helpers/redis';
import { seedGeneratingRow } from '../helpers/seedRows';

jest.setTimeout(240_000);

const REDIS_URL = testRedisUrl(12);
const MAIN = WORLD.guilds.main;
const TEN_MINUTES = String(10 * 60_000);
const SETTINGS = {
  REDIS_URL,
  LEASE_DURATION_MS: TEN_MINUTES,
  INSTANCE_DEAD_AFTER_MS: '4000',
  // A sweep could only claim what is free anyway; a slow one shows the takeover does not come from it.
  SWEEP_INTERVAL_MS: '60000',
  RESUME_CONCURRENCY: '10',
  DAILY_QUOTA: '1000',
};

interface RowState {
  id: string;
  status: string;
  lease_owner: string | null;
  fence: string;
  announcement: string | null;
  operation_name: string | null;
}

describe('instances: heartbeats, dead-owner takeover, same-id restart', () => {
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

  const rows = async (ids: string[]): Promise<RowState[]> =>
    (await world.db.database.dataSource.query(
      `SELECT id, status, lease_owner, fence, announcement, operation_name FROM video_requests
        WHERE id = ANY($1::uuid[]) ORDER BY created_at`,
      [ids],
    )) as RowState[];

  async function until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The ids of the requests these /video interactions created, once all are recorded. */
  const idsOf = (handles: InteractionHandle[]) =>
    until(async () => {
      const found = (await world.db.database.dataSource.query(
        `SELECT id FROM video_requests WHERE interaction_token = ANY($1) ORDER BY created_at`,
        [handles.map((h) => h.token)],
      )) as { id: string }[];
      return found.length === handles.length && found.map((r) => r.id);
    }, 'the requests to be recorded');

  const liveSessionIndex = (before: number) =>
    world.discord.waitFor(
      () => {
        const s = world.discord.sessions.findIndex((x, i) => i >= before && x.ready && x.connected);
        return s >= 0 ? s + 1 : undefined;
      },
      15_000,
      'a new gateway session',
    );

  it('kill -9 of one of two: the busy survivor finishes the dead one’s requests (ten-minute lease), each told once', async () => {
    // The survivor's own long work: requests it resumes at startup whose Veo operations never end in this test.
    const own: string[] = [];
    for (let i = 0; i < 2; i++) {
      own.push((await seedGeneratingRow(world, { kind: 'never' }, { prompt: `survivor's long one ${i}` })).id);
    }
    const survivor = await world.startBot({ ...SETTINGS, INSTANCE_ID: 'instance-b' });
    const survivorSession = (await liveSessionIndex(0)) - 1;
    await until(
      async () => (await rows(own)).every((r) => r.lease_owner === 'instance-b'),
      'the survivor to resume its own long requests',
    );
    // ...and a live request of its own, long too.
    world.google.fateForPrompt('survivor live', { kind: 'done', afterMs: 600_000 });
    const survivorLive = world.discord.pushInteraction({
      name: 'video',
      guildId: MAIN.id,
      channelId: MAIN.channels.general.id,
      userId: WORLD.users.member2.id,
      options: { prompt: 'survivor live and long', length: 4 },
      sessionIndex: survivorSession,
    });

    const victim = await world.startBot({ ...SETTINGS, INSTANCE_ID: 'instance-a' }, { waitForCommands: false });
    const victimSession = (await liveSessionIndex(survivorSession + 1)) - 1;
    // The victim's requests: Veo takes 12 s for each, so they are generating when it dies.
    world.google.fateForPrompt('victim', { kind: 'done', afterMs: 12_000, videoBytes: 20_000 });
    const users = [WORLD.users.member.id, WORLD.users.owner.id, WORLD.users.admin.id];
    const handles = users.map((userId, i) =>
      world.discord.pushInteraction({
        name: 'video',
        guildId: MAIN.id,
        channelId: MAIN.channels.videos.id,
        userId,
        options: { prompt: `victim request ${i}`, length: 4 },
        sessionIndex: victimSession,
      }),
    );
    for (const h of handles) await h.waitForAck(10_000);
    await survivorLive.waitForAck(10_000);
    const victimIds = await idsOf(handles);
    const [liveId] = await idsOf([survivorLive]);
    const before = await until(async () => {
      const r = await rows(victimIds);
      return r.every((x) => x.status === 'generating' && x.lease_owner === 'instance-a') && r;
    }, 'the victim’s requests to be generating');

    await victim.kill();

    // The survivor takes them over and finishes them; its own requests are still running meanwhile.
    const after = await until(
      async () => {
        const r = await rows(victimIds);
        return r.every((x) => x.status === 'completed' && x.announcement === 'sent') && r;
      },
      'the survivor to finish the dead instance’s requests',
      90_000,
    );
    const mine = await rows([...own, liveId!]);
    expect(mine.map((r) => [r.status, r.lease_owner])).toEqual([
      ['generating', 'instance-b'],
      ['generating', 'instance-b'],
      ['generating', 'instance-b'],
    ]);
    for (const [i, r] of after.entries()) {
      expect(r.lease_owner).toBe('instance-b');
      expect(Number(r.fence)).toBeGreaterThan(Number(before[i]!.fence));
      expect(r.operation_name).toBe(before[i]!.operation_name); // polled, not submitted again
      expect(submitsFor(world.google, r.id)).toBe(1);
    }
    const takeovers = survivor.logs.filter(
      (l) =>
        l.msg === 'request taken over: its lease ran out or its instance stopped beating' &&
        l.previous_owner === 'instance-a',
    );
    expect(takeovers.map((l) => l.request_id).sort()).toEqual([...victimIds].sort());

    // /resume status on the survivor: this bot, and the dead one not responding.
    const status = world.discord.pushInteraction({
      name: 'resume',
      subcommand: 'status',
      options: {},
      userId: WORLD.users.admin.id,
      guildId: MAIN.id,
      channelId: MAIN.channels.general.id,
      sessionIndex: survivorSession,
    });
    const reply = await status.waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
    const instances = (reply.embeds[0].fields as { name: string; value: string }[]).find((f) =>
      f.name.startsWith('Bot instances'),
    )!;
    expect(instances.name).toBe('Bot instances: 1 live, 1 not responding');
    expect(instances.value).toMatch(/^🟢 \*\*this bot\*\* · shard 0 · up /);
    expect(instances.value).toMatch(/\n🔴 instance `[0-9a-f]{6}` · \*\*not responding\*\*/);
    expect(instances.value).not.toMatch(/instance-a|instance-b/);

    // Each requester was told exactly once (a late duplicate would show up within the poll interval).
    await new Promise((r) => setTimeout(r, 1_000));
    for (const id of victimIds) expect(resultNotifications(world.discord, id)).toHaveLength(1);
    expect(survivor.running).toBe(true);
  });

  it('SIGTERM of one of two (a rolling restart): the survivor continues its in-flight requests at once, not at its next sweep', async () => {
    // A ten-minute lease and a ten-minute sweep: only the hand-over on the clean stop can explain the survivor
    // finishing them within this test.
    const env = { ...SETTINGS, SWEEP_INTERVAL_MS: TEN_MINUTES };
    await world.startBot({ ...env, INSTANCE_ID: 'instance-b' });
    const survivorSession = (await liveSessionIndex(0)) - 1;
    const leaving = await world.startBot({ ...env, INSTANCE_ID: 'instance-a' }, { waitForCommands: false });
    const leavingSession = (await liveSessionIndex(survivorSession + 1)) - 1;
    world.google.fateForPrompt('rolling', { kind: 'done', afterMs: 10_000, videoBytes: 20_000 });
    const handles = [WORLD.users.member.id, WORLD.users.member2.id].map((userId, i) =>
      world.discord.pushInteraction({
        name: 'video',
        guildId: MAIN.id,
        channelId: MAIN.channels.videos.id,
        userId,
        options: { prompt: `rolling restart ${i}`, length: 4 },
        sessionIndex: leavingSession,
      }),
    );
    for (const h of handles) await h.waitForAck(10_000);
    const ids = await idsOf(handles);
    const before = await until(async () => {
      const r = await rows(ids);
      return r.every((x) => x.status === 'generating' && x.lease_owner === 'instance-a') && r;
    }, 'the requests to be generating');

    expect(await leaving.stop()).toEqual({ code: 0, signal: null });
    const after = await until(
      async () => {
        const r = await rows(ids);
        return r.every((x) => x.status === 'completed' && x.announcement === 'sent') && r;
      },
      'the survivor to finish the requests handed over',
      90_000,
    );
    for (const [i, r] of after.entries()) {
      expect(r.lease_owner).toBe('instance-b');
      expect(r.operation_name).toBe(before[i]!.operation_name); // polled, not submitted again
      expect(submitsFor(world.google, r.id)).toBe(1);
      expect(resultNotifications(world.discord, r.id)).toHaveLength(1);
    }
  });

  it('same INSTANCE_ID restarted after kill -9 takes its request back at once (ten-minute lease); a live duplicate is refused', async () => {
    const env = { ...SETTINGS, INSTANCE_ID: 'veobot-0' };
    const first = await world.startBot(env);
    world.google.fateForPrompt('interrupted', { kind: 'done', afterMs: 6_000, videoBytes: 20_000 });
    const handle = world.video({ prompt: 'interrupted by a kill', length: 4 });
    await handle.waitForAck(10_000);
    const [id] = await idsOf([handle]);
    const [before] = await until(async () => {
      const r = await rows([id!]);
      return r[0]!.status === 'generating' && r;
    }, 'the request to be generating');
    await first.kill();

    const second = await world.startBot(env, { waitForCommands: false });
    const registered = await second.waitForLog((l) => l.event === 'instance_registered', 5_000);
    expect(registered).toMatchObject({ replaced_incarnation: true, leases_freed: 1 });
    const [after] = await until(async () => {
      const r = await rows([id!]);
      return r[0]!.status === 'completed' && r[0]!.announcement === 'sent' && r;
    }, 'the restarted process to finish its request');
    expect(after!.lease_owner).toBe('veobot-0');
    expect(Number(after!.fence)).toBeGreaterThan(Number(before!.fence));
    expect(submitsFor(world.google, id!)).toBe(1);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(resultNotifications(world.discord, id!)).toHaveLength(1);

    // A second process with the same id while this one lives: it refuses to start, and the first carries on.
    const duplicate = await BotProcess.start(world.env(env), { waitForReady: false });
    world.bots.push(duplicate);
    const exit = await duplicate.exited;
    expect(exit.code).toBe(1);
    expect(duplicate.logs.find((l) => l.event === 'instance_duplicate')?.msg).toMatch(
      /another live process is running with INSTANCE_ID=veobot-0/,
    );
    expect(second.running).toBe(true);
    const again = world.video({ prompt: 'after the refused duplicate', length: 4 }, { userId: WORLD.users.member2.id });
    await again.waitForAck(10_000);
    const [next] = await idsOf([again]);
    await until(async () => (await rows([next!]))[0]!.announcement === 'sent', 'a new request on the first process');
  });
});
