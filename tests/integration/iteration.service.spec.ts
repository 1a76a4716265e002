/**
 * IterationService and the worker it races, with real parts: the services wired by createServices on a fresh
 * PostgreSQL database, Veo and Cloud Storage through their real clients against the Google emulator. What the e2e
 * tests cannot stage deterministically: a live worker that loses its request to the requester's Cancel, and every
 * reason a press is refused before anything is written.
 */
import { REST } from 'discord.js';
import type { DataSource } from 'typeorm';
import { createServices, type Services } from '../../src/app/createServices';
import type { VideoRequestRow } from '../../src/domain/request';
import type { Config } from '../../src/lib/config';
import { CrashPoints } from '../../src/lib/crashPoints';
import { Metrics } from '../../src/lib/metrics';
import { StorageService } from '../../src/services/StorageService';
import { VeoService } from '../../src/services/VeoService';
import type { InteractionContext } from '../../src/services/VideoRequestService';
import { TrafficWatch } from '../conformance';
import { DiscordEmulator, WORLD } from '../emulators/discord';
import { startGoogle } from '../emulators/google/testKit';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';
import { refusalMessage } from '../../src/discord/spendViews';
import type { PressResult } from '../../src/services/IterationService';

jest.setTimeout(60_000);

const GUILD = WORLD.guilds.main.id;
const OTHER_GUILD = WORLD.guilds.other.id;
const CHANNEL = WORLD.guilds.main.channels.general.id;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;

