/**
 * Hostile /video input end to end, on the paths tests/e2e/video-mentions and video-refusals do not walk: a noisy
 * prompt and negative prompt carried through a SIGKILL and a resume (channel message, pointer edit of the old reply),
 * a Veo failure message full of markdown and mentions, emoji where the displayed prompt is cut, and a prompt of
 * nothing but markdown at the length limit. Every message the bot sends stays within Discord's limits, is valid
 * text, and pings nobody but the requester.
 */
import type { RecordedCall } from '../emulators/discord/emulator';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { resultMessages, waitUntil } from '../helpers/seedRows';
import { field, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(180_000);

const main = WORLD.guilds.main;
const requester = WORLD.users.member.id;
const MENTIONS = `@everyone @here <@&${main.roles.admins.id}> <@&${main.id}> <@${WORLD.users.member2.id}> <@!${WORLD.users.admin.id}>`;
const NOISY = `${MENTIONS} **bold** __under__ ||spoiler|| \`code\` # heading [link](https://example.com) a cat \u202Eevil\u202C dancing\u200B in the rain \u05E9\u05DC\u05D5\u05DD`;

/** No lone surrogate half (what cutting a string through an emoji leaves). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Discord's limits on a message (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
function expectWithinDiscordLimits(call: RecordedCall): void {
  const body = call.body as { content?: string; embeds?: Record<string, any>[] };
  const where = `${call.method} ${call.path.replace(/\/webhooks\/\d+\/[^/]+/, '/webhooks/…')}`;
  const strings: string[] = [];
  if (typeof body.content === 'string') {
    expect({ where, content: body.content.length <= 2000 }).toEqual({ where, content: true });
    strings.push(body.content);
  }
  for (const embed of body.embeds ?? []) {
    let total = 0;
    const check = (name: string, value: unknown, max: number) => {
      if (typeof value !== 'string') return;
      strings.push(value);
      total += value.length;
      expect({ where, [name]: value.length }).toEqual({ where, [name]: Math.min(value.length, max) });
    };
    check('title', embed.title, 256);
    check('description', embed.description, 4096);
    check('footer', embed.footer?.text, 2048);
    for (const f of embed.fields ?? []) {
      check('field name', f.name, 256);
      check(`field "${f.name}"`, f.value, 1024);
    }
    expect(total).toBeLessThanOrEqual(6000);
  }
  // Text Discord can store: no lone surrogate halves (a cut through an emoji).
  for (const s of strings) expect({ where, wellFormed: wellFormed(s) }).toEqual({ where, wellFormed: true });
}

describe('hostile /video input on the resume, failure and display paths (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate({ kind: 'done', afterMs: 1_000, videoBytes: 64 * 1024 });
    world.google.fateForPrompt('[markdown failure]', {
      kind: 'failed',
      code: 13,
      message: `${'*'.repeat(700)} ${'_'.repeat(200)} ${MENTIONS} internal error`,
      afterPolls: 1,
    });
    await world.startBot({ DAILY_QUOTA: '20' });
  });
  afterAll(async () => world?.close());

  // Each test checks the calls and messages made while it ran.
  let callsBefore = 0;
  let messagesBefore = new Set<string>();
  beforeEach(() => {
    callsBefore = world.discord.calls.length;
    messagesBefore = new Set(world.discord.messages().map((m) => m.id));
  });

  afterEach(() => {
    const sent = world.discord.calls
      .slice(callsBefore)
      .filter(
        (c) => (c.method === 'POST' || c.method === 'PATCH') && c.body && ('content' in c.body || 'embeds' in c.body),
      );
    expect(sent.length).toBeGreaterThan(0);
    for (const call of sent) {
      expectWithinDiscordLimits(call);
      const parse: string[] = call.body.allowed_mentions?.parse ?? ['missing allowed_mentions'];
      expect({ path: call.path.slice(0, 40), parse: parse.filter((p) => p !== 'users') }).toEqual({
        path: call.path.slice(0, 40),
        parse: [],
      });
      expect((call.body.allowed_mentions?.users ?? []).filter((u: string) => u !== requester)).toEqual([]);
    }
    for (const m of world.discord.messages()) {
      if (m.authorId !== WORLD.botUserId || messagesBefore.has(m.id)) continue;
      expect(m.pinged.everyone).toBe(false);
      expect(m.pinged.roles).toEqual([]);
      expect(m.pinged.users.filter((u) => u !== requester)).toEqual([]);
    }
    for (const bot of world.bots.filter((b) => b.running)) {
      expect(bot.logs.filter((l) => l.msg === 'unhandled promise rejection')).toEqual([]);
    }
  });

  it('a noisy prompt and negative prompt survive a SIGKILL and resume: one channel message pinging only the requester', async () => {
    world.google.scriptNext({ kind: 'done', afterMs: 6_000, videoBytes: 64 * 1024 });
    const handle = world.video(
      { prompt: NOISY, negative_prompt: `${MENTIONS} ~~blur~~ \u200F\u202Dlow quality`, length: 4, seed: 0 },
      { userId: requester },
    );
    await handle.waitForAck(5_000);
    const [row] = await world.waitForRow((rows) => rows[0]?.status === 'generating', requester, 20_000);
    await world.bots[0]!.kill();
    await world.startBot({ DAILY_QUOTA: '20' });

    const message = await waitUntil(
      'the resumed result in the channel',
      () => resultMessages(world, row!.id).find((m) => m.kind === 'channel'),
      60_000,
    );
    expect(message.embeds[0].footer.text).toContain('Resumed after bot restart');
    expect(message.pinged).toEqual({ users: [requester], roles: [], everyone: false });
    expect(message.content).toBe(`<@${requester}> your video is ready.`);
    expect(String(message.embeds[0].description)).toContain('\\*\\*bold\\*\\*');
    expect(String(message.embeds[0].description)).not.toMatch(/[\u202E\u202C\u200B]/);
    // The old progress reply now points to the result; editing it pinged nobody.
    await waitUntil(
      'the pointer edit',
      () => /Finished after a bot restart/.test(String(handle.original()?.embeds[0]?.title ?? '')),
      10_000,
    );
    expect(handle.original()!.pinged).toEqual({ users: [], roles: [], everyone: false });
    expect(resultMessages(world, row!.id).filter((m) => m.kind === 'channel')).toHaveLength(1);
    // Veo got the options as typed, minus invisible and direction-control characters.
    const submit = world.google.submits.at(-1)!;
    expect(submit.parameters).toMatchObject({ seed: 0, negativePrompt: `${MENTIONS} ~~blur~~ low quality` });
  });

  it('a Veo failure message full of markdown and mentions reaches nobody: the requester reads plain words, pinging nobody', async () => {
    const reply = await waitForResult(
      world.video({ prompt: 'a storm over the sea [markdown failure]', length: 4 }, { userId: requester }),
    );
    expect(reply.embeds[0].title).toMatch(/could not be made/);
    const why = field(reply, 'Why')!;
    expect(why).toMatch(/^Google's video service failed while making the video\. \(reference `[0-9a-f]{8}`\)$/);
    expect(JSON.stringify(reply.raw)).not.toMatch(/\*\*\*|internal error/);
    expect(reply.pinged.users.filter((u) => u !== requester)).toEqual([]);
  });

  it('emoji where the displayed prompt is cut: the embed text stays valid', async () => {
    const prompt = `${'a calm lake at dawn '.repeat(15).slice(0, 298)}${'🎬🌊'.repeat(40)} end`;
    const reply = await waitForResult(world.video({ prompt, length: 4 }, { userId: requester }));
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(wellFormed(String(reply.embeds[0].description))).toBe(true);
    expect(world.google.submits.at(-1)!.instance.prompt).toBe(prompt);
  });

  it('a prompt of nothing but markdown at the 2,000-character limit is accepted and shown escaped', async () => {
    const prompt = '*_~|`>#-'.repeat(250);
    expect(prompt).toHaveLength(2000);
    const reply = await waitForResult(world.video({ prompt, length: 4 }, { userId: requester }));
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(String(reply.embeds[0].description)).toMatch(/^> \\\*\\_/);
    expect(world.google.submits.at(-1)!.instance.prompt).toBe(prompt);
  });
});
