import { testRedisUrl } from '../helpers/redis';
import { DuplicateInteractionError } from '../../src/domain/errors';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { pngBytes } from '../helpers/images';

jest.setTimeout(120_000);

/**
 * Discord delivers an interaction to every gateway session on its shard, so two instances sharing one bot token both
 * receive the same `/video`. Exactly one may record it, answer it and pay for it.
 */
describe('one /video delivered to two instances', () => {
  let world: E2EWorld;
  const REDIS = testRedisUrl(6);

  beforeAll(async () => {
    world = await E2EWorld.start();
  });
  afterAll(async () => world?.close());

  beforeAll(async () => {
    await world.startBot({ REDIS_URL: REDIS, INSTANCE_ID: 'first' });
    await world.startBot({ REDIS_URL: REDIS, INSTANCE_ID: 'second' }, { waitForCommands: false });
    await world.discord.waitFor(
      () => world.discord.sessions.filter((s) => s.ready).length === 2,
      15_000,
      'two ready sessions',
    );
  });

  // With an image too: its row is written before the acknowledgement, like any other (the worker fetches the image).
  it.each([
    ['a text prompt', WORLD.users.member2.id, {}],
    [
      'an image',
      WORLD.users.member.id,
      { image: { file: pngBytes(20_000), filename: 'fox.png', contentType: 'image/png' } },
    ],
  ] as const)('%s: is recorded once, submitted to Veo once and answered once', async (_what, user, extra) => {
    const submitsBefore = world.google.submits.length;
    const handle = world.discord.pushInteraction({
      name: 'video',
      guildId: WORLD.guilds.main.id,
      channelId: WORLD.guilds.main.channels.general.id,
      userId: user,
      options: { prompt: 'two foxes, one video', length: 4, ...extra },
      sessionIndex: 0,
    });
    // The same INTERACTION_CREATE reaches the other instance too, as Discord does for sessions on one shard.
    world.discord.dispatchEvent('INTERACTION_CREATE', handle.interaction.payload, 1);

    const reply = await handle.waitForReply((m) => m.attachments.some((a) => a.filename.endsWith('.mp4')), 30_000);
    const [row, ...others] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ status: 'completed', interactionId: handle.id, notificationMessageId: reply.id });
    expect(world.google.submits.filter((s) => String(s.parameters.storageUri).includes(row!.id))).toHaveLength(1);
    expect(world.google.submits).toHaveLength(submitsBefore + 1);
    if ('image' in extra) expect(world.google.submits.at(-1)!.instance.image).toMatchObject({ gcsUri: row!.imageUri });
    // One acknowledgement reached Discord; the other instance stayed silent (no error reply, no crash).
    const callbacks = world.discord.calls.filter(
      (c) => c.method === 'POST' && c.path.startsWith(`/interactions/${handle.id}/`),
    );
    expect(callbacks.filter((c) => c.status < 300)).toHaveLength(1);
    expect(handle.followUps()).toEqual([]);
    for (const bot of world.bots) {
      expect(bot.running).toBe(true);
      expect(bot.logs.filter((l) => l.level >= 50)).toEqual([]);
    }
  });

  it('the database refuses a second request for the same interaction', async () => {
    const input = {
      userId: WORLD.users.member.id,
      guildId: WORLD.guilds.main.id,
      channelId: WORLD.guilds.main.channels.general.id,
      prompt: 'dup',
      aspectRatio: '16:9' as const,
      interactionId: '1300000000009999999',
    };
    await world.tracking.requests.createRequest(input, 'test', 1_000);
    await expect(world.tracking.requests.createRequest(input, 'test', 1_000)).rejects.toBeInstanceOf(
      DuplicateInteractionError,
    );
  });
});
