// Wire-level checks of the Discord emulator (raw WebSocket + fetch), complementing discord.selftest.test.ts.
import { WebSocket } from 'ws';
import { DiscordEmulator, OffsetClock, WORLD } from './discord';

const MAIN = WORLD.guilds.main;
type Frame = { op: number; t?: string | null; s?: number | null; d: any };

/** A raw gateway connection that collects frames. */
async function connect(emu: DiscordEmulator) {
  const ws = new WebSocket(`${emu.gatewayUrl}?v=10&encoding=json`);
  const frames: Frame[] = [];
  let closeCode = 0;
  ws.on('message', (m) => frames.push(JSON.parse(m.toString())));
  ws.on('close', (code) => (closeCode = code));
  await new Promise((resolve) => ws.once('open', resolve));
  const send = (f: object) => ws.send(JSON.stringify(f));
  return { ws, frames, send, closed: () => closeCode };
}

describe('Discord emulator wire protocol', () => {
  let emu: DiscordEmulator;
  const clock = new OffsetClock();
  const api = (path: string, init: RequestInit & { json?: unknown; auth?: boolean } = {}) =>
    fetch(`${emu.apiUrl}/v10${path}`, {
      ...init,
      headers: {
        ...(init.auth === false ? {} : { Authorization: `Bot ${emu.token}` }),
        ...(init.json !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });

  beforeAll(async () => {
    emu = await DiscordEmulator.start({ clock });
  });
  afterAll(() => emu.close());

  test('gateway: HELLO, bad token 4004, IDENTIFY → READY + GUILD_CREATE, ACK, unknown RESUME → op 9', async () => {
    const bad = await connect(emu);
    bad.send({ op: 2, d: { token: 'nope', intents: 1 } });
    await emu.waitFor(() => bad.closed(), 2_000, 'close');
    expect(bad.frames[0]).toMatchObject({ op: 10, d: { heartbeat_interval: expect.any(Number) } });
    expect(bad.closed()).toBe(4004);

    const c = await connect(emu);
    c.send({ op: 2, d: { token: emu.token, intents: 1, properties: {} } });
    c.send({ op: 1, d: null });
    await emu.waitFor(
      () => c.frames.filter((f) => f.t === 'GUILD_CREATE').length === 2 && c.frames.some((f) => f.op === 11),
      2_000,
      'ready',
    );
    const ready = c.frames.find((f) => f.t === 'READY')!;
    expect(ready.d).toMatchObject({
      user: { id: WORLD.botUserId, bot: true },
      application: { id: WORLD.applicationId },
      resume_gateway_url: emu.gatewayUrl,
      guilds: [
        { id: MAIN.id, unavailable: true },
        { id: WORLD.guilds.other.id, unavailable: true },
      ],
    });
    const gc = c.frames.find((f) => f.t === 'GUILD_CREATE' && f.d.id === MAIN.id)!.d;
    expect(gc.channels.find((ch: any) => ch.id === MAIN.channels.locked.id).permission_overwrites).toHaveLength(1);
    expect(gc.members.map((m: any) => m.user.id)).toContain(WORLD.botUserId);
    expect(emu.sessions[0]).toMatchObject({ ready: true, heartbeats: 1 });

    const r = await connect(emu);
    r.send({ op: 6, d: { token: emu.token, session_id: 'unknown', seq: 1 } });
    await emu.waitFor(() => r.frames.some((f) => f.op === 9), 2_000, 'op 9');
    c.ws.close(1000);
    r.ws.close(1000);
    await emu.waitFor(() => emu.sessions[0].invalidated, 2_000, 'invalidated on 1000');
  });

  test('REST: auth, 404 shape, hidden channel, history order, upload limit raised by boost tier', async () => {
    expect((await api('/users/@me', { auth: false })).status).toBe(401);
    const nf = await api('/nowhere');
    expect([nf.status, await nf.json()]).toEqual([404, { message: '404: Not Found', code: 0 }]);
    expect(await (await api(`/channels/${MAIN.channels.hidden.id}`)).json()).toMatchObject({ code: 50001 });
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await api(`/channels/${MAIN.channels.general.id}/messages`, {
        method: 'POST',
        json: { content: `m${n}` },
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const page = (await (
      await api(`/channels/${MAIN.channels.general.id}/messages?limit=2&before=${ids[2]}`)
    ).json()) as any[];
    expect(page.map((m) => m.content)).toEqual(['m2', 'm1']);
    const upload = (size: number) => {
      const form = new FormData();
      form.append('payload_json', JSON.stringify({ content: 'f', attachments: [{ id: 0, filename: 'v.mp4' }] }));
      form.append('files[0]', new Blob([new Uint8Array(size)], { type: 'video/mp4' }), 'v.mp4');
      return fetch(`${emu.apiUrl}/v10/channels/${MAIN.channels.videos.id}/messages`, {
        method: 'POST',
        body: form,
        headers: { Authorization: `Bot ${emu.token}` },
      });
    };
    const size = 30 * 1024 * 1024;
    expect((await upload(size)).status).toBe(413);
    emu.world.guilds.main.premiumTier = 2;
    expect((await upload(size)).status).toBe(200);
    emu.world.guilds.main.premiumTier = 0;
    expect(emu.calls.at(-1)?.files).toEqual([{ field: 'files[0]', name: 'v.mp4', size, contentType: 'video/mp4' }]);
  });

  test('interactions: with_response, %40original decoded, follow-up after defer replaces the loading message, token errors', async () => {
    // Another IDENTIFY within 5 s of the first test's would get op 9 (max_concurrency 1): let 5 s pass on the clock.
    clock.advance(5_000);
    const c = await connect(emu);
    c.send({ op: 2, d: { token: emu.token, intents: 1 } });
    await emu.waitFor(() => emu.sessions.some((s) => s.connected && s.ready), 2_000, 'session');
    const h = emu.pushInteraction({ name: 'anything', options: { n: 1.5, ok: true, who: WORLD.users.member.id } });
    await emu.waitFor(() => c.frames.some((f) => f.t === 'INTERACTION_CREATE'), 2_000, 'dispatch');
    const payload = c.frames.find((f) => f.t === 'INTERACTION_CREATE')!.d;
    expect(payload).toMatchObject({
      channel: { id: MAIN.channels.general.id },
      entitlements: [],
      context: 0,
      attachment_size_limit: 20 * 1024 * 1024,
      authorizing_integration_owners: { '0': MAIN.id },
    });
    expect(payload.data.options.map((o: any) => o.type)).toEqual([10, 5, 3]);
    const cb = await api(`/interactions/${h.id}/${h.token}/callback?with_response=true`, {
      method: 'POST',
      json: { type: 5 },
      auth: false,
    });
    expect(await cb.json()).toMatchObject({
      interaction: { id: h.id, response_message_loading: true },
      resource: { type: 5, message: { flags: 128 } },
    });
    const fu = await api(`/webhooks/${WORLD.applicationId}/${h.token}?wait=true`, {
      method: 'POST',
      json: { content: 'first' },
      auth: false,
    });
    expect(((await fu.json()) as any).id).toBe(h.original()!.id);
    expect(h.followUps()).toHaveLength(0);
    const got = await api(`/webhooks/${WORLD.applicationId}/${h.token}/messages/%40original`, { auth: false });
    expect(((await got.json()) as any).content).toBe('first');
    expect(emu.calls.at(-1)?.path).toBe(`/webhooks/${WORLD.applicationId}/${h.token}/messages/@original`);
    expect(
      (
        await api(`/interactions/${h.id}/${h.token}/callback`, {
          method: 'POST',
          json: { type: 4, data: { content: 'x' } },
        })
      ).status,
    ).toBe(400);
    clock.advance(15 * 60_000 + 1);
    expect(
      await (await api(`/interactions/${h.id}/${h.token}/callback`, { method: 'POST', json: { type: 4 } })).json(),
    ).toMatchObject({ code: 50027 });
    expect(
      await (
        await api(`/interactions/1300000000000000000/nope/callback`, { method: 'POST', json: { type: 4 } })
      ).json(),
    ).toMatchObject({ code: 10062 });
    c.ws.close(1000);
  });
});
