/**
 * Image to video, end to end (issue #16, point 1): `/video image:… last_frame:…` against the real bot, the Discord
 * emulator (attachment options on signed CDN URLs that expire) and Veo (which checks image inputs as Vertex AI does).
 * The request is recorded before it is acknowledged, with Discord's URLs of its images; the worker fetches, checks and
 * copies them into the bucket before any submit, so a request resumed after Discord's URLs expired still submits the
 * same images once they were stored. What Discord declares (type, size) is refused before anything is written; bytes
 * that are not a PNG, JPEG or WebP of at most 20 MB, or a URL that no longer works, end the request with the reason,
 * nothing billed and nothing counted; a passing outage of Discord's CDN or the bucket is retried by a later sweep.
 */
import { E2EWorld, WORLD } from '../helpers/e2e';
import { gifBytes, jpegBytes, pngBytes, webpBytes } from '../helpers/images';
import { buttonLabels } from '../helpers/iterate';
import { submitsFor } from '../helpers/outcomes';
import { field, isResult, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(180_000);

const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;
const GENERAL = WORLD.guilds.main.channels.general.id;
const png = pngBytes(40_000);
const webp = webpBytes(9_000);
const image = (file: Buffer, filename: string, contentType: string | null) => ({ file, filename, contentType });

describe('image to video (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;
  beforeEach(async () => {
    world = await E2EWorld.start();
  });
  afterEach(async () => world?.close());

  it('copies the first and last frame into the bucket, submits them from there, and shows the first frame', async () => {
    // Veo works for a few seconds, so the progress embed is edited after the image is fetched (edits come every
    // PROGRESS_EDIT_INTERVAL_MS; a video done sooner goes straight to its result, which shows the thumbnail anyway).
    world.google.setDefaultFate({ kind: 'done', afterMs: 3_000, videoBytes: 64 * 1024 });
    await world.startBot();
    const handle = world.video({
      prompt: 'the cat wakes up and stretches',
      length: 6,
      image: image(png, 'cat.png', 'image/png'),
      last_frame: image(webp, 'awake.webp', 'image/webp'),
    });
    expect(await handle.waitForAck(5_000)).toBe(5);
    // Recorded before Discord showed "thinking…".
    const [atAck] = await world.requestsOf(MEMBER);
    expect(atAck).toMatchObject({ interactionId: handle.id, status: 'pending' });
    const reply = await waitForResult(handle);

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER);
    const inputs = `gs://${world.google.bucket}/${WORLD.guilds.main.id}/${GENERAL}/${MEMBER}/inputs/${handle.id}`;
    expect(row).toMatchObject({
      status: 'completed',
      imageUri: `${inputs}/image.png`,
      imageMimeType: 'image/png',
      lastFrameUri: `${inputs}/last_frame.webp`,
      lastFrameMimeType: 'image/webp',
      durationSeconds: 6,
      // Discord's URLs are gone from the row once the images are stored.
      imageSourceUrl: null,
      lastFrameSourceUrl: null,
    });
    const object = (uri: string) => world.google.getObject(uri.replace(`gs://${world.google.bucket}/`, ''));
    expect(object(row!.imageUri!)!.equals(png)).toBe(true);
    expect(object(row!.lastFrameUri!)!.equals(webp)).toBe(true);
    expect(world.google.submits).toHaveLength(1);
    expect(world.google.submits[0]!.instance).toEqual({
      prompt: 'the cat wakes up and stretches',
      image: { gcsUri: row!.imageUri, mimeType: 'image/png' },
      lastFrame: { gcsUri: row!.lastFrameUri, mimeType: 'image/webp' },
    });

    // The first frame is attached to the result and shown as its thumbnail; the buttons are there.
    expect(reply.attachments.map((a) => a.filename).sort()).toEqual(['first_frame.png', 'sample_0.mp4']);
    const thumb = reply.attachments.find((a) => a.filename === 'first_frame.png');
    expect(reply.embeds[0].thumbnail.url).toBe(thumb.url);
    expect(reply.embeds[0].fields.find((f: { name: string }) => f.name === 'Settings').value).toContain(
      'first and last frame',
    );
    expect(buttonLabels(reply)).toEqual(['Reroll', 'Extend', 'Edit prompt']);
    // …and on the progress embed before it, from the first edit after the worker fetched it: that edit carried the
    // file, every later one the thumbnail (the edits before it, while the image was being fetched, had neither).
    const progress = world.discord.calls.filter(
      (c) =>
        c.method === 'PATCH' &&
        c.path.includes(handle.token) &&
        /Making your video/.test(c.body?.embeds?.[0]?.title ?? ''),
    );
    const shown = progress.findIndex((c) => c.body.embeds[0].thumbnail);
    expect(shown).toBeGreaterThan(0);
    expect(progress[shown]!.files.map((f) => f.name)).toEqual(['first_frame.png']);
    expect(progress.slice(shown).every((c) => c.body.embeds[0].thumbnail?.url === 'attachment://first_frame.png')).toBe(
      true,
    );
    expect(progress.slice(0, shown).every((c) => c.files.length === 0)).toBe(true);
    expect(progress.slice(shown + 1).every((c) => c.files.length === 0)).toBe(true);
  });

  it('killed once its image was stored (before Veo was called); restarted once Discord’s URL expired: submits the same image from the bucket', async () => {
    world.google.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 30_000 });
    const armed = await world.startBot({ CRASH_POINT: 'after-attempt-recorded' });
    const handle = world.video({
      prompt: 'a paper boat on a puddle',
      length: 4,
      image: image(png, 'boat.png', 'image/png'),
    });
    const exit = await armed.exited;
    expect(exit.signal).toBe('SIGKILL');
    const [pending] = await world.requestsOf(MEMBER);
    expect(pending).toMatchObject({ status: 'pending', imageMimeType: 'image/png', imageSourceUrl: null });
    expect(world.google.submitCalls).toBe(0);

    // A day later Discord's signed URL of the attachment no longer works.
    const url = attachmentUrl(handle);
    world.discord.clock.advance(25 * 3_600_000);
    expect((await fetch(url)).status).toBe(404);

    await world.startBot();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);
    expect(row).toMatchObject({ id: pending!.id, status: 'completed', imageUri: pending!.imageUri });
    expect(submitsFor(world.google, row!.id)).toBe(1);
    expect(world.google.submits[0]!.instance.image).toEqual({ gcsUri: pending!.imageUri, mimeType: 'image/png' });
    // Told in the channel (the token is long gone), with the thumbnail and the buttons.
    const result = world.channelMessages(GENERAL).find(isResult)!;
    expect(result.attachments.map((a) => a.filename).sort()).toEqual(['first_frame.png', 'sample_0.mp4']);
    expect(buttonLabels(result)).toEqual(['Reroll', 'Extend', 'Edit prompt']);
  });

  it('killed right after the acknowledgement, restarted once Discord’s URL expired: ends saying the image could no longer be fetched, nothing billed or counted', async () => {
    const armed = await world.startBot({ CRASH_POINT: 'before-run', DAILY_QUOTA: '1' });
    const handle = world.video({
      prompt: 'a kite over the dunes',
      length: 8,
      image: image(png, 'kite.png', 'image/png'),
    });
    expect((await armed.exited).signal).toBe('SIGKILL');
    expect(handle.interaction.ackType).toBe(5);
    const [recorded] = await world.requestsOf(MEMBER);
    expect(recorded).toMatchObject({ status: 'pending', imageUri: null, submitAttempts: 0 });
    expect(recorded!.imageSourceUrl).toBe(attachmentUrl(handle));

    world.discord.clock.advance(25 * 3_600_000);
    await world.startBot({ DAILY_QUOTA: '1', GUILD_DAILY_VIDEO_SECONDS: '8' });
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);
    expect(row).toMatchObject({ status: 'failed', failureKind: 'input', failureReason: 'image_gone', imageUri: null });
    expect(world.google.submitCalls).toBe(0);
    const told = world.channelMessages(GENERAL).find(isResult)!;
    expect(field(told, 'Why')).toMatch(/^The image could no longer be fetched from Discord/);
    expect(field(told, 'What now')).toMatch(/Nothing was billed and it does not count against your daily limit/);
    expect(buttonLabels(told)).toEqual([]);

    // Neither the member's quota of one nor the server's 8 video-seconds were used up by it.
    const next = world.video({
      prompt: 'a kite over the dunes',
      length: 8,
      image: image(png, 'kite.png', 'image/png'),
    });
    await waitForResult(next);
    expect(world.google.submits).toHaveLength(1);
  });

  it('a passing outage of Discord’s CDN, then of the bucket: retried by a later sweep, not a failure', async () => {
    await world.startBot();
    world.discord.injectFault({ path: '/ephemeral-attachments/', status: 503 });
    world.google.injectFault({ route: 'storage', status: 503 });
    const handle = world.video({ prompt: 'rain on a window', length: 4, image: image(png, 'rain.png', 'image/png') });
    expect(await handle.waitForAck(5_000)).toBe(5);
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);
    expect(row).toMatchObject({ status: 'completed', failureKind: null, imageMimeType: 'image/png' });
    expect(submitsFor(world.google, row!.id)).toBe(1);
    expect(world.google.submits[0]!.instance.image).toEqual({ gcsUri: row!.imageUri, mimeType: 'image/png' });
    const bot = world.bots[0]!;
    expect(bot.logs.filter((l) => /did not answer for an input image/.test(String(l.msg)))).toHaveLength(2);
  });

  it('refuses what Discord declares before anything is written; bytes that are not an image, or a URL already expired, end the request with the reason, nothing billed or counted', async () => {
    await world.startBot({ DAILY_QUOTA: '1', GUILD_DAILY_VIDEO_SECONDS: '8' });
    const refusal = async (options: Record<string, unknown>, userId = MEMBER2) => {
      const handle = world.video({ prompt: 'a fox', ...options } as never, { userId });
      const reply = await handle.waitForReply((m) => m.ephemeral && m.content.length > 0, 15_000);
      return reply.content;
    };
    const failure = async (options: Record<string, unknown>) => {
      const handle = world.video({ prompt: 'a fox', ...options } as never, { userId: MEMBER2 });
      expect(await handle.waitForAck(5_000)).toBe(5);
      return waitForResult(handle);
    };
    expect(await refusal({ image: image(gifBytes(), 'dance.gif', 'image/gif') })).toMatch(
      /dance\.gif\) is image\/gif; Veo takes PNG, JPEG or WebP images/,
    );
    expect(await refusal({ image: image(pngBytes(20_000_001), 'huge.png', 'image/png') })).toMatch(
      /huge\.png\) is 20\.0 MB; Veo takes images up to 20\.0 MB/,
    );
    expect(await refusal({ last_frame: image(png, 'end.png', 'image/png') })).toMatch(/`last_frame` needs an `image`/);
    expect(await world.requestsOf(MEMBER2)).toEqual([]);

    // Declared as a JPEG, but the bytes are text: caught by the magic numbers once the worker fetched it.
    const notImage = await failure({ image: image(Buffer.from('not an image at all'), 'photo.jpg', 'image/jpeg') });
    expect(notImage.embeds[0].title).toMatch(/could not be made/);
    expect(field(notImage, 'Why')).toMatch(/photo\.jpg\) is not a PNG, JPEG or WebP image \(checked by its content\)/);
    expect(field(notImage, 'What now')).toMatch(/Nothing was billed and it does not count against your daily limit/);
    expect(buttonLabels(notImage)).toEqual([]);
    // The signed URL already expired when the bot fetched it.
    world.discord.attachmentUrlLifetimeMs = 0;
    const late = await failure({ image: image(png, 'late.png', 'image/png') });
    expect(field(late, 'Why')).toMatch(/^The image could no longer be fetched from Discord/);
    world.discord.attachmentUrlLifetimeMs = 24 * 3_600_000;
    expect((await world.requestsOf(MEMBER2)).map((r) => [r.status, r.failureKind, r.failureReason])).toEqual([
      ['failed', 'input', 'image_refused'],
      ['failed', 'input', 'image_gone'],
    ]);

    // No declared type, real JPEG bytes: fine (the bytes decide). Neither failure counted against the member's quota
    // of one or held any of the server's 8 video-seconds.
    const fine = world.video({ prompt: 'a fox', image: image(jpegBytes(), 'photo', null) }, { userId: MEMBER2 });
    expect((await waitForResult(fine)).embeds[0].title).toMatch(/ready/);

    expect(world.google.submits).toHaveLength(1);
    const stored = world.google.listObjects('').filter((o) => o.name.includes(`/${MEMBER2}/inputs/`));
    expect(stored.map((o) => o.name)).toEqual([expect.stringMatching(new RegExp(`/inputs/${fine.id}/image\\.jpg$`))]);
    // No reply was left on "thinking…".
    expect(world.discord.messages(GENERAL).filter((m) => !m.ephemeral && m.interactionId && m.loading)).toEqual([]);
  });
});

/** Discord's signed CDN URL of the image option of a `/video`. */
function attachmentUrl(handle: { interaction: { payload: any } }): string {
  return Object.values(handle.interaction.payload.data.resolved.attachments as Record<string, { url: string }>)[0]!.url;
}
