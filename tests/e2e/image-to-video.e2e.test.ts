/**
 * Image to video, end to end (issue #16, point 1): `/video image:… last_frame:…` against the real bot, the Discord
 * emulator (attachment options on signed CDN URLs that expire) and Veo (which checks image inputs as Vertex AI does).
 * The images are copied into the bucket before the request is written, so a request resumed after Discord's URLs
 * expired still submits the same images; anything that is not a PNG, JPEG or WebP of at most 20 MB is refused with the
 * reason before anything is written.
 */
import { E2EWorld, WORLD } from '../helpers/e2e';
import { gifBytes, jpegBytes, pngBytes, webpBytes } from '../helpers/images';
import { buttonLabels } from '../helpers/iterate';
import { submitsFor } from '../helpers/outcomes';
import { isResult, waitForResult } from '../helpers/videoReplies';

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
    await world.startBot();
    const handle = world.video({
      prompt: 'the cat wakes up and stretches',
      length: 6,
      image: image(png, 'cat.png', 'image/png'),
      last_frame: image(webp, 'awake.webp', 'image/webp'),
    });
    expect(await handle.waitForAck(5_000)).toBe(5);
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
    // …and on the progress embed before it: the first edit carried the file, every one the thumbnail.
    const progress = world.discord.calls.filter(
      (c) =>
        c.method === 'PATCH' &&
        c.path.includes(handle.token) &&
        /Making your video/.test(c.body?.embeds?.[0]?.title ?? ''),
    );
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]!.files.map((f) => f.name)).toEqual(['first_frame.png']);
    expect(progress.every((c) => c.body.embeds[0].thumbnail?.url === 'attachment://first_frame.png')).toBe(true);
  });

  it('killed after the request was written; restarted once Discord’s URL expired: submits the same image from the bucket', async () => {
    world.google.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 30_000 });
    const armed = await world.startBot({ CRASH_POINT: 'before-run' });
    const handle = world.video({
      prompt: 'a paper boat on a puddle',
      length: 4,
      image: image(png, 'boat.png', 'image/png'),
    });
    const exit = await armed.exited;
    expect(exit.signal).toBe('SIGKILL');
    const [pending] = await world.requestsOf(MEMBER);
    expect(pending).toMatchObject({ status: 'pending', submitAttempts: 0, imageMimeType: 'image/png' });
    expect(world.google.submitCalls).toBe(0);

    // A day later Discord's signed URL of the attachment no longer works.
    const url = Object.values(
      handle.interaction.payload.data.resolved.attachments as Record<string, { url: string }>,
    )[0]!.url;
    world.discord.clock.advance(25 * 3_600_000);
    expect((await fetch(url)).status).toBe(404);

    await world.startBot();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', MEMBER, 60_000);
    expect(row).toMatchObject({ id: pending!.id, status: 'completed', submitAttempts: 1, imageUri: pending!.imageUri });
    expect(submitsFor(world.google, row!.id)).toBe(1);
    expect(world.google.submits[0]!.instance.image).toEqual({ gcsUri: pending!.imageUri, mimeType: 'image/png' });
    // Told in the channel (the token is long gone), with the thumbnail and the buttons.
    const result = world.channelMessages(GENERAL).find(isResult)!;
    expect(result.attachments.map((a) => a.filename).sort()).toEqual(['first_frame.png', 'sample_0.mp4']);
    expect(buttonLabels(result)).toEqual(['Reroll', 'Extend', 'Edit prompt']);
  });

  it('refuses what Veo would not take, with the reason, before anything is written or paid', async () => {
    await world.startBot();
    const refusal = async (options: Record<string, unknown>, userId = MEMBER2) => {
      const handle = world.video({ prompt: 'a fox', ...options } as never, { userId });
      const reply = await handle.waitForReply((m) => m.ephemeral && m.content.length > 0, 15_000);
      return reply.content;
    };
    expect(await refusal({ image: image(gifBytes(), 'dance.gif', 'image/gif') })).toMatch(
      /dance\.gif\) is image\/gif; Veo takes PNG, JPEG or WebP images/,
    );
    expect(await refusal({ image: image(pngBytes(20_000_001), 'huge.png', 'image/png') })).toMatch(
      /huge\.png\) is 20\.0 MB; Veo takes images up to 20\.0 MB/,
    );
    // Declared as a JPEG, but the bytes are text: caught by the magic numbers after the download.
    expect(await refusal({ image: image(Buffer.from('not an image at all'), 'photo.jpg', 'image/jpeg') })).toMatch(
      /photo\.jpg\) is not a PNG, JPEG or WebP image \(checked by its content\)/,
    );
    // No declared type, real JPEG bytes: fine (the bytes decide).
    const fine = world.video({ prompt: 'a fox', image: image(jpegBytes(), 'photo', null) }, { userId: MEMBER });
    await waitForResult(fine);
    expect(await refusal({ last_frame: image(png, 'end.png', 'image/png') })).toMatch(/`last_frame` needs an `image`/);
    // The signed URL already expired when the bot fetched it.
    world.discord.attachmentUrlLifetimeMs = 0;
    expect(await refusal({ image: image(png, 'late.png', 'image/png') })).toMatch(
      /could not fetch your image from Discord, so nothing was started/,
    );
    world.discord.attachmentUrlLifetimeMs = 24 * 3_600_000;

    expect(await world.requestsOf(MEMBER2)).toEqual([]);
    expect(world.google.submits).toHaveLength(1);
    expect(world.google.listObjects('').filter((o) => o.name.includes(`/${MEMBER2}/`))).toEqual([]);
    // The refused requests left no public message behind (their "thinking…" replies were deleted).
    expect(world.discord.messages(GENERAL).filter((m) => !m.ephemeral && m.interactionId && m.loading)).toEqual([]);
  });
});
