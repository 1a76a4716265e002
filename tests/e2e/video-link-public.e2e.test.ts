import { E2EWorld, WORLD } from '../helpers/e2e';
import { field, urlIn, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;

/** VIDEO_LINK_MODE=public: a video too large to attach is linked by its public URL, which serves it. */
describe('/video with VIDEO_LINK_MODE=public (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.setPublicRead(true); // the operator made the bucket publicly readable
    world.google.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 3 * MiB });
    await world.startBot({ VIDEO_LINK_MODE: 'public' });
  });
  afterAll(async () => world?.close());

  it('links the public URL of a video larger than the upload limit, and the URL serves it', async () => {
    const user = WORLD.users.member.id;
    const reply = await waitForResult(
      world.video({ prompt: 'waves breaking on black sand' }, { userId: user, attachmentSizeLimit: 1 * MiB }),
    );
    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.attachments).toHaveLength(0);
    expect(field(reply, 'Video')).toMatch(/Too large to attach here/);
    const url = urlIn(reply.content)!;
    expect(url).toBeDefined();
    expect(new URL(url).search).toBe(''); // not signed

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ status: 'completed', deliveredAs: 'link' });
    const objectName = row!.videoUrls![0]!.replace(`gs://${world.google.bucket}/`, '');
    expect(url).toBe(`${world.google.baseUrl}/${world.google.bucket}/${encodeURIComponent(objectName)}`);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/mp4');
    const served = Buffer.from(await response.arrayBuffer());
    expect(served.equals(world.google.getObject(objectName)!)).toBe(true);
  });
});
