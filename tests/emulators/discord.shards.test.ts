// Self-test of the emulator's sharding and identify limits (README.md "Shards"), driven by the real discord.js Client
// (and so @discordjs/ws) where it can be, and by raw WebSocket frames where discord.js would never send the payload.
import { Client, Events, GatewayIntentBits, type ClientOptions, type Interaction } from 'discord.js';
import { WebSocket } from 'ws';
import { DiscordEmulator, guildIdOnShard, shardOf, WORLD } from './discord';

const MAIN = WORLD.guilds.main;
const OTHER = WORLD.guilds.other;
type Frame = { op: number; t?: string | null; d: any };

/** A raw gateway connection that collects frames and its close code. */
async function connect(emu: DiscordEmulator) {
  const ws = new WebSocket(`${emu.gatewayUrl}?v=10&encoding=json`);
  const frames: Frame[] = [];
  let closeCode = 0;
  ws.on('message', (m) => frames.push(JSON.parse(m.toString())));
  ws.on('close', (code) => (closeCode = code));
  await new Promise((resolve) => ws.once('open', resolve));
  const identify = (shard?: unknown, token = emu.token) =>
    ws.send(JSON.stringify({ op: 2, d: { token, intents: 1, properties: {}, ...(shard ? { shard } : {}) } }));
  return { ws, frames, identify, closed: () => closeCode };
}

/** A discord.js client on the emulator: `shards` and `shardCount` as the bot passes them. */
function client(emu: DiscordEmulator, shards?: number[], shardCount?: number): Client {
  // (Sapphire's plugins add required fields to ClientOptions that a plain Client does not need.)
  const options: Partial<ClientOptions> = {
    intents: [GatewayIntentBits.Guilds],
    rest: { api: emu.apiUrl, retries: 0, timeout: 5_000 },
    ...(shards ? { shards, shardCount } : {}),
  };
  return new Client(options as ClientOptions);
}

/** Which shard of a client received each interaction (by interaction id). */
function shardOfInteractions(c: Client): Map<string, number> {
  const seen = new Map<string, number>();
  c.on(Events.InteractionCreate, (i: Interaction) => seen.set(i.id, i.guild!.shardId));
  return seen;
}