describe('IterationService (real database, Veo and Storage against the emulator)', () => {
  let kit: Awaited<ReturnType<typeof startGoogle>>;
  let discord: DiscordEmulator;
  let rest: REST;
  let db: TestDatabase;
  let ds: DataSource;
  let services: Services;
  let interactions = 0;
  const traffic = new TrafficWatch();

  const context = (over: Partial<InteractionContext> = {}): InteractionContext => ({
    guildId: GUILD,
    channelId: CHANNEL,
    userId: MEMBER,
    applicationId: WORLD.applicationId,
    interactionToken: 'not-used-here',
    interactionExpiresAt: new Date(Date.now() + 14 * 60_000),
    interactionId: String(1_500_000_000_000_000_000n + BigInt(++interactions)),
    attachmentSizeLimit: null,
    ...over,
  });

  function build(video: Partial<Config['video']> = {}): Services {
    const config = {
      ...kit.config,
      video: { ...kit.config.video, ...video },
      veo: { pollIntervalMs: 50 },
      instanceId: 'iteration-spec',
    };
    return createServices({
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
  }

  /** A finished request of MEMBER's, as a parent for presses. */
  async function finished(over: Record<string, unknown> = {}): Promise<VideoRequestRow> {
    const recorded = await services.videoRequests.record(
      {
        prompt: 'a parent video',
        durationSeconds: 8,
        aspectRatio: '16:9',
        resolution: '720p',
        generateAudio: true,
        negativePrompt: null,
        seed: null,
      },
      context(),
    );
    await ds.query(
      `UPDATE video_requests SET status = 'completed', video_urls = ARRAY['gs://b/g/c/u/x/1/2/sample_0.mp4'],
         lease_owner = NULL, lease_expires_at = NULL, announcement = 'sent' WHERE id = $1`,
      [recorded.row.id],
    );
    for (const [column, value] of Object.entries(over))
      await ds.query(`UPDATE video_requests SET ${column} = $2 WHERE id = $1`, [recorded.row.id, value]);
    return (await services.store.requests.getById(recorded.row.id))!;
  }

  beforeAll(async () => {
    kit = await startGoogle();
    [discord, db] = await Promise.all([DiscordEmulator.start(), createTestDatabase('postgres')]);
    traffic.watchDiscord(discord).watchGoogle(kit.emu);
    ds = db.database.dataSource;
    rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    services = build({ dailyQuota: 50 });
  });
  afterAll(async () => {
    rest?.clearHashSweeper();
    rest?.clearHandlerSweeper();
    await Promise.allSettled([discord?.close(), db?.drop()]);
    await kit?.stop();
    traffic.assertConforming();
  });

  it('a live worker that lost its request to Cancel submits nothing and tells its watcher the request was cancelled', async () => {
    const recorded = await services.videoRequests.record(
      {
        prompt: 'cancelled before its worker ran',
        durationSeconds: 4,
        aspectRatio: '16:9',
        resolution: '720p',
        generateAudio: true,
        negativePrompt: null,
        seed: null,
      },
      context(),
    );
    const cancel = await services.iterations.cancel(recorded.row.id, { userId: MEMBER, guildId: GUILD });
    expect(cancel.kind).toBe('cancelled');
    const ends: (VideoRequestRow | null | undefined)[] = [];
    const phases: string[] = [];
    const outcome = await services.videoRequests.run(recorded, {
      onPhase: (phase) => void phases.push(phase),
      onEnd: (taken) => void ends.push(taken),
    }).done;
    expect(outcome).toBe('lost_lease');
    expect(phases).toEqual([]); // it never got as far as recording a submit attempt
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ id: recorded.row.id, status: 'failed', failureKind: 'cancelled' });
    expect(kit.emu.submitCalls).toBe(0);
    if (cancel.kind === 'cancelled') await services.iterations.cancelShown(cancel.claim.lease, '1500000000000000999');
    expect(await services.store.requests.getById(recorded.row.id)).toMatchObject({
      announcement: 'sent',
      notificationMessageId: '1500000000000000999',
      leaseOwner: null,
    });
  });

  it('refuses presses that may not make a request, before writing anything', async () => {
    const parent = await finished();
    const count = async () =>
      ((await ds.query(`SELECT count(*)::int AS n FROM video_requests`)) as { n: number }[])[0]!.n;
    const before = await count();
    const press = (kind: 'reroll' | 'extend' | 'retry', over: Partial<InteractionContext> = {}, parentId = parent.id) =>
      services.iterations.press({ kind, parentId, seq: 0 }, context(over));

    expect(await press('reroll', { userId: MEMBER2 })).toEqual({
      kind: 'refused',
      reason: `Only <@${MEMBER}> can use the buttons on their video. Run \`/video\` to make your own.`,
    });
    // Another server's request is as good as unknown there.
    expect(await press('reroll', { guildId: OTHER_GUILD })).toEqual({
      kind: 'refused',
      reason: 'This video request no longer exists.',
    });
    expect(await press('reroll', {}, '00000000-0000-4000-8000-000000000000')).toMatchObject({ kind: 'refused' });
    expect(await press('retry')).toEqual({ kind: 'refused', reason: 'Only a failed request can be retried.' });
    const old = await finished({ model: 'veo-2.0-generate-001' });
    const afterOld = await count();
    expect(await press('extend', {}, old.id)).toMatchObject({ kind: 'refused', reason: /cannot extend/ });
    expect(await count()).toBe(afterOld);
    expect(before + 1).toBe(afterOld);

    // The channel allow-list and the quota apply to presses as to /video (checked where the row is written; the
    // refusal comes back as a value, worded for the presser by src/discord/spendViews).
    const words = (result: PressResult) =>
      result.kind === 'refused' && result.refusal ? refusalMessage(result.refusal) : '';
    const strict = build({ allowedChannelIds: [WORLD.guilds.main.channels.videos.id], dailyQuota: 50 });
    const offChannel = await strict.iterations.press({ kind: 'reroll', parentId: parent.id, seq: 0 }, context());
    expect(offChannel).toMatchObject({ kind: 'refused', refusal: { cap: 'channel' } });
    expect(words(offChannel)).toContain('Videos can only be made in');
    const stingy = build({ dailyQuota: 1 });
    const overQuota = await stingy.iterations.press({ kind: 'reroll', parentId: parent.id, seq: 0 }, context());
    expect(overQuota).toMatchObject({ kind: 'refused', refusal: { cap: 'member_quota', limit: 1 } });
    expect(words(overQuota)).toContain('You have used your 1 video for the last 24 hours');
    expect(await count()).toBe(afterOld);
    expect(kit.emu.submitCalls).toBe(0);
  });

  it('a press makes one request, whatever the number of deliveries', async () => {
    const parent = await finished({ seed: 5 });
    const ctx = context();
    const first = await services.iterations.press({ kind: 'reroll', parentId: parent.id, seq: 3 }, ctx);
    expect(first).toMatchObject({ kind: 'recorded' });
    const replay = await services.iterations.press({ kind: 'reroll', parentId: parent.id, seq: 3 }, ctx);
    expect(replay).toEqual({ kind: 'duplicate_interaction' });
    const doubleClick = await services.iterations.press({ kind: 'reroll', parentId: parent.id, seq: 3 }, context());
    expect(doubleClick).toMatchObject({
      kind: 'already_pressed',
      existing: { parentRequestId: parent.id, originSeq: 3 },
    });
    if (first.kind === 'recorded') {
      expect(first.recorded.row).toMatchObject({ origin: 'reroll', originSeq: 3, prompt: 'a parent video' });
      expect(first.recorded.row.seed).not.toBe(5);
      await services.leases.release(first.recorded.lease);
    }
  });
});
