import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { field, urlIn, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Temporary video files: a video on its way to Discord is streamed into a `veobot-video-<pid>-*` folder of the bot's
 * temporary directory (its own TMPDIR here, so the test sees exactly what the bot leaves). Huge or lying objects must
 * neither fill memory nor disk, every path removes its file, and a crash's leftover goes at the next start.
 */
describe('temporary video files (real bot process)', () => {
  let world: E2EWorld;
  let tmp: string;

  const leftovers = () => readdirSync(tmp).filter((e) => e.startsWith('veobot-video-'));
  /** The file goes right after Discord answered, a moment after the announcement is recorded: wait for it. */
  const noLeftovers = () => world.discord.waitFor(() => leftovers().length === 0, 30_000, 'the temporary files to go');

  beforeAll(async () => {
    world = await E2EWorld.start();
    tmp = mkdtempSync(join(tmpdir(), 'veobot-tmpdir-'));
    world.google.fateForPrompt('[two gibibytes]', {
      kind: 'done',
      afterPolls: 1,
      syntheticOutput: { size: 2 * GiB },
    });
    world.google.fateForPrompt('[lies about its size]', {
      kind: 'done',
      afterPolls: 1,
      syntheticOutput: { size: 1 * MiB, served: 2 * GiB },
    });
    world.google.fateForPrompt('[slow download]', {
      kind: 'done',
      afterPolls: 1,
      syntheticOutput: { size: 6 * MiB, bytesPerSecond: 256 * 1024 },
    });
    await world.startBot({ TMPDIR: tmp, DAILY_QUOTA: '20' });
  });
  afterAll(async () => {
    await world?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  function outputOf(row: { videoUrls: string[] | null }) {
    return world.google.object(row.videoUrls![0]!.replace(`gs://${world.google.bucket}/`, ''))!;
  }

  it('a 2 GiB video is linked, never downloaded: no memory, no disk', async () => {
    const user = WORLD.users.member.id;
    const reply = await waitForResult(world.video({ prompt: 'a very long film [two gibibytes]' }, { userId: user }));
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(urlIn(reply.content)).toBeDefined();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ deliveredAs: 'link', videoSizeBytes: 2 * GiB });
    expect(outputOf(row!).synthetic!.servedBytes).toBe(0);
    await noLeftovers();
    expect(leftovers()).toEqual([]);
  });

  it('an object that sends more than its metadata said is cut off at the first extra byte and linked instead', async () => {
    const user = WORLD.users.member2.id;
    const reply = await waitForResult(
      world.video({ prompt: 'a river at night [lies about its size]' }, { userId: user, attachmentSizeLimit: 8 * MiB }),
    );
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.attachments).toHaveLength(0);
    expect(field(reply, 'Video')).toMatch(/could not be attached/);
    expect(urlIn(reply.content)).toBeDefined();
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ deliveredAs: 'link' });
    // The download stopped near 1 MiB (plus what sat in socket buffers), not at 2 GiB.
    expect(outputOf(row!).synthetic!.servedBytes).toBeLessThan(64 * MiB);
    await noLeftovers();
    expect(leftovers()).toEqual([]);
  });

  it('a bot killed while its video is on the way leaves a folder that the next start removes', async () => {
    const user = WORLD.users.admin.id;
    const killed = world.bots[0]!;
    world.video({ prompt: 'waves on a shore [slow download]' }, { userId: user, attachmentSizeLimit: 16 * MiB });
    await world.discord.waitFor(() => leftovers().some((e) => e.startsWith(`veobot-video-${killed.pid}-`)), 60_000);
    await killed.kill();
    const left = leftovers().filter((e) => e.startsWith(`veobot-video-${killed.pid}-`));
    expect(left).toHaveLength(1);

    const next = await world.startBot({ TMPDIR: tmp, DAILY_QUOTA: '20' });
    await next.waitForLog((l) => l.msg === 'removed temporary video folders a crash left behind', 60_000);
    expect(existsSync(join(tmp, left[0]!))).toBe(false);
    // The request itself is resumed and delivered as usual (slowly: the download runs at 256 KiB/s).
    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user, 120_000);
    expect(row).toMatchObject({ status: 'completed', deliveredAs: 'attachment' });
    await noLeftovers();
    expect(leftovers()).toEqual([]);
  });
});
