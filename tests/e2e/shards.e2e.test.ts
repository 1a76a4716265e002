/**
 * Shards across processes (issue #15): two real bot processes with two gateway shards each (SHARD_COUNT=4,
 * SHARD_IDS=0,1 and 2,3) on one PostgreSQL and one Redis, four servers whose ids put one on each shard. The Discord
 * emulator routes a server's interactions only to the sessions of its shard, as Discord does.
 */
import { request } from 'node:http';
import Redis from 'ioredis';
import { WebSocket } from 'ws';
import { guildIdOnShard, shardOf, type InteractionHandle, type WorldGuild } from '../emulators/discord';
import { BotProcess, type LogLine } from '../helpers/botProcess';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { resultNotifications, submitsFor } from '../helpers/outcomes';
import { testRedisUrl } from '../helpers/redis';
import { seedRow, waitUntil } from '../helpers/seedRows';

jest.setTimeout(240_000);

const REDIS_URL = testRedisUrl(13);
const COUNT = 4;

interface Readyz {
  status: number;
  body: { ready: boolean; gateway: boolean; shards: Record<string, string> };
}

function readyz(port: number): Promise<Readyz> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Readyz['body'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

const healthPort = async (bot: BotProcess) =>
  Number((await bot.waitForLog((l) => l.msg === 'health and metrics server listening', 30_000, 'health port')).port);
const shardReady = (id: number) => (l: LogLine) => l.msg === 'shard ready' && l.shard_id === id;

describe('2 processes x 2 shards', () => {
  let world: E2EWorld;
  let redis: Redis;
  /** The server on each shard of 4: the fixture's main server is on shard 0, three more join for shards 1-3. */
  let guilds: WorldGuild[];

  beforeEach(async () => {
    world = await E2EWorld.start();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    await redis.flushdb();
    guilds = [world.discord.world.guilds.main];
    for (const shard of [1, 2, 3]) guilds.push(world.discord.addGuild(`shard${shard}`, guildIdOnShard(shard, COUNT)));
  });
  afterEach(async () => {
    await world?.close();
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
  });

  const start = (env: Record<string, string>, waitForReady = true) =>
    BotProcess.start(world.env({ REDIS_URL, HTTP_PORT: '0', DAILY_QUOTA: '100', ...env }), {
      waitForReady,
      timeoutMs: 90_000,
    }).then((bot) => (world.bots.push(bot), bot));

  it('each server is answered by the process holding its shard; /readyz waits for both shards; any process resumes any server', async () => {
    expect(guilds.map((g) => shardOf(g.id, COUNT))).toEqual([0, 1, 2, 3]);
    const [a01, a23] = [
      { SHARD_COUNT: String(COUNT), SHARD_IDS: '0,1', INSTANCE_ID: 'shards-0-1' },
      { SHARD_COUNT: String(COUNT), SHARD_IDS: '2-3', INSTANCE_ID: 'shards-2-3' },
    ];

    // Requests of the servers on shards 2 and 3, left by a dead instance, before the process holding those shards
    // runs: the other process, which never sees those servers' events, finishes and announces them through REST.
    const orphans = await Promise.all(
      [guilds[2]!, guilds[3]!].map((g) =>
        seedRow(world, { guildId: g.id, channelId: g.channels.general!.id, prompt: `left in ${g.name}` }),
      ),
    );

    const a = await start(a01, false);
    const portA = await healthPort(a);
    // Shard 0 is READY; shard 1 identifies at least 5 s later (max_concurrency 1: one IDENTIFY per 5 s per bucket).
    await a.waitForLog(shardReady(0), 60_000, 'shard 0 ready');
    const half = await readyz(portA);
    expect(half.status).toBe(503);
    expect(half.body).toMatchObject({ ready: false, gateway: false, shards: { '0': 'ready', '1': 'connecting' } });
    expect(a.logs.some(shardReady(1))).toBe(false);
    await a.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready');
    const full = await readyz(portA);
    expect(full).toEqual({
      status: 200,
      body: expect.objectContaining({ ready: true, gateway: true, shards: { '0': 'ready', '1': 'ready' } }),
    });
    expect(a.logs.find((l) => l.msg === 'gateway ready')).toMatchObject({ shard_ids: [0, 1], shard_count: 4 });

    for (const id of orphans)
      await waitUntil(`orphan ${id} announced`, () => resultNotifications(world.discord, id).length === 1, 60_000);
    const orphanRows = (await world.db.database.dataSource.query(
      `SELECT guild_id, status, lease_owner FROM video_requests WHERE id = ANY($1::uuid[]) ORDER BY guild_id`,
      [orphans],
    )) as { guild_id: string; status: string; lease_owner: string }[];
    expect(orphanRows).toEqual(
      [guilds[2]!, guilds[3]!]
        .map((g) => ({ guild_id: g.id, status: 'completed', lease_owner: 'shards-0-1' }))
        .sort((x, y) => x.guild_id.localeCompare(y.guild_id)),
    );
    for (const [i, id] of orphans.entries())
      expect(resultNotifications(world.discord, id)[0]!.channelId).toBe(guilds[2 + i]!.channels.general!.id);

    const b = await start(a23);
    const portB = await healthPort(b);
    expect((await readyz(portB)).body.shards).toEqual({ '2': 'ready', '3': 'ready' });
    // Each session holds its shard of 4 and only its server.
    const sessions = world.discord.sessions.filter((s) => s.ready && s.connected);
    expect(sessions.map((s) => s.shard).sort()).toEqual([0, 1, 2, 3].map((id) => [id, COUNT]));

    // One /video in each server.
    const handles = guilds.map((g, i) =>
      world.video({ prompt: `server ${i}`, length: 4 }, { guildId: g.id, channelId: g.channels.general!.id }),
    );
    for (const h of handles) await h.waitForAck(10_000);
    const rows = await waitUntil(
      'four requests finished and announced',
      async () => {
        const r = (await world.db.database.dataSource.query(
          `SELECT id, guild_id, status, announcement, lease_owner FROM video_requests
             WHERE interaction_token = ANY($1) ORDER BY guild_id`,
          [handles.map((h) => h.token)],
        )) as { id: string; guild_id: string; status: string; announcement: string; lease_owner: string }[];
        return r.length === 4 && r.every((x) => x.status === 'completed' && x.announcement === 'sent') && r;
      },
      90_000,
    );

    const accepted = (bot: BotProcess) =>
      bot.logs.filter((l) => l.msg === '/video request accepted').map((l) => String(l.guild_id));
    expect(accepted(a).sort()).toEqual([guilds[0]!.id, guilds[1]!.id].sort());
    expect(accepted(b).sort()).toEqual([guilds[2]!.id, guilds[3]!.id].sort());
    for (const [i, h] of handles.entries()) {
      // Delivered to the session of its server's shard, acknowledged once, by the process holding that shard.
      expect(world.discord.sessions[h.interaction.sessionIndex]!.shard).toEqual([i, COUNT]);
      expect(h.interaction.ackType).toBeDefined();
      const row = rows.find((r) => r.guild_id === guilds[i]!.id)!;
      expect(row.lease_owner).toBe(i < 2 ? 'shards-0-1' : 'shards-2-3');
      expect(submitsFor(world.google, row.id)).toBe(1);
      expect(resultNotifications(world.discord, row.id)).toHaveLength(1);
      expect(resultNotifications(world.discord, row.id)[0]!.id).toBe(h.original()!.id);
    }
    expect(a.running && b.running).toBe(true);
  });

  it('two processes starting at once take turns in the identify bucket through Redis: no IDENTIFY is refused', async () => {
    // max_concurrency 1: all four shards share bucket 0, so the emulator refuses (op 9) any IDENTIFY within 5 s of
    // another, whichever process sends it. discord.js's own throttle only spaces a process's own shards.
    const [a, b] = await Promise.all([
      start({ SHARD_COUNT: String(COUNT), SHARD_IDS: '0,1' }),
      start({ SHARD_COUNT: String(COUNT), SHARD_IDS: '2,3' }),
    ]);
    expect(world.discord.identifyRefusals).toEqual([]);
    const starts = world.discord.sessions.map((s) => s.identifyAt).sort((x, y) => x - y);
    expect(starts).toHaveLength(4);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(4_975);
    expect(a.running && b.running).toBe(true);
  });

  it('with fewer session starts left than shards, the process says so and waits for the limit to reset, then connects', async () => {
    const sharding = world.discord.world.sharding;
    Object.assign(sharding, { sessionStartTotal: 2, sessionStartWindowMs: 6_000, maxConcurrency: 2 });
    // Another session takes one of the two starts of the window.
    const other = new WebSocket(world.discord.gatewayUrl);
    await new Promise((resolve) => other.once('open', resolve));
    other.send(JSON.stringify({ op: 2, d: { token: world.discord.token, intents: 1, properties: {} } }));
    await world.discord.waitFor(() => world.discord.sessions[0]?.ready, 5_000, 'the other session');
    other.terminate();

    const bot = await start({ SHARD_COUNT: '2' }, false);
    const waiting = await bot.waitForLog(
      (l) =>
        l.msg === 'Discord allows fewer session starts than this process has shards; waiting until the limit resets',
      30_000,
      'the session start limit warning',
    );
    expect(waiting).toMatchObject({
      level: 50,
      session_starts_remaining: 1,
      shard_ids: [0, 1],
      resets_at: expect.any(String),
    });
    // Waiting, not exiting (a restart could not connect before the reset either) and not connecting yet.
    expect(bot.running).toBe(true);
    expect(world.discord.sessions).toHaveLength(1);
    await bot.waitForLog((l) => l.msg === 'gateway ready', 60_000, 'gateway ready after the reset');
    expect(world.discord.sessions.slice(1).map((s) => s.shard)).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(world.discord.identifyRefusals).toEqual([]);
  });

  it('SHARD_IDS outside SHARD_COUNT, or outside what auto resolves to, stops the process with a clear message', async () => {
    const fixed = await start({ SHARD_COUNT: '2', SHARD_IDS: '1,2' }, false);
    expect(await fixed.exited).toEqual({ code: 1, signal: null });
    expect(fixed.stderr).toContain('SHARD_IDS names shard 2, but SHARD_COUNT is 2: shard ids run from 0 to 1');

    world.discord.world.sharding.recommendedShards = 2;
    const auto = await start({ SHARD_COUNT: 'auto', SHARD_IDS: '3' }, false);
    expect(await auto.exited).toEqual({ code: 1, signal: null });
    expect(auto.stderr).toContain(
      'SHARD_IDS names shard 3, but SHARD_COUNT=auto (Discord recommends 2) is 2: shard ids run from 0 to 1',
    );
    // Neither connected to the gateway.
    expect(world.discord.sessions).toEqual([]);
  });

  it('SHARD_COUNT=auto takes the count GET /gateway/bot recommends', async () => {
    world.discord.world.sharding.recommendedShards = COUNT;
    world.discord.world.sharding.maxConcurrency = COUNT; // four buckets: the four IDENTIFYs need not wait 5 s each
    const bot = await start({ SHARD_COUNT: 'auto' });
    expect(bot.logs.find((l) => l.msg === 'connecting shards')).toMatchObject({
      shard_ids: [0, 1, 2, 3],
      shard_count: COUNT,
      recommended_shards: COUNT,
    });
    expect(world.discord.sessions.map((s) => s.shard)).toEqual([0, 1, 2, 3].map((id) => [id, COUNT]));
    const h = world.video(
      { prompt: 'on shard 3' },
      { guildId: guilds[3]!.id, channelId: guilds[3]!.channels.general!.id },
    );
    await h.waitForReply((m) => /Your video is ready/.test(JSON.stringify(m.embeds)), 30_000);
  });
  it('one process of 2 x 2 killed: the other finishes its in-flight requests (ten-minute lease), each requester told once; /resume status in any server lists the live instances', async () => {
    // LEASE_DURATION_MS is ten minutes, far longer than this test: only the dead-owner rule (heartbeats) can explain
    // a takeover. The sweep is slow too, so the takeover does not wait for it.
    const common = {
      SHARD_COUNT: String(COUNT),
      LEASE_DURATION_MS: String(10 * 60_000),
      INSTANCE_DEAD_AFTER_MS: '4000',
      SWEEP_INTERVAL_MS: '60000',
      RESUME_CONCURRENCY: '5',
    };
    const a = await start({ ...common, SHARD_IDS: '0,1', INSTANCE_ID: 'veobot-0' });
    const b = await start({ ...common, SHARD_IDS: '2,3', INSTANCE_ID: 'veobot-1' });

    // Two requests in each of the servers on b's shards, generating (Veo takes 15 s) when b dies; and one on a's.
    world.google.fateForPrompt('in flight', { kind: 'done', afterMs: 15_000, videoBytes: 20_000 });
    const users = [WORLD.users.member.id, WORLD.users.member2.id];
    const onB: InteractionHandle[] = [];
    for (const g of [guilds[2]!, guilds[3]!])
      for (const userId of users)
        onB.push(
          world.video(
            { prompt: `in flight in ${g.name} for ${userId}`, length: 4 },
            { guildId: g.id, channelId: g.channels.general!.id, userId },
          ),
        );
    const onA = world.video(
      { prompt: 'in flight on a', length: 4 },
      { guildId: guilds[1]!.id, channelId: guilds[1]!.channels.general!.id },
    );
    for (const h of [...onB, onA]) await h.waitForAck(10_000);
    const query = (handles: InteractionHandle[]) =>
      world.db.database.dataSource.query(
        `SELECT id, guild_id, channel_id, status, announcement, lease_owner, fence, operation_name
           FROM video_requests WHERE interaction_token = ANY($1) ORDER BY created_at`,
        [handles.map((h) => h.token)],
      ) as Promise<
        {
          id: string;
          guild_id: string;
          channel_id: string;
          status: string;
          announcement: string | null;
          lease_owner: string;
          fence: string;
          operation_name: string | null;
        }[]
      >;
    const before = await waitUntil(
      'b’s four requests generating under b',
      async () => {
        const r = await query(onB);
        return r.length === 4 && r.every((x) => x.status === 'generating' && x.lease_owner === 'veobot-1') && r;
      },
      30_000,
    );

    await b.kill();

    const after = await waitUntil(
      'the four requests finished and announced by a',
      async () => {
        const r = await query(onB);
        return r.every((x) => x.status === 'completed' && x.announcement === 'sent') && r;
      },
      90_000,
    );
    for (const [i, row] of after.entries()) {
      expect(row.lease_owner).toBe('veobot-0');
      expect(Number(row.fence)).toBeGreaterThan(Number(before[i]!.fence));
      expect(row.operation_name).toBe(before[i]!.operation_name); // polled by its stored operation, not submitted again
      expect(submitsFor(world.google, row.id)).toBe(1);
      const told = resultNotifications(world.discord, row.id);
      expect(told).toHaveLength(1);
      expect(told[0]!.channelId).toBe(row.channel_id); // in the original channel of the server a never sees
    }
    expect(
      a.logs
        .filter(
          (l) =>
            l.msg === 'request taken over: its lease ran out or its instance stopped beating' &&
            l.previous_owner === 'veobot-1',
        )
        .map((l) => l.request_id)
        .sort(),
    ).toEqual(after.map((r) => r.id).sort());
    await waitUntil(
      'a’s own request finished',
      async () => (await query([onA])).every((x) => x.status === 'completed' && x.announcement === 'sent'),
      60_000,
    );

    const status = async (guild: WorldGuild) => {
      const h = world.discord.pushInteraction({
        name: 'resume',
        subcommand: 'status',
        options: {},
        userId: WORLD.users.admin.id,
        guildId: guild.id,
        channelId: guild.channels.general!.id,
      });
      const reply = await h.waitForReply((m) => !m.loading && m.embeds.length > 0, 15_000);
      return (reply.embeds[0]!.fields as { name: string; value: string }[]).find((f) =>
        f.name.startsWith('Bot instances'),
      )!;
    };
    // In a server of a's shards: a is "this bot", b is not responding.
    const whileDown = await status(guilds[0]!);
    expect(whileDown.name).toBe('Bot instances: 1 live, 1 not responding');
    expect(whileDown.value).toMatch(/^🟢 \*\*this bot\*\* · shards 0, 1 · up /);

    // b comes back under its id; then /resume status in a server of either process lists both, live.
    const b2 = await start({ ...common, SHARD_IDS: '2,3', INSTANCE_ID: 'veobot-1' });
    for (const g of [guilds[0]!, guilds[3]!]) {
      const field = await waitUntil(
        `both instances live in ${g.name}`,
        async () => {
          const f = await status(g);
          return f.name === 'Bot instances: 2 live' && f;
        },
        30_000,
      );
      expect(field.value).toMatch(/🟢 \*\*this bot\*\* · shards (0, 1|2, 3)/);
      expect(field.value).not.toMatch(/veobot-[01]/);
    }
    // Still one message each: nobody was told twice after the restart either.
    for (const row of after) expect(resultNotifications(world.discord, row.id)).toHaveLength(1);
    expect(a.running && b2.running).toBe(true);
  });
});
