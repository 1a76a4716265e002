/**
 * No secret in any log line, end to end: the real bot loses its PostgreSQL connection in the middle of its writes (the
 * /video insert, storing the input images, storing a paid operation's name, completing, recording the announcement),
 * which makes TypeORM throw QueryFailedErrors carrying the statement's parameters. Everything the process wrote
 * (stdout and stderr) is then searched for the interaction tokens, the prompts, Discord's signed URLs of the images
 * given to /video, the bot token and the service account's private key.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WORLD, E2EWorld } from '../helpers/e2e';
import { pngBytes } from '../helpers/images';
import { rowStates, waitUntil } from '../helpers/seedRows';
import { TcpProxy } from '../helpers/tcpProxy';

jest.setTimeout(240_000);

const CH = WORLD.guilds.main.channels;

/** Text of the statements of the writes to cut (src/db/sql/). */
const WRITES = {
  insert: 'INSERT INTO video_requests (',
  images: 'image_source_url = NULL',
  operationName: "state = 'accepted', accepted_at",
  completed: "SET status = 'completed'",
  announced: "SET announcement = 'sent'",
};

describe('PostgreSQL cut during writes: the logs hold no token, prompt or key', () => {
  let world: E2EWorld;
  let proxy: TcpProxy;

  beforeAll(async () => {
    world = await E2EWorld.start();
    const server = new URL(world.db.url!);
    proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port || 5432) });
  });
  afterAll(async () => {
    await world?.close();
    await proxy?.close();
  });

  it('logs each failed write without its parameters, and still finishes the request', async () => {
    world.google.setDefaultFate({ kind: 'done', afterPolls: 2, videoBytes: 32 * 1024 });
    const bot = await world.startBot({ DATABASE_URL: proxy.rewrite(world.db.url!) });
    const tag = randomBytes(6).toString('hex');

    // 1. The connection drops while the /video row is inserted: the request is refused, nothing is recorded.
    const insertCut = proxy.cutWhen(WRITES.insert);
    const refusedPrompt = `a marmot juggling lanterns ${tag}`;
    const refused = world.video(
      { prompt: refusedPrompt, length: 4, image: { file: pngBytes(), filename: 'a.png', contentType: 'image/png' } },
      { channelId: CH.videos.id },
    );
    await insertCut;
    await refused.waitForReply((m) => /could not save your request/.test(String(m.content)), 30_000);
    await bot.waitForLog((l) => l.msg === 'could not record the /video request', 30_000);

    // 2. Another request, with a cut at each later write: the bot retries or resumes it and still delivers it.
    const later = [WRITES.images, WRITES.operationName, WRITES.completed, WRITES.announced].map((sql) =>
      proxy.cutWhen(sql),
    );
    const deliveredPrompt = `a heron fishing at dusk ${tag}`;
    const delivered = world.video(
      { prompt: deliveredPrompt, length: 4, image: { file: pngBytes(), filename: 'b.png', contentType: 'image/png' } },
      { channelId: CH.videos.id },
    );
    await Promise.all(later);
    const id = await waitUntil('the row of the second request', async () => {
      const rows = (await world.db.database.dataSource.query(
        `SELECT id FROM video_requests WHERE interaction_token = $1`,
        [delivered.token],
      )) as { id: string }[];
      return rows[0]?.id;
    });
    await waitUntil(
      'the second request announced',
      async () => (await rowStates(world, [id]))[0]?.announcement === 'sent',
      120_000,
    );
    expect(proxy.severed).toBeGreaterThan(0);
    expect((await rowStates(world, [id]))[0]).toMatchObject({ status: 'completed', announcement: 'sent' });

    // Each cut was noticed and logged (with the error's message), not hidden.
    const failures = bot.logs.filter((l) => l.level >= 40 && l.err !== undefined);
    expect(failures.length).toBeGreaterThanOrEqual(5);
    expect(JSON.stringify(failures)).toMatch(/Connection terminated|ECONNRESET|terminat/i);

    const output = bot.stdout + bot.stderr;
    const key = (JSON.parse(readFileSync(world.keyFile, 'utf8')) as { private_key: string }).private_key;
    const keyLines = key.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));
    const imageUrl = (handle: typeof refused) =>
      Object.values(handle.interaction.payload.data.resolved.attachments as Record<string, { url: string }>)[0]!.url;
    const signature = (url: string) => new URL(url).searchParams.get('hm')!;
    const secrets: Record<string, string> = {
      "the refused request's image URL": imageUrl(refused),
      "the delivered request's image URL": imageUrl(delivered),
      "the refused request's image URL signature": signature(imageUrl(refused)),
      "the delivered request's image URL signature": signature(imageUrl(delivered)),
      'the refused interaction token': refused.token,
      'the delivered interaction token': delivered.token,
      'the random part of an interaction token': refused.token.split(':').pop()!,
      'the refused prompt': refusedPrompt,
      'the delivered prompt': deliveredPrompt,
      'the bot token': world.discord.token,
      'the private key (one line)': keyLines[Math.floor(keyLines.length / 2)]!,
      'the private key (base64 body)': keyLines.join(''),
    };
    const found = Object.entries(secrets)
      .filter(([, secret]) => output.includes(secret))
      .map(([what]) => `${what}: ${lineHolding(output, secrets[what]!)}`);
    expect(found).toEqual([]);
    // the tag alone would show a prompt cut short, or escaped differently in JSON
    expect(output).not.toContain(tag);
  });
});

/** The log line where a secret was found, cut short, so the failure says which line leaked. */
function lineHolding(output: string, secret: string): string {
  const line = output.split('\n').find((l) => l.includes(secret)) ?? '';
  return line.slice(0, 600);
}