describe('Discord emulator: shards', () => {
  let emu: DiscordEmulator;
  const clients: Client[] = [];
  const sockets: WebSocket[] = [];

  beforeEach(async () => {
    emu = await DiscordEmulator.start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.destroy()));
    for (const ws of sockets.splice(0)) ws.terminate();
    await emu.close();
  });

  test('a guild belongs to shard (id >> 22) % count; each session gets READY with its shard and only its guilds', async () => {
    const one = guildIdOnShard(1, 2);
    expect([shardOf(MAIN.id, 2), shardOf(OTHER.id, 2), shardOf(one, 2)]).toEqual([0, 0, 1]);
    expect(Number((BigInt(one) >> 22n) % 2n)).toBe(1);
    emu.addGuild('shardOne', one);
    emu.world.sharding.maxConcurrency = 2; // shards 0 and 1 in two buckets: both identify at once

    const c = client(emu, [0, 1], 2);
    clients.push(c);
    const byShard = shardOfInteractions(c);
    await c.login(emu.token);

    const [s0, s1] = [0, 1].map((id) => emu.sessions.find((s) => s.shard[0] === id)!);
    expect(s0!.shard).toEqual([0, 2]);
    expect(s1!.shard).toEqual([1, 2]);
    const ready = (s: typeof s0) => s!.dispatches.find((d) => d.t === 'READY')!.d as any;
    expect(ready(s0).shard).toEqual([0, 2]);
    expect(ready(s1).shard).toEqual([1, 2]);
    expect(
      ready(s0)
        .guilds.map((g: any) => g.id)
        .sort(),
    ).toEqual([MAIN.id, OTHER.id].sort());
    expect(ready(s1).guilds.map((g: any) => g.id)).toEqual([one]);
    const creates = (s: typeof s0) => s!.dispatches.filter((d) => d.t === 'GUILD_CREATE').map((d: any) => d.d.id);
    expect(creates(s0).sort()).toEqual([MAIN.id, OTHER.id].sort());
    expect(creates(s1)).toEqual([one]);
    // discord.js files each guild under the shard that delivered it.
    expect(c.guilds.cache.get(one)!.shardId).toBe(1);
    expect(c.guilds.cache.get(MAIN.id)!.shardId).toBe(0);

    const onMain = emu.pushInteraction({ name: 'ping' });
    const onOne = emu.pushInteraction({
      name: 'ping',
      guildId: one,
      channelId: emu.world.guilds.shardOne!.channels.general.id,
    });
    await emu.waitFor(() => byShard.size === 2, 5_000, 'both interactions');
    expect(byShard.get(onMain.id)).toBe(0);
    expect(byShard.get(onOne.id)).toBe(1);
    expect(onOne.interaction.sessionIndex).toBe(s1!.index);
    // A test cannot push a guild's interaction to a session of another shard: Discord never would.
    expect(() => emu.pushInteraction({ name: 'ping', guildId: one, sessionIndex: s0!.index })).toThrow(
      /does not receive/,
    );

    // An event of a guild (and a guild the bot joins later) reaches only that guild's shard.
    const later = guildIdOnShard(1, 2, 1);
    emu.addGuild('later', later);
    await emu.waitFor(() => c.guilds.cache.get(later), 5_000, 'GUILD_CREATE of the new guild');
    expect(c.guilds.cache.get(later)!.shardId).toBe(1);
    expect(creates(s0)).not.toContain(later);
    emu.dispatchEvent('GUILD_UPDATE', { ...(ready(s1).guilds[0] as object), id: one, name: 'renamed' });
    await emu.waitFor(() => c.guilds.cache.get(one)!.name === 'renamed', 5_000, 'GUILD_UPDATE');
    expect(s0!.dispatches.some((d) => d.t === 'GUILD_UPDATE')).toBe(false);
  });

  test('two processes with a shard each: each caches and receives only its own guilds', async () => {
    const one = guildIdOnShard(1, 2);
    emu.addGuild('shardOne', one);
    emu.world.sharding.maxConcurrency = 2;
    const a = client(emu, [0], 2);
    const b = client(emu, [1], 2);
    clients.push(a, b);
    const [seenA, seenB] = [shardOfInteractions(a), shardOfInteractions(b)];
    await Promise.all([a.login(emu.token), b.login(emu.token)]);

    expect([...a.guilds.cache.keys()].sort()).toEqual([MAIN.id, OTHER.id].sort());
    expect([...b.guilds.cache.keys()]).toEqual([one]);
    const handles = [0, 1, 2, 3].map((i) =>
      i % 2
        ? emu.pushInteraction({ name: 'ping', guildId: one, channelId: emu.world.guilds.shardOne!.channels.general.id })
        : emu.pushInteraction({ name: 'ping', guildId: OTHER.id, channelId: OTHER.channels.general.id }),
    );
    await emu.waitFor(() => seenA.size + seenB.size === 4, 5_000, 'four interactions');
    expect([...seenA.keys()].sort()).toEqual([handles[0]!.id, handles[2]!.id].sort());
    expect([...seenB.keys()].sort()).toEqual([handles[1]!.id, handles[3]!.id].sort());
  });

  test('duplicate sessions of one shard both get its events; interactions go to all, as on Discord, or to one in turn', async () => {
    const a = client(emu);
    clients.push(a);
    await a.login(emu.token);
    // A second IDENTIFY in shard 0's bucket within 5 s would get op 9; let the emulator clock pass the window.
    emu.clock.advance(5_000);
    const b = client(emu);
    clients.push(b);
    await b.login(emu.token);
    expect(emu.sessions.map((s) => [s.shard, s.ready, s.connected])).toEqual([
      [[0, 1], true, true],
      [[0, 1], true, true],
    ]);
    expect(emu.identifyRefusals).toEqual([]);

    emu.dispatchEvent('GUILD_UPDATE', { id: MAIN.id, name: 'both see this' });
    await emu.waitFor(
      () => [a, b].every((c) => c.guilds.cache.get(MAIN.id)!.name === 'both see this'),
      5_000,
      'GUILD_UPDATE on both sessions',
    );

    const [seenA, seenB] = [shardOfInteractions(a), shardOfInteractions(b)];
    // Discord's behaviour, the default: every duplicate session gets the interaction.
    const everyone = emu.pushInteraction({ name: 'ping' });
    await emu.waitFor(() => seenA.has(everyone.id) && seenB.has(everyone.id), 5_000, 'the interaction on both');

    // 'one' (for tests that must put live work on one instance): each goes to one duplicate, in turn.
    emu.duplicateSessionDelivery = 'one';
    const first = emu.pushInteraction({ name: 'ping' });
    const second = emu.pushInteraction({ name: 'ping' });
    await emu.waitFor(() => seenA.size + seenB.size === 4, 5_000, 'two more interactions');
    expect(seenA.has(first.id) !== seenB.has(first.id)).toBe(true);
    expect(seenA.has(second.id) !== seenB.has(second.id)).toBe(true);
  });

  test('IDENTIFY with an invalid shard closes 4010; too many guilds for one shard closes 4011', async () => {
    for (const shard of [[2, 2], [-1, 2], [0, 0], [1.5, 2], [0], 'x']) {
      emu.clock.advance(5_000);
      const c = await connect(emu);
      sockets.push(c.ws);
      c.identify(shard);
      await emu.waitFor(() => c.closed(), 2_000, `close for ${JSON.stringify(shard)}`);
      expect([shard, c.closed()]).toEqual([shard, 4010]);
    }
    // Discord's limit is 2,500 guilds a shard; lowered here, the two fixture guilds (both on shard 0) are too many.
    emu.world.sharding.maxGuildsPerShard = 1;
    const c = await connect(emu);
    sockets.push(c.ws);
    c.identify([0, 1]);
    await emu.waitFor(() => c.closed(), 2_000, 'close 4011');
    expect(c.closed()).toBe(4011);
    expect(emu.sessions).toEqual([]);
    expect(emu.identifyRefusals.map((r) => r.refusal)).toEqual([
      ...Array(6).fill('invalid_shard'),
      'sharding_required',
    ]);

    // discord.js gives the shard up on 4011 (an unrecoverable close code) and says so.
    emu.clock.advance(5_000);
    const d = client(emu);
    clients.push(d);
    const disconnected = new Promise<number>((resolve) => d.on(Events.ShardDisconnect, (e) => resolve(e.code)));
    void d.login(emu.token).catch(() => undefined);
    expect(await disconnected).toBe(4011);
    // Two shards hold one guild each: accepted.
    emu.clock.advance(5_000);
    emu.world.sharding.maxConcurrency = 2;
    const e = client(emu, [0, 1], 2);
    clients.push(e);
    emu.world.guilds.other.id = guildIdOnShard(1, 2);
    await e.login(emu.token);
    expect(e.guilds.cache.size).toBe(2);
  });

  test('GET /gateway/bot: url, recommended shards and the session start limit as it is used', async () => {
    const gatewayBot = async () =>
      (await (
        await fetch(`${emu.apiUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${emu.token}` } })
      ).json()) as any;
    expect(await gatewayBot()).toEqual({
      url: emu.gatewayUrl,
      shards: 1,
      session_start_limit: { total: 1000, remaining: 1000, reset_after: 24 * 3_600_000, max_concurrency: 1 },
    });
    emu.world.sharding.recommendedShards = 4;
    emu.world.sharding.maxConcurrency = 16;
    const c = await connect(emu);
    sockets.push(c.ws);
    c.identify([3, 4]);
    await emu.waitFor(() => emu.sessions[0]?.ready, 2_000, 'READY');
    emu.clock.advance(60_000);
    const after = await gatewayBot();
    expect(after.shards).toBe(4);
    expect(after.session_start_limit).toEqual({
      total: 1000,
      remaining: 999,
      reset_after: expect.any(Number),
      max_concurrency: 16,
    });
    // The window began at the IDENTIFY; the emulator clock moved a minute (and real time a little) since.
    expect(after.session_start_limit.reset_after).toBeLessThanOrEqual(24 * 3_600_000 - 60_000);
    expect(after.session_start_limit.reset_after).toBeGreaterThan(24 * 3_600_000 - 65_000);
    // The window ends: every session start is available again.
    emu.clock.advance(24 * 3_600_000);
    expect((await gatewayBot()).session_start_limit.remaining).toBe(1000);
  });

  test('IDENTIFYs faster than max_concurrency per 5 s in one bucket get op 9; other buckets do not wait', async () => {
    emu.world.sharding.maxConcurrency = 2;
    const ids = async (shards: [number, number][]) => {
      const out: Frame[][] = [];
      for (const shard of shards) {
        const c = await connect(emu);
        sockets.push(c.ws);
        c.identify(shard);
        await emu.waitFor(() => c.frames.some((f) => f.t === 'READY' || f.op === 9), 2_000, 'READY or op 9');
        out.push(c.frames);
      }
      return out.map((frames) => (frames.some((f) => f.op === 9 && f.d === false) ? 'op 9' : 'READY'));
    };
    // Buckets shard_id % 2: 0 → 0, 1 → 1, 2 → 0 (within 5 s of shard 0), 3 → 1 (within 5 s of shard 1).
    expect(
      await ids([
        [0, 4],
        [1, 4],
        [2, 4],
        [3, 4],
      ]),
    ).toEqual(['READY', 'READY', 'op 9', 'op 9']);
    emu.clock.advance(5_000);
    expect(
      await ids([
        [2, 4],
        [3, 4],
      ]),
    ).toEqual(['READY', 'READY']);
    expect(emu.identifyRefusals.map((r) => [r.shard, r.refusal])).toEqual([
      [[2, 4], 'max_concurrency'],
      [[3, 4], 'max_concurrency'],
    ]);
    // A refused IDENTIFY starts no session and uses none of the session start limit.
    expect(emu.sessions).toHaveLength(4);
  });

  test('discord.js with 2 shards and max_concurrency 1 waits 5 s between IDENTIFYs, so none is refused', async () => {
    const c = client(emu, [0, 1], 2);
    clients.push(c);
    await c.login(emu.token);
    expect(emu.identifyRefusals).toEqual([]);
    expect(emu.sessions.map((s) => s.shard)).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(emu.sessions[1]!.identifyAt - emu.sessions[0]!.identifyAt).toBeGreaterThanOrEqual(4_975);
  }, 20_000);

  test('two processes identifying in one bucket at once: the later gets op 9 and identifies again after 5 s', async () => {
    emu.addGuild('shardOne', guildIdOnShard(1, 2));
    const a = client(emu, [0], 2);
    const b = client(emu, [1], 2);
    clients.push(a, b);
    await Promise.all([a.login(emu.token), b.login(emu.token)]);
    expect(emu.identifyRefusals.map((r) => r.refusal)).toEqual(['max_concurrency']);
    expect(emu.sessions.map((s) => s.ready)).toEqual([true, true]);
    expect(Math.abs(emu.sessions[1]!.identifyAt - emu.sessions[0]!.identifyAt)).toBeGreaterThanOrEqual(4_975);
  }, 20_000);

  test('session start limit: discord.js refuses to connect without enough; past it Discord ends every session and resets the token', async () => {
    emu.world.sharding.sessionStartTotal = 1;
    emu.world.sharding.maxConcurrency = 2;
    const c = client(emu, [0, 1], 2);
    clients.push(c);
    await expect(c.login(emu.token)).rejects.toThrow(
      /Not enough sessions remaining to spawn 2 shards; only 1 remaining/,
    );
    expect(emu.sessions).toEqual([]);

    const first = await connect(emu);
    sockets.push(first.ws);
    first.identify();
    await emu.waitFor(() => emu.sessions[0]?.ready, 2_000, 'READY');
    const oldToken = emu.token;
    emu.clock.advance(5_000);
    const second = await connect(emu);
    sockets.push(second.ws);
    second.identify(undefined, oldToken);
    await emu.waitFor(() => first.closed() && second.closed(), 2_000, 'both closed');
    expect([first.closed(), second.closed()]).toEqual([4004, 4004]);
    expect(emu.identifyRefusals.map((r) => r.refusal)).toEqual(['session_start_limit']);
    expect(emu.token).not.toBe(oldToken);
    const rest = await fetch(`${emu.apiUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${oldToken}` } });
    expect(rest.status).toBe(401);
  });
});
