import type { EmulatedMessage } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { isResult, waitForRefusal, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const main = WORLD.guilds.main;
const requester = WORLD.users.member.id;
const NOISY_PROMPT = [
  '@everyone @here look at this!',
  `<@&${main.roles.admins.id}> <@&${main.id}> <@${WORLD.users.member2.id}> <@!${WORLD.users.admin.id}> <@${WORLD.users.owner.id}>`,
  '**bold** __underline__ ~~strike~~ ||spoiler|| `code` ```js\nprocess.exit(1)\n``` > quote # heading [link](https://example.com) -# small',
  'a cat \u202Eevil\u202C dancing\u200B in the rain',
].join(' ');

/** What a message pinged must be nobody, or only the requester. */
function expectOnlyRequesterPinged(m: EmulatedMessage): void {
  expect(m.pinged.everyone).toBe(false);
  expect(m.pinged.roles).toEqual([]);
  expect(m.pinged.users.filter((u) => u !== requester)).toEqual([]);
  expect(m.raw.mention_everyone).toBe(false);
  for (const edit of m.editLog) expect(edit.pinged).toEqual({ users: [], roles: [], everyone: false });
}

/**
 * A prompt full of @everyone, role and user mentions and markdown: the bot (which has Mention Everyone) never pings
 * anybody but the requester, on the interaction path or the channel path, and keeps running.
 */
describe('/video with a prompt full of mentions and markdown (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate({ kind: 'done', afterMs: 1_500, videoBytes: 128 * 1024 });
    world.google.fateForPrompt('[filtered]', {
      kind: 'filtered',
      reasons: ['@everyone <@&' + main.roles.admins.id + '> this prompt was blocked'],
      afterPolls: 1,
    });
    await world.startBot({ DAILY_QUOTA: '20' });
  });
  afterAll(async () => world?.close());

  afterEach(() => {
    for (const m of world.discord.messages()) if (m.authorId === WORLD.botUserId) expectOnlyRequesterPinged(m);
    expect(world.bots[0]!.running).toBe(true);
  });

  it('edits the original reply with the result and pings nobody else', async () => {
    const handle = world.video({ prompt: NOISY_PROMPT }, { userId: requester });
    const reply = await waitForResult(handle);
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.content).toBe(`<@${requester}> your video is ready.`);
    const description = String(reply.embeds[0].description);
    expect(description).toContain('\\*\\*bold\\*\\*'); // markdown shown as typed, not rendered
    expect(description).not.toMatch(/[\u202E\u202C\u200B]/);
    // Veo gets the prompt as the user typed it (minus invisible characters).
    expect(world.google.submits.at(-1)!.instance.prompt).toContain('@everyone @here look at this!');
    const patches = world.discord.calls.filter((c) => c.method === 'PATCH' && c.path.includes(handle.token));
    expect(patches.length).toBeGreaterThan(1);
    for (const call of patches) expect(call.body.allowed_mentions?.parse ?? []).toEqual([]);
  });

  it('posts in the channel mentioning only the requester when the token is too old to edit', async () => {
    const channelId = main.channels.videos.id;
    const handle = world.video({ prompt: NOISY_PROMPT }, { userId: requester, channelId });
    await handle.waitForAck(5_000);
    const generating = await world.waitForRow(
      (rows) => rows.some((r) => r.channelId === channelId && r.status === 'generating'),
      requester,
      15_000,
    );
    const id = generating.find((r) => r.channelId === channelId)!.id;
    // As if Veo had taken 14 minutes: the token has 30 s left, too little to edit the reply.
    await world.db.database.dataSource.query(
      `UPDATE video_requests SET interaction_expires_at = now() + interval '30 seconds' WHERE id = $1`,
      [id],
    );

    const message = await world.discord.waitFor(
      () => world.channelMessages(channelId).find(isResult),
      30_000,
      'the channel result',
    );
    expect(message.pinged).toEqual({ users: [requester], roles: [], everyone: false });
    expect(message.raw.mention_roles).toEqual([]);
    expect(message.raw.mentions.map((u: { id: string }) => u.id)).toEqual([requester]);
  });

  it('explains a filtered prompt without pinging the roles in the reason', async () => {
    const reply = await waitForResult(world.video({ prompt: `${NOISY_PROMPT} [filtered]` }, { userId: requester }));
    expect(reply.embeds[0].title).toMatch(/could not be made/);
  });

  it('refuses an invalid prompt full of mentions without pinging anybody', async () => {
    const handle = world.video({ prompt: NOISY_PROMPT.repeat(20) }, { userId: requester });
    expect(await waitForRefusal(handle)).toMatch(/limit is 2000/);
    expect(handle.original()!.pinged).toEqual({ users: [], roles: [], everyone: false });
  });
});
