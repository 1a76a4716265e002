import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { requestMarker, submitsFor } from '../helpers/outcomes';
import { waitForRefusal, waitForResult } from '../helpers/videoReplies';

// Expire never hides money (issue #13, point 1), against the real bot, the Discord and Google emulators and
// PostgreSQL. The abuse it closes: run /video, wait until it is generating, `/resume expire include_generating`,
// confirm, repeat — each round used to free the quota while Google billed it and nobody received the video.

jest.setTimeout(180_000);

const MAIN = WORLD.guilds.main;
const ADMIN = WORLD.users.admin.id;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;

describe('expire never hides money', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    // One operation at a time, so a second request waits in the queue, never submitted, while the first generates.
    await world.startBot({ DAILY_QUOTA: '1', VEO_MAX_IN_FLIGHT: '1' });
  });
  afterAll(async () => world?.close());

  const resume = (options: Record<string, string | number | boolean>) =>
    world.discord.pushInteraction({
      name: 'resume',
      subcommand: 'expire',
      options,
      userId: ADMIN,
      guildId: MAIN.id,
      channelId: MAIN.channels.general.id,
    });
  /** `/resume expire request:<id>` and its confirmation, as an admin does it. */
  async function expire(requestId: string, includeGenerating: boolean): Promise<void> {
    const ask = await resume({ request: requestId, include_generating: includeGenerating }).waitForReply(
      (m) => m.components.length > 0,
      10_000,
    );
    const confirm = ask.components
      .flatMap((row: { components: { custom_id: string; label: string }[] }) => row.components)
      .find((b: { label: string }) => /Expire/.test(b.label))!;
    world.discord.pushComponent({ message: ask, customId: confirm.custom_id, userId: ADMIN });
    await world.discord.waitFor(
      () => /Expired 1 request/.test(world.discord.message(ask.id)?.content ?? ''),
      10_000,
      'the expiry to be confirmed',
    );
  }
  const rowOf = async (h: InteractionHandle) => {
    const [r] = await world.db.database.dataSource.query(`SELECT id FROM video_requests WHERE interaction_id = $1`, [
      h.id,
    ]);
    return (await world.tracking.requests.getById(r.id))!;
  };
  const field = (m: EmulatedMessage, name: string) =>
    (m.embeds[0]?.fields as { name: string; value: string }[]).find((f) => f.name === name)?.value;

  it('the expire round-trip leaves the quota used and delivers the paid video; a never-submitted request frees it', async () => {
    // Veo works on the first video for 8 s, whether anyone waits for it or not.
    world.google.fateForPrompt('the paid one', { kind: 'done', afterMs: 8_000, videoBytes: 16 * 1024 });
    const paid = world.video({ prompt: 'a glass harbor, the paid one' }, { userId: MEMBER });
    expect(await paid.waitForAck(10_000)).toBe(5);
    await world.waitForRow((rows) => rows[0]?.status === 'generating', MEMBER);
    const queued = world.video({ prompt: 'a slow tide' }, { userId: MEMBER2 });
    expect(await queued.waitForAck(10_000)).toBe(5);
    const waiting = await world.discord.waitFor(
      () =>
        world.discord.calls.find(
          (c) =>
            c.method === 'PATCH' &&
            c.path.includes(queued.token) &&
            /^Queued · position 1 · /.test(String(c.body?.embeds?.[0]?.fields?.[0]?.value ?? '')),
        ),
      20_000,
      'the second request shown as queued',
    );
    expect(waiting).toBeDefined();
    // Admins see the server's budget and its queue in /resume status.
    const status = await world.discord
      .pushInteraction({
        name: 'resume',
        subcommand: 'status',
        userId: ADMIN,
        guildId: MAIN.id,
        channelId: MAIN.channels.general.id,
      })
      .waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
    expect(field(status, 'Budget (24 h)')).toBe('16 of 600 video-seconds');
    expect(field(status, 'Waiting for Veo')).toMatch(/^1 queued · oldest \d+s$/);

    // Never submitted: expiring it frees its place in the quota.
    const queuedRow = await rowOf(queued);
    await expire(queuedRow.id, false);
    const told = await waitForResult(queued);
    expect(field(told, 'Why')).toContain('A server admin stopped this request.');
    expect(field(told, 'What now')).toBe('Press **Retry**, or run `/video` again.');
    expect(submitsFor(world.google, queuedRow.id)).toBe(0);
    const retry = world.video({ prompt: 'a slow tide, again' }, { userId: MEMBER2 });
    expect(await retry.waitForAck(10_000)).toBe(5); // accepted: the quota of one was free again

    // Submitted: expiring it keeps its place, and its requester is told it may still come.
    const paidRow = await rowOf(paid);
    expect(paidRow.status).toBe('generating');
    await expire(paidRow.id, true);
    const timedOut = await waitForResult(paid);
    expect(timedOut.embeds[0].title).toBe('⌛ Your video request timed out');
    expect(field(timedOut, 'What now')).toBe(
      'It had already been sent to Veo and paid for, so it counts against your daily limit; if it still finishes, it will be posted here.',
    );
    const refused = world.video({ prompt: 'one more please' }, { userId: MEMBER });
    expect(await waitForRefusal(refused)).toMatch(/^You have used your 1 video for the last 24 hours\./);
    expect(await world.tracking.requests.countQuotaUsage(MEMBER, new Date(Date.now() - 3_600_000))).toBe(1);

    // The operation, already paid for, finishes: the video is delivered, saying an admin had stopped waiting.
    const delivered = await world.discord.waitFor(
      () =>
        world.discord
          .messages()
          .find(
            (m) =>
              m.embeds[0]?.title === '✅ Your video is ready' &&
              String(m.embeds[0]?.footer?.text ?? '').includes(requestMarker(paidRow.id)),
          ),
      60_000,
      'the late delivery of the paid video',
    );
    expect(field(delivered, 'Note')).toBe(
      'A server admin had stopped waiting for this video, but it was already paid for and finished, so here it is.',
    );
    expect(delivered.attachments.length + (/https?:\/\//.test(delivered.content) ? 1 : 0)).toBe(1);
    expect(submitsFor(world.google, paidRow.id)).toBe(1); // delivered, never paid again
    expect(await world.tracking.requests.getById(paidRow.id)).toMatchObject({ status: 'completed', expiredBy: ADMIN });
    expect(await world.tracking.requests.countQuotaUsage(MEMBER, new Date(Date.now() - 3_600_000))).toBe(1);

    // The second member's retried request went through once the slot freed.
    expect((await waitForResult(retry, 60_000)).embeds[0].title).toMatch(/ready/);
  });
});
