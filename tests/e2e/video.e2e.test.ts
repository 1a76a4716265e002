import { E2EWorld, WORLD } from '../helpers/e2e';

jest.setTimeout(90_000);

describe('/video end to end (real bot process, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    await world.startBot({ DAILY_QUOTA: '3' });
  });
  afterAll(async () => world?.close());

  it('turns a prompt into an attached video in the original reply', async () => {
    const handle = world.video(
      { prompt: 'a red fox running through snow', length: 4, ratio: '9:16' },
      { userId: WORLD.users.member.id },
    );
    expect(await handle.waitForAck(5_000)).toBe(5); // deferred within 3 s
    const reply = await handle.waitForReply((m) => m.attachments.length > 0, 30_000);
    expect(reply.attachments[0].filename).toBe('sample_0.mp4');
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.embeds[0].description).toContain('a red fox running through snow');

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', WORLD.users.member.id);
    expect(row).toMatchObject({
      status: 'completed',
      durationSeconds: 4,
      aspectRatio: '9:16',
      model: 'veo-3.1-fast-generate-001',
      deliveredAs: 'attachment',
      submitAttempts: 1,
    });
    expect(row!.notificationMessageId).toBe(reply.id);
    expect(world.google.submits).toHaveLength(1);
    expect(world.google.submits[0]!.parameters).toMatchObject({
      durationSeconds: 4,
      aspectRatio: '9:16',
      storageUri: expect.stringContaining(`gs://${world.google.bucket}/${WORLD.guilds.main.id}/`),
    });
    // The live progress embed was shown before the result.
    expect(reply.edits).toBeGreaterThan(1);
  });
});
