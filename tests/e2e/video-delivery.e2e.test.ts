import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';
import { E2EWorld, FAST_SETTINGS, WORLD } from '../helpers/e2e';
import { field, isResult, urlIn, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
const POLL_INTERVAL_MS = Number(FAST_SETTINGS.VEO_POLL_INTERVAL_MS);
const PROGRESS_INTERVAL_MS = Number(FAST_SETTINGS.PROGRESS_EDIT_INTERVAL_MS);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How a finished video reaches the requester: attached up to the interaction's upload limit, a working signed link
 * above it, a live progress embed before it, and what is recorded when Discord refuses the result message.
 */
describe('/video delivery (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.fateForPrompt('[exactly 2 MiB]', { kind: 'done', afterPolls: 1, videoBytes: 2 * MiB });
    world.google.fateForPrompt('[2 MiB and a byte]', { kind: 'done', afterPolls: 1, videoBytes: 2 * MiB + 1 });
    world.google.fateForPrompt('[takes 2.5 s]', { kind: 'done', afterMs: 2_500, videoBytes: 256 * 1024 });
    world.google.fateForPrompt('[takes 1.5 s]', { kind: 'done', afterMs: 1_500, videoBytes: 256 * 1024 });
    await world.startBot({ DAILY_QUOTA: '20' });
  });
  afterAll(async () => world?.close());

  /** PATCHes of one interaction's original reply that Discord accepted, in order. */
  function originalEdits(handle: InteractionHandle) {
    return world.discord.calls.filter(
      (c) =>
        c.method === 'PATCH' &&
        c.path === `/webhooks/${WORLD.applicationId}/${handle.token}/messages/@original` &&
        c.status === 200,
    );
  }

  /**
   * Starts a request whose interaction token is about to expire by the time the video is ready (as after a 14-minute
   * generation): while Veo works, the stored expiry is moved to 30 s from now, so the bot must post in the channel.
   * (The emulator's snowflakes are monotonic, so an old interaction cannot be made by moving its clock back.)
   */
  async function nearlyExpiredInteraction(push: () => InteractionHandle, userId: string): Promise<InteractionHandle> {
    const handle = push();
    await handle.waitForAck(5_000);
    const rows = await world.waitForRow((list) => list.some((r) => r.status === 'generating'), userId, 15_000);
    const row = rows.find((r) => r.status === 'generating')!;
    await world.db.database.dataSource.query(
      `UPDATE video_requests SET interaction_expires_at = now() + interval '30 seconds' WHERE id = $1`,
      [row.id],
    );
    return handle;
  }

  it('attaches a video exactly as large as the upload limit Discord gave the interaction', async () => {
    const handle = world.video(
      { prompt: 'a hummingbird in slow motion [exactly 2 MiB]' },
      { userId: WORLD.users.member.id, attachmentSizeLimit: 2 * MiB },
    );
    const reply = await waitForResult(handle);
    expect(reply.attachments).toHaveLength(1);
    expect(reply.attachments[0].size).toBe(2 * MiB);
    expect(field(reply, 'Video')).toBeUndefined();
  });

  it('posts a signed link that really serves the video when it is larger than the limit', async () => {
    const user = WORLD.users.member2.id;
    const handle = world.video(
      { prompt: 'a hummingbird in slow motion [2 MiB and a byte]' },
      { userId: user, attachmentSizeLimit: 2 * MiB },
    );
    const reply = await waitForResult(handle);

    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.attachments).toHaveLength(0);
    expect(world.discord.calls.filter((c) => c.path.includes(handle.token) && c.files.length > 0)).toHaveLength(0); // no upload was even tried
    // The link goes into the message content (up to 2,000 characters): a signed URL can be longer than an embed
    // field's 1,024, and a cut link would be a lost video.
    expect(field(reply, 'Video')).toMatch(/^Too large to attach here \(2\.0 MB\), so here is a link/);
    expect(urlIn(field(reply, 'Video'))).toBeUndefined();
    const url = urlIn(reply.content)!;
    expect(url.startsWith(world.google.baseUrl)).toBe(true);
    expect(new URL(url).searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(new URL(url).searchParams.get('X-Goog-Signature')).toBeTruthy();

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ status: 'completed', deliveredAs: 'link', videoSizeBytes: 2 * MiB + 1 });
    const objectName = row!.videoUrls![0]!.replace(`gs://${world.google.bucket}/`, '');

    const response = await fetch(url);
    expect(response.status).toBe(200);
    const served = Buffer.from(await response.arrayBuffer());
    expect(served.length).toBe(2 * MiB + 1);
    expect(served.equals(world.google.getObject(objectName)!)).toBe(true);

    // In a private bucket the signature is what grants access: the same URL without it is refused.
    world.google.setPublicRead(false);
    const unsigned = new URL(url);
    unsigned.search = '';
    expect((await fetch(unsigned)).status).toBe(403);
  });

  it('shows a live progress embed, edited more than once before the result and never after it', async () => {
    const user = WORLD.users.admin.id;
    const handle = world.video({ prompt: 'clouds over a mountain ridge, time-lapse [takes 2.5 s]' }, { userId: user });
    expect(await handle.waitForAck(5_000)).toBe(5);
    const reply = await waitForResult(handle);
    const editsAtResult = originalEdits(handle).length;
    await sleep(PROGRESS_INTERVAL_MS * 5);

    const edits = originalEdits(handle);
    expect(edits).toHaveLength(editsAtResult); // nothing after the result
    const titles = edits.map((c) => String(c.body?.embeds?.[0]?.title ?? ''));
    expect(titles.at(-1)).toMatch(/ready/);
    const progress = titles.slice(0, -1);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.every((t) => t === '🎬 Making your video')).toBe(true);
    // The progress embed says what is happening and how long it has taken.
    const statuses = edits
      .slice(0, -1)
      .map((c) => c.body.embeds[0].fields.find((f: { name: string }) => f.name === 'Status')?.value);
    expect(statuses).toContain('Generating');
    expect(
      edits[edits.length - 2]!.body.embeds[0].fields.find((f: { name: string }) => f.name === 'Elapsed')?.value,
    ).toMatch(/^\d+s$/);
    expect(world.discord.message(reply.id)!.embeds[0].title).toMatch(/ready/);
    expect(handle.followUps()).toHaveLength(0);

    // Figure for the report (not asserted on time): polls of this operation vs. ceil(generation time / interval) + 1.
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    const polls = world.google.pollCount(row!.operationName!);
    const op = world.google.operations.get(row!.operationName!)!;
    const generationMs = op.completedAt! - op.submittedAt;
    const bound = Math.ceil(generationMs / POLL_INTERVAL_MS) + 1;
    console.log(
      `[figure] polls=${polls} generationMs=${generationMs} intervalMs=${POLL_INTERVAL_MS} ceil(gen/interval)+1=${bound} progressEdits=${progress.length}`,
    );
    // Each poll waits a full interval after the previous one, so the bot can never poll more often than this.
    expect(polls).toBeLessThanOrEqual(bound + 1);
  });

  it('records a 50013 on the result edit as gave_up on a completed request, and keeps working', async () => {
    const user = WORLD.users.owner.id;
    const handle = world.video({ prompt: 'a train crossing a viaduct [takes 1.5 s]' }, { userId: user });
    // Let the progress embed show, then Discord starts refusing edits of this reply.
    await world.discord.waitFor(() => originalEdits(handle).length >= 1, 15_000, 'a progress edit');
    world.discord.injectFault({
      method: 'PATCH',
      path: `/webhooks/${WORLD.applicationId}/${handle.token}/messages/@original`,
      status: 403,
      code: 50013,
      times: Infinity,
    });

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'gave_up', user, 30_000);
    expect(row).toMatchObject({
      status: 'completed',
      announcement: 'gave_up',
      notificationAttempts: 1,
      notificationMessageId: null,
    });
    expect(row!.notificationError).toMatch(/Missing Permissions/);
    expect(row!.notificationError).toMatch(/50013/);
    expect(handle.replies().some(isResult)).toBe(false);

    // Not retried by the next sweeps (one a second; counted, not timed), and the bot is still up and serving.
    const bot = world.bots[0]!;
    const sweepsSoFar = bot.logs.filter((l) => l.msg === 'resume sweep finished').length;
    await bot.waitForLog(
      () => bot.logs.filter((l) => l.msg === 'resume sweep finished').length >= sweepsSoFar + 2,
      60_000,
      'two more sweeps',
    );
    expect((await world.requestsOf(user))[0]).toMatchObject({ announcement: 'gave_up', notificationAttempts: 1 });
    expect(world.bots[0]!.running).toBe(true);
    const next = await waitForResult(world.video({ prompt: 'a train crossing a viaduct at night' }, { userId: user }));
    expect(next.embeds[0].title).toMatch(/ready/);
  });

  it('records a 50013 on the channel message (token too old to edit) as gave_up on a completed request', async () => {
    const user = WORLD.users.member.id;
    const channelId = WORLD.guilds.other.channels.general.id;
    world.discord.injectFault({
      method: 'POST',
      path: `/channels/${channelId}/messages`,
      status: 403,
      code: 50013,
      times: Infinity,
    });
    const handle = await nearlyExpiredInteraction(
      () =>
        world.video(
          { prompt: 'a kite over a beach [takes 1.5 s]' },
          { userId: user, guildId: WORLD.guilds.other.id, channelId },
        ),
      user,
    );

    const rows = await world.waitForRow(
      (list) => list.some((r) => r.guildId === WORLD.guilds.other.id && r.announcement === 'gave_up'),
      user,
      30_000,
    );
    const row = rows.find((r) => r.guildId === WORLD.guilds.other.id)!;
    expect(row).toMatchObject({ status: 'completed', announcement: 'gave_up', notificationAttempts: 1 });
    expect(row.notificationError).toMatch(/Discord refused the channel message: Missing Permissions \(code 50013\)/);
    const posts = world.discord.calls.filter(
      (c) => c.method === 'POST' && c.path === `/channels/${channelId}/messages`,
    );
    expect(posts.length).toBeGreaterThanOrEqual(1);
    expect(posts.every((c) => c.status === 403)).toBe(true);
    expect(handle.replies().some(isResult)).toBe(false);
    expect(world.channelMessages(channelId)).toHaveLength(0);
    expect(world.bots[0]!.running).toBe(true);
  });

  it('posts the result in the channel, mentioning the requester, when the token is too old to edit', async () => {
    const user = WORLD.users.member2.id;
    const channelId = WORLD.guilds.main.channels.videos.id;
    const handle = await nearlyExpiredInteraction(
      () => world.video({ prompt: 'a windmill at sunset [takes 1.5 s]' }, { userId: user, channelId }),
      user,
    );
    const message: EmulatedMessage = await world.discord.waitFor(
      () => world.channelMessages(channelId).find(isResult),
      30_000,
      'the channel result',
    );
    expect(message.attachments).toHaveLength(1);
    expect(message.content).toBe(`<@${user}> your video is ready.`);
    expect(message.pinged).toEqual({ users: [user], roles: [], everyone: false });
    expect(handle.replies().some(isResult)).toBe(false);
    const rows = await world.waitForRow(
      (list) => list.some((r) => r.channelId === channelId && r.announcement === 'sent'),
      user,
    );
    expect(rows.find((r) => r.channelId === channelId)!.notificationMessageId).toBe(message.id);
  });
});
