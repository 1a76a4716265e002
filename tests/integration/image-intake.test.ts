/**
 * The image intake step (generation/ImageIntake) with real parts: the services wired by createServices on a fresh
 * PostgreSQL database, Discord's signed CDN (the Discord emulator) and Veo and Cloud Storage through their real clients
 * against the Google emulator. `/video image:` records the request with Discord's URL of each image before it
 * acknowledges; the worker fetches, checks and stores the images before anything can be submitted. What the e2e tests
 * cannot stage deterministically: the state of the row and the bucket at the moment the worker is about to call Veo,
 * an outage answered by giving the request back, and a Cancel that wins while the image is being fetched.
 */
import { REST } from 'discord.js';
import type { DataSource } from 'typeorm';
import { createServices, type Services } from '../../src/app/createServices';
import { holdsReservation } from '../../src/db/sql/tables';
import type { VideoSpec } from '../../src/domain/iteration';
import type { VideoRequestRow } from '../../src/domain/request';
import { CrashPoints } from '../../src/lib/crashPoints';
import { Metrics } from '../../src/lib/metrics';
import { StorageService } from '../../src/services/StorageService';
import { VeoService } from '../../src/services/VeoService';
import type { InteractionContext } from '../../src/services/VideoRequestService';
import { TrafficWatch } from '../conformance';
import { DiscordEmulator, WORLD } from '../emulators/discord';
import { startGoogle } from '../emulators/google/testKit';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';
import { pngBytes, webpBytes } from '../helpers/images';

jest.setTimeout(60_000);

const GUILD = WORLD.guilds.main.id;
const CHANNEL = WORLD.guilds.main.channels.general.id;
const MEMBER = WORLD.users.member.id;

