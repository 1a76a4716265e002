import { E2EWorld, WORLD } from '../helpers/e2e';
import { waitForRefusal, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const { general, videos, locked } = WORLD.guilds.main.channels;

/**
 * Every `/video` the bot must refuse: invalid options, a channel outside ALLOWED_CHANNEL_IDS, a channel where the bot
 * cannot send messages. Each gets a private, plain refusal, and nothing is recorded or paid for.
 */
describe('/video refusals (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    await world.startBot({ ALLOWED_CHANNEL_IDS: `${videos.id},${locked.id}` });
  });
  afterAll(async () => world?.close());

  async function expectRefused(
    options: Record<string, string | number | boolean>,
    channelId: string,
    says: RegExp,
  ): Promise<string> {
    const user = WORLD.users.member.id;
    const submitCalls = world.google.submitCalls;
    const handle = world.video(options, { userId: user, channelId });
    expect(await handle.waitForAck(5_000)).toBe(4); // answered at once, not deferred
    const text = await waitForRefusal(handle);
    expect(text).toMatch(says);
    expect(handle.replies()).toHaveLength(1);
    expect(handle.original()!.ephemeral).toBe(true);
    expect(handle.original()!.pinged).toEqual({ users: [], roles: [], everyone: false });
    expect(await world.requestsOf(user)).toHaveLength(0);
    expect(world.google.submitCalls).toBe(submitCalls);
    return text;
  }

  const invalid: [string, Record<string, string | number | boolean>, RegExp][] = [
    ['an empty prompt', { prompt: '' }, /prompt is empty/],
    ['a prompt of spaces', { prompt: '      ' }, /prompt is empty/],
    ['a prompt of zero-width characters only', { prompt: '\u200B\u200C\u200D\u2060\uFEFF\u200B' }, /prompt is empty/],
    [
      'a prompt of other invisible characters',
      { prompt: '\u00AD\u3164\u180E\u034F\u115F\uFFA0\u2064\uFE0F\u{E0041}\u00AD' },
      /prompt is empty/,
    ],
    ['a too short prompt', { prompt: 'ab' }, /too short: use at least 3 characters/],
    [
      'a prompt with a NUL character (PostgreSQL cannot store it)',
      { prompt: 'a red fox\u0000 running through snow' },
      /contains a NUL character \(U\+0000\), which cannot be stored/,
    ],
    [
      'a 6,000-character prompt',
      { prompt: 'a slow pan over a misty forest '.repeat(200).slice(0, 6000) },
      /6000 characters long; the limit is 2000/,
    ],
    [
      'a seed above the range',
      { prompt: 'a red fox running through snow', seed: 4_294_967_296 },
      /seed must be a whole number from 0 to 4294967295/,
    ],
    [
      'a negative seed',
      { prompt: 'a red fox running through snow', seed: -1 },
      /seed must be a whole number from 0 to 4294967295/,
    ],
    [
      'a too long negative prompt',
      { prompt: 'a red fox running through snow', negative_prompt: 'no '.repeat(400) },
      /negative prompt is 1199 characters long; the limit is 1000/,
    ],
  ];

  it.each(invalid)('refuses %s privately, with no row and no Veo submit', async (_what, options, says) => {
    await expectRefused(options, videos.id, says);
  });

  it('lists every problem at once', async () => {
    const text = await expectRefused(
      { prompt: 'ab', seed: -5, negative_prompt: 'x'.repeat(1001) },
      videos.id,
      /too short/,
    );
    expect(text).toMatch(/seed must be/);
    expect(text).toMatch(/negative prompt is 1001 characters long/);
  });

  it('refuses a channel outside ALLOWED_CHANNEL_IDS and names where videos can be made', async () => {
    const text = await expectRefused(
      { prompt: 'a red fox running through snow' },
      general.id,
      /Videos can only be made in/,
    );
    expect(text).toContain(`<#${videos.id}>`);
  });

  it('refuses the locked channel, where the bot may not send messages, saying what is missing', async () => {
    await expectRefused({ prompt: 'a red fox running through snow' }, locked.id, /Send Messages/);
  });

  it('makes the video in an allowed channel', async () => {
    const user = WORLD.users.member2.id;
    const reply = await waitForResult(
      world.video(
        { prompt: 'a red fox running through snow', seed: 4_294_967_295, negative_prompt: 'blur' },
        { userId: user, channelId: videos.id },
      ),
    );
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.channelId).toBe(videos.id);
    expect(world.google.submits.at(-1)!.parameters).toMatchObject({ seed: 4_294_967_295, negativePrompt: 'blur' });
  });
});
