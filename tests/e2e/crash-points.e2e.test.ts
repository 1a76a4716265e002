/**
 * Crash safety at every named crash point (issue #7, part 1): the real bot (dist/index.js) is armed with
 * CRASH_POINT, takes a `/video` request and kills itself with SIGKILL where the point is reached; a clean bot is then
 * started on the same database. Whatever the point, the request ends finished, its requester is shown the result
 * exactly once, and Veo was asked to make the video once.
 *
 * Veo operations here are time-driven (the video appears in the bucket 1.5 s after the submit whether or not anybody
 * polls, as real Veo does), and AMBIGUOUS_GRACE_MS is longer than that, so a crash between Veo's acceptance and the
 * storing of the operation name is reconciled through the output folder instead of a second submit.
 *
 * `/video image:` keeps the same guarantee: its row is written before the acknowledgement with Discord's URL of the
 * image, and the worker fetches and stores the image before any submit, so a bot killed right after acknowledging it
 * (or right after recording it) fetches the image after the restart and submits it once.
 */
import { CRASH_POINTS, type CrashPoint } from '../../src/lib/crashPoints';
import type { ExitInfo } from '../helpers/botProcess';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { pngBytes } from '../helpers/images';
import { pingsFor, resultNotifications, submitsFor } from '../helpers/outcomes';

jest.setTimeout(150_000);

const MEMBER = WORLD.users.member.id;
const GENERAL = WORLD.guilds.main.channels.general.id;
/** Longer than the operation (1.5 s) plus a restart, so the output is found before any resubmit. */
const SETTINGS = { AMBIGUOUS_GRACE_MS: '10000' };
const OPERATION = { kind: 'done' as const, afterMs: 1_500, videoBytes: 32_000 };

/** Per crash point: what the emulators saw. Printed after the run (the figures of the report). */
const figures: { point: string; path: string; submits: number; results: number; pings: number; ambiguous: number }[] =
  [];

