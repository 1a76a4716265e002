/**
 * Cancel and /history, end to end (issue #16, points 3 and 4). Cancel: the progress embed of a request not yet sent to
 * Veo offers it to the requester; pressing it (here on an embed of a bot that has since died) bills nothing, frees the
 * quota and turns the embed into "Cancelled"; once Veo has the request the button is gone and the embed says so.
 * /history: a member's latest requests in this server, privately, their own only.
 */
import { E2EWorld, WORLD } from '../helpers/e2e';
import { buttonLabels, press, waitForPrivateAnswer } from '../helpers/iterate';
import { field, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(180_000);

const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;
const GENERAL = WORLD.guilds.main.channels.general.id;

describe('Cancel before submit (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;
  beforeEach(async () => {
    world = await E2EWorld.start();
  });
  afterEach(async () => world?.close());

  it('on the embed of a bot that died before submitting: nothing billed, the quota freed, the embed says Cancelled', async () => {
    // A minute-long lease: the request waits, unsubmitted, for the dead bot's lease to run out.
    const settings = { LEASE_DURATION_MS: '60000', DAILY_QUOTA: '1' };
    const armed = await world.startBot({ ...settings, CRASH_POINT: 'before-run' });
    const handle = world.video({ prompt: 'a slow sunrise over the hills', length: 4 });
    expect((await armed.exited).signal).toBe('SIGKILL');
    const progress = handle.original()!;
    expect(progress.embeds[0].title).toBe('🎬 Making your video');
    expect(field(progress, 'Status')).toBe('Queued');
    expect(buttonLabels(progress)).toEqual(['Cancel']);
    const [pending] = await world.requestsOf(MEMBER);
    expect(pending).toMatchObject({ status: 'pending', submitAttempts: 0, replyMessageId: progress.id });

    await world.startBot(settings);
    // Only the requester may cancel.
    const other = press(world.discord, progress, 'Cancel', MEMBER2);
    expect(await waitForPrivateAnswer(other)).toContain(`Only <@${MEMBER}> can use the buttons`);
    expect((await world.tracking.requests.getById(pending!.id))!.status).toBe('pending');

    const cancel = press(world.discord, progress, 'Cancel', MEMBER);
    expect(await cancel.waitForAck(10_000)).toBe(7); // the progress message itself is updated
    const cancelled = world.discord.message(progress.id)!;
    expect(cancelled.embeds[0].title).toBe('🚫 Cancelled');
    expect(field(cancelled, 'Why')).toMatch(/nothing was billed, and it does not count against your daily limit/);
    expect(cancelled.components).toEqual([]);
    const row = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER);
    expect(row[0]).toMatchObject({
      status: 'failed',
      failureKind: 'cancelled',
      failureReason: 'cancelled',
      submitAttempts: 0,
      notificationMessageId: progress.id,
    });

    // The quota (1 a day) is free again: a new request is taken and made.
    const next = world.video({ prompt: 'a fast sunset', length: 4 });
    await waitForResult(next);
    // Sweeps come and go (SWEEP_INTERVAL_MS=1 s): the cancelled request is never sent, nobody is told twice.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(world.google.submits).toHaveLength(1);
    expect(world.google.submits[0]!.instance.prompt).toBe('a fast sunset');
    expect(
      world.discord.messages(GENERAL).filter((m) => m.embeds.some((e) => e.title === '🚫 Cancelled')),
    ).toHaveLength(1);
  });

  it('once Veo has the request the Cancel button is gone and the embed says it can no longer be cancelled', async () => {
    world.google.setDefaultFate({ kind: 'done', afterPolls: 8, videoBytes: 20_000 });
    await world.startBot();
    const handle = world.video({ prompt: 'a long train journey', length: 4 });
    await world.waitForRow((rows) => rows[0]?.status === 'generating', MEMBER);
    const generating = await world.discord.waitFor(
      () => {
        const m = handle.original();
        return m && field(m, 'Status') === 'Generating' ? m : undefined;
      },
      20_000,
      'the Generating progress embed',
    );
    expect(generating.components).toEqual([]);
    expect(field(generating, 'Cancel')).toBe('No longer possible: the request went to Veo, which bills it.');
    // Before that, the requester had the button.
    const edits = world.discord.calls.filter((c) => c.method === 'PATCH' && c.path.includes(handle.token));
    expect(edits[0]!.body.components[0].components[0]).toMatchObject({ label: 'Cancel', style: 4 });
    await waitForResult(handle);
  });
});

describe('/history (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;
  beforeAll(async () => {
    world = await E2EWorld.start();
    await world.startBot();
  });
  afterAll(async () => world?.close());

  const history = async (userId: string, guildId = WORLD.guilds.main.id, channelId = GENERAL) => {
    const handle = world.discord.pushInteraction({ name: 'history', guildId, channelId, userId });
    return handle.waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
  };

  it('shows the member’s own requests in this server, privately, newest first, with links', async () => {
    const otherGuild = WORLD.guilds.other;
    const first = await waitForResult(world.video({ prompt: 'mine: a heron', length: 4 }));
    await waitForResult(world.video({ prompt: 'mine: a kingfisher', length: 6, ratio: '9:16' }));
    await waitForResult(world.video({ prompt: 'someone else: an owl' }, { userId: MEMBER2 }));
    await waitForResult(
      world.video(
        { prompt: 'mine elsewhere: a crow' },
        { guildId: otherGuild.id, channelId: otherGuild.channels.general.id },
      ),
    );

    const mine = await history(MEMBER);
    expect(mine.ephemeral).toBe(true);
    const text = mine.embeds[0].description as string;
    expect(text.indexOf('a kingfisher')).toBeLessThan(text.indexOf('a heron'));
    expect(text).toContain('✅ Ready');
    expect(text).toContain('6 s · 9:16 · 720p');
    expect(text).toContain(`https://discord.com/channels/${WORLD.guilds.main.id}/${GENERAL}/${first.id}`);
    expect(text).toMatch(/<t:\d+:R>/);
    expect(text).not.toContain('an owl');
    expect(text).not.toContain('a crow');
    expect(mine.pinged).toEqual({ users: [], roles: [], everyone: false });

    const theirs = (await history(MEMBER2)).embeds[0].description as string;
    expect(theirs).toContain('an owl');
    expect(theirs).not.toContain('a heron');
    const elsewhere = (await history(MEMBER, otherGuild.id, otherGuild.channels.general.id)).embeds[0].description;
    expect(elsewhere).toContain('a crow');
    expect(elsewhere).not.toContain('a heron');
    expect((await history(WORLD.users.admin.id)).embeds[0].description).toMatch(/not asked for a video here yet/);
  });
});
