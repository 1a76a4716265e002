import { E2EWorld, WORLD } from '../helpers/e2e';
import { field, urlIn, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
/** The longest bucket name Cloud Storage allows without dots (63 characters). */
const BUCKET = `veobot-${'long-bucket-name-'.repeat(4)}`.slice(0, 62) + 'x';

/**
 * A video too large to attach, from a bucket with the longest plain name: its V4 signed link is far longer than an
 * embed field holds, yet Discord (the strict emulator) accepts the message and the link serves the video.
 */
describe('a large video from a 63-character bucket (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    expect(BUCKET).toHaveLength(63);
    world = await E2EWorld.start({ bucket: BUCKET });
    world.google.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 3 * MiB });
    await world.startBot();
  });
  afterAll(async () => world?.close());

  it('is delivered as a working signed link in the message, however long the link is', async () => {
    const user = WORLD.users.member.id;
    const reply = await waitForResult(
      world.video({ prompt: 'a long pan over a harbour at dawn' }, { userId: user, attachmentSizeLimit: 1 * MiB }),
    );
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(field(reply, 'Video')).toMatch(/Too large to attach here/);
    const url = urlIn(reply.content)!;
    expect(url).toContain(`/${BUCKET}/`);
    expect(new URL(url).searchParams.get('X-Goog-Signature')).toBeTruthy();
    expect(reply.content.length).toBeLessThanOrEqual(2000);

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ status: 'completed', deliveredAs: 'link' });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).length).toBe(3 * MiB);
  });
});