describe('ImageIntake (real database, Discord CDN, Veo and Storage against the emulators)', () => {
  let kit: Awaited<ReturnType<typeof startGoogle>>;
  let discord: DiscordEmulator;
  let rest: REST;
  let db: TestDatabase;
  let ds: DataSource;
  let services: Services;
  let interactions = 0;
  const traffic = new TrafficWatch();

  const context = (): InteractionContext => ({
    guildId: GUILD,
    channelId: CHANNEL,
    userId: MEMBER,
    applicationId: WORLD.applicationId,
    interactionToken: 'not-used-here',
    interactionExpiresAt: new Date(Date.now() + 14 * 60_000),
    interactionId: String(1_600_000_000_000_000_000n + BigInt(++interactions)),
    attachmentSizeLimit: null,
  });

  /** A `/video` as the command records it: the images still on Discord. */
  function spec(prompt: string, image: Buffer, lastFrame?: Buffer): VideoSpec {
    const source = (data: Buffer, filename: string) => {
      const a = discord.attachFile({ file: data, filename, contentType: 'image/png' });
      return { url: a.url, filename: a.filename, contentType: a.content_type ?? null };
    };
    return {
      prompt,
      durationSeconds: 4,
      aspectRatio: '16:9',
      resolution: '720p',
      generateAudio: true,
      negativePrompt: null,
      seed: null,
      imageSource: source(image, 'first.png'),
      lastFrameSource: lastFrame ? source(lastFrame, 'last.webp') : null,
    };
  }

  const object = (uri: string) => kit.emu.getObject(uri.replace(`gs://${kit.emu.bucket}/`, ''));
  const row = async (id: string) => (await services.store.requests.getById(id))!;

  beforeAll(async () => {
    kit = await startGoogle();
    [discord, db] = await Promise.all([DiscordEmulator.start(), createTestDatabase('postgres')]);
    traffic.watchDiscord(discord).watchGoogle(kit.emu);
    ds = db.database.dataSource;
    rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const config = {
      ...kit.config,
      video: { ...kit.config.video, dailyQuota: 50 },
      veo: { pollIntervalMs: 50 },
      instanceId: 'intake-spec',
    };
    services = createServices({
      config,
      dataSource: ds,
      rest,
      applicationId: () => WORLD.applicationId,
      logger: silentLogger(),
      metrics: new Metrics({ defaultMetrics: false }),
      crashPoints: new CrashPoints(undefined),
      veo: VeoService.create(config.google, silentLogger()),
      storage: StorageService.create(config.google, config.video, silentLogger()),
    });
  });
  beforeEach(() => kit.emu.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 16_000 }));
  afterAll(async () => {
    rest?.clearHashSweeper();
    rest?.clearHandlerSweeper();
    await Promise.allSettled([discord?.close(), db?.drop()]);
    await kit?.stop();
    traffic.assertConforming();
  });

  it('stores both images, with one fenced write, before the worker may call Veo; the first frame reaches the watcher', async () => {
    const png = pngBytes(12_000);
    const webp = webpBytes(7_000);
    const recorded = await services.videoRequests.record(spec('a heron lands', png, webp), context());
    expect(recorded.row).toMatchObject({ imageUri: null, lastFrameUri: null, status: 'pending' });
    expect(recorded.row.imageSourceUrl).toMatch(/\/ephemeral-attachments\//);

    // At the moment the worker is about to send the request to Veo, the row and the bucket already hold the images.
    const atSubmit: { row: VideoRequestRow; image?: Buffer; lastFrame?: Buffer; submitsBefore: number }[] = [];
    const thumbnails: string[] = [];
    const outcome = await services.videoRequests.run(recorded, {
      onThumbnail: (t) => void thumbnails.push(`${t.name}:${t.data.length}`),
      onPhase: async (phase, _row) => {
        if (phase !== 'submitting') return;
        const now = await row(recorded.row.id);
        atSubmit.push({
          row: now,
          image: now.imageUri ? object(now.imageUri) : undefined,
          lastFrame: now.lastFrameUri ? object(now.lastFrameUri) : undefined,
          submitsBefore: kit.emu.submitCalls,
        });
      },
    }).done;

    expect(outcome).toBe('completed');
    expect(atSubmit).toHaveLength(1);
    const seen = atSubmit[0]!;
    expect(seen.submitsBefore).toBe(0);
    expect(seen.row).toMatchObject({
      imageMimeType: 'image/png',
      lastFrameMimeType: 'image/webp',
      imageSourceUrl: null,
      imageSourceName: null,
      imageSourceType: null,
      lastFrameSourceUrl: null,
      submitAttempts: 1,
    });
    expect(seen.image?.equals(png)).toBe(true);
    expect(seen.lastFrame?.equals(webp)).toBe(true);
    expect(thumbnails).toEqual([`first_frame.png:${png.length}`]);
    expect(kit.emu.submits.at(-1)!.instance).toMatchObject({
      image: { gcsUri: seen.row.imageUri, mimeType: 'image/png' },
      lastFrame: { gcsUri: seen.row.lastFrameUri, mimeType: 'image/webp' },
    });
  });

  it('Discord’s CDN or the bucket not answering: nothing written or submitted, the request given back for a later sweep, then made once', async () => {
    const png = pngBytes(5_000);
    const submitsBefore = kit.emu.submitCalls;
    const recorded = await services.videoRequests.record(spec('a lantern festival', png), context());

    discord.injectFault({ path: '/ephemeral-attachments/', status: 503 });
    expect(await services.videoRequests.run(recorded).done).toBe('deferred');
    const afterCdn = await row(recorded.row.id);
    expect(afterCdn).toMatchObject({ status: 'pending', imageUri: null, leaseOwner: null, submitAttempts: 0 });
    expect(afterCdn.imageSourceUrl).toBe(recorded.row.imageSourceUrl);

    // The sweep's claim (here by hand): the bucket now fails once.
    kit.emu.injectFault({ route: 'storage', status: 503 });
    const second = (await services.leases.claimById(recorded.row.id))!;
    expect(await services.generation.process(second, { resumed: true })).toBe('deferred');
    expect(await row(recorded.row.id)).toMatchObject({ status: 'pending', imageUri: null, leaseOwner: null });
    expect(kit.emu.submitCalls).toBe(submitsBefore);

    const third = (await services.leases.claimById(recorded.row.id))!;
    expect(await services.generation.process(third, { resumed: true })).toBe('completed');
    const done = await row(recorded.row.id);
    expect(done).toMatchObject({ status: 'completed', imageSourceUrl: null, submitAttempts: 1 });
    expect(object(done.imageUri!)!.equals(png)).toBe(true);
    expect(kit.emu.submitCalls).toBe(submitsBefore + 1);
  });

  it('bytes that are not an image, or a link Discord no longer serves: failed with the reason, never submitted, nothing reserved or counted', async () => {
    const submitsBefore = kit.emu.submitCalls;
    const since = new Date(Date.now() - 3_600_000);
    const quotaBefore = await services.store.requests.countQuotaUsage(MEMBER, since);
    const text = await services.videoRequests.record(
      spec('a fox', Buffer.from('plain text, not a picture')),
      context(),
    );
    discord.attachmentUrlLifetimeMs = 0;
    const gone = await services.videoRequests.record(spec('a fox', pngBytes()), context());
    discord.attachmentUrlLifetimeMs = 24 * 3_600_000;

    expect(await services.videoRequests.run(text).done).toBe('failed');
    expect(await services.videoRequests.run(gone).done).toBe('failed');
    expect(await row(text.row.id)).toMatchObject({
      status: 'failed',
      failureKind: 'input',
      failureReason: 'image_refused',
      errorMessage: 'The image (first.png) is not a PNG, JPEG or WebP image (checked by its content).',
      imageUri: null,
      submitAttempts: 0,
    });
    expect(await row(gone.row.id)).toMatchObject({
      status: 'failed',
      failureKind: 'input',
      failureReason: 'image_gone',
      errorMessage:
        'The image could no longer be fetched from Discord (its link expired before the bot could copy it).',
    });
    expect(kit.emu.submitCalls).toBe(submitsBefore);
    expect(await services.store.requests.countQuotaUsage(MEMBER, since)).toBe(quotaBefore);
    const reserved = (await ds.query(
      `SELECT count(*)::int AS n FROM video_requests r WHERE r.id = ANY($1::uuid[]) AND ${holdsReservation('r')}`,
      [[text.row.id, gone.row.id]],
    )) as { n: number }[];
    expect(reserved[0]!.n).toBe(0);
  });

  it('a Cancel before the images are stored wins: the worker’s store is refused, nothing is submitted, the watcher is told', async () => {
    const submitsBefore = kit.emu.submitCalls;
    const recorded = await services.videoRequests.record(spec('cancelled while fetching', pngBytes()), context());
    // The requester's Cancel lands before the worker's write (it needs only pending and no submit attempt).
    const cancel = await services.iterations.cancel(recorded.row.id, { userId: MEMBER, guildId: GUILD });
    expect(cancel.kind).toBe('cancelled');
    const ends: (VideoRequestRow | null | undefined)[] = [];
    const outcome = await services.videoRequests.run(recorded, { onEnd: (taken) => void ends.push(taken) }).done;
    expect(outcome).toBe('lost_lease');
    expect(ends[0]).toMatchObject({ status: 'failed', failureKind: 'cancelled' });
    expect(await row(recorded.row.id)).toMatchObject({ imageUri: null, submitAttempts: 0 });
    expect(kit.emu.submitCalls).toBe(submitsBefore);
    if (cancel.kind === 'cancelled') await services.iterations.release(cancel.claim.lease);
  });
});