async function exitedWithin(exited: Promise<ExitInfo>, ms: number): Promise<ExitInfo> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`the armed bot did not die within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a clean bot, waits until the request is finished and announced, and lets any duplicate show up. */
async function restartAndFinish(world: E2EWorld, requestId: string): Promise<void> {
  await world.startBot(SETTINGS, { waitForCommands: false });
  await world.waitForRow((rows) => rows.some((r) => r.id === requestId && r.announcement === 'sent'), MEMBER, 90_000);
  await new Promise((r) => setTimeout(r, 1_500));
}

async function expectOnceEach(
  world: E2EWorld,
  point: CrashPoint,
  path: string,
  requestId: string,
  attachments = 1,
): Promise<void> {
  const row = (await world.tracking.requests.getById(requestId))!;
  const submits = submitsFor(world.google, requestId);
  const results = resultNotifications(world.discord, requestId);
  const pings = pingsFor(world.discord, requestId, MEMBER);
  figures.push({
    point,
    path,
    submits,
    results: results.length,
    pings: pings.length,
    ambiguous: row.ambiguousAttempts,
  });

  expect(row).toMatchObject({ status: 'completed', announcement: 'sent' });
  expect(results).toHaveLength(1);
  expect(results[0]!.id).toBe(row.notificationMessageId);
  // The video (and, for an image-to-video request, its first frame as the thumbnail).
  expect(results[0]!.attachments).toHaveLength(attachments);
  // Showing the result may or may not ping (an edited reply does not); it never pings twice.
  expect(pings.length).toBeLessThanOrEqual(1);
  expect(submits).toBe(1);
  expect(world.google.submits).toHaveLength(1);
}

afterAll(() => {
  if (figures.length === 0) return;
  const lines = figures.map(
    (f) =>
      `${f.point.padEnd(24)} ${f.path.padEnd(8)} submits=${f.submits} results=${f.results} pings=${f.pings} ambiguous=${f.ambiguous}`,
  );
  console.log(
    `crash points (per request: Veo submits, result notifications, pings, ambiguous attempt checks)\n${lines.join('\n')}`,
  );
});

describe.each(CRASH_POINTS.map((p) => [p]))('CRASH_POINT=%s on the live /video path', (point) => {
  let world: E2EWorld;
  beforeEach(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate(OPERATION);
  });
  afterEach(async () => world?.close());

  it('SIGKILL there, restart: finished, requester shown the result once, one Veo submit', async () => {
    const armed = await world.startBot({ ...SETTINGS, CRASH_POINT: point });
    const handle = world.video({ prompt: `a lighthouse in a storm (${point})`, length: 4 });

    const exit = await exitedWithin(armed.exited, 60_000);
    expect(exit.signal).toBe('SIGKILL');
    expect(armed.stderr).toContain(`CRASH_POINT ${point} reached`);
    // The row is written before /video is acknowledged: after-claim dies before the ack, every later point after it.
    expect(handle.interaction.ackType).toBe(point === 'after-claim' ? undefined : 5);
    const [atCrash] = await world.requestsOf(MEMBER);
    expect(atCrash).toBeDefined();

    await restartAndFinish(world, atCrash!.id);
    await expectOnceEach(world, point, 'live', atCrash!.id);
    // The requester's own /video reply carries the outcome, or a message in its channel does (always so when the
    // interaction was never acknowledged, as its token cannot edit anything then).
    const shownIn = resultNotifications(world.discord, atCrash!.id)[0]!;
    if (point === 'after-claim') expect(shownIn).toMatchObject({ kind: 'channel', channelId: GENERAL });
    else expect(shownIn.id === handle.original()?.id || shownIn.channelId === GENERAL).toBe(true);
  });
});

describe.each([['after-claim'], ['before-run']] as [CrashPoint][])(
  'CRASH_POINT=%s on the /video image path',
  (point) => {
    let world: E2EWorld;
    beforeEach(async () => {
      world = await E2EWorld.start();
      world.google.setDefaultFate(OPERATION);
    });
    afterEach(async () => world?.close());

    it('SIGKILL there, restart: the image is fetched then and submitted once; requester shown the result once', async () => {
      const png = pngBytes(30_000);
      const armed = await world.startBot({ ...SETTINGS, CRASH_POINT: point });
      const handle = world.video({
        prompt: `a lighthouse in a storm (${point}, image)`,
        length: 4,
        image: { file: png, filename: 'lighthouse.png', contentType: 'image/png' },
      });

      const exit = await exitedWithin(armed.exited, 60_000);
      expect(exit.signal).toBe('SIGKILL');
      // Recorded before the acknowledgement, with the image still on Discord: before-run dies once the requester sees
      // "thinking…" (and the progress embed), after-claim before Discord was answered.
      expect(handle.interaction.ackType).toBe(point === 'after-claim' ? undefined : 5);
      const [atCrash] = await world.requestsOf(MEMBER);
      expect(atCrash).toMatchObject({ status: 'pending', imageUri: null, submitAttempts: 0 });
      expect(atCrash!.imageSourceUrl).toMatch(/\/ephemeral-attachments\//);
      expect(world.google.submitCalls).toBe(0);

      await restartAndFinish(world, atCrash!.id);
      await expectOnceEach(world, point, 'image', atCrash!.id, 2);
      const row = (await world.tracking.requests.getById(atCrash!.id))!;
      expect(row).toMatchObject({ imageMimeType: 'image/png', imageSourceUrl: null });
      expect(world.google.submits[0]!.instance.image).toEqual({ gcsUri: row.imageUri, mimeType: 'image/png' });
      expect(world.google.getObject(row.imageUri!.replace(`gs://${world.google.bucket}/`, ''))!.equals(png)).toBe(true);
    });
  },
);

describe('CRASH_POINT=after-claim on the resume path', () => {
  let world: E2EWorld;
  beforeEach(async () => {
    world = await E2EWorld.start();
    world.google.setDefaultFate(OPERATION);
  });
  afterEach(async () => world?.close());

  it('a pending row left by a dead instance: SIGKILL right after the claim, restart: finished, told once, one submit', async () => {
    const [inserted] = await world.db.database.dataSource.query(
      `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, status, model,
         created_at, lease_owner, lease_expires_at, fence)
       VALUES ($1, $2, $3, 'a lighthouse in a storm (resumed)', 4, '16:9', '720p', 'pending', 'veo-3.1-fast-generate-001',
         now() - interval '5 minutes', 'dead-instance', now() - interval '1 second', 1)
       RETURNING id`,
      [MEMBER, WORLD.guilds.main.id, GENERAL],
    );
    const id = (inserted as { id: string }).id;

    const armed = await world.startBot({ ...SETTINGS, CRASH_POINT: 'after-claim' }, { waitForCommands: false });
    const exit = await exitedWithin(armed.exited, 60_000);
    expect(exit.signal).toBe('SIGKILL');
    expect(armed.stderr).toContain('CRASH_POINT after-claim reached');
    // Died holding the claim: nothing was submitted yet.
    expect(await world.tracking.requests.getById(id)).toMatchObject({ status: 'pending', submitAttempts: 0 });

    await restartAndFinish(world, id);
    await expectOnceEach(world, 'after-claim', 'resumed', id);
    // No interaction token: the requester is told in the channel, with a mention of them only.
    const [message] = resultNotifications(world.discord, id);
    expect(message).toMatchObject({ kind: 'channel', channelId: GENERAL });
    expect(message!.pinged).toEqual({ users: [MEMBER], roles: [], everyone: false });
  });
});
