/**
 * Bad rows, end to end: rows a bot never writes itself (inserted with SQL, as an old version, a crash or a hand edit
 * could leave them) sit beside healthy ones when the real bot starts. Each bad row gets a clear outcome recorded on
 * it, the healthy rows complete as usual, and the bot stays up.
 */
import { WORLD, E2EWorld } from '../helpers/e2e';
import type { BotProcess } from '../helpers/botProcess';
import { resultMessages, rowStates, seedRow, submitsFor, waitUntil, type RowState } from '../helpers/seedRows';

jest.setTimeout(180_000);

const CH = WORLD.guilds.main.channels;
const MEMBER = WORLD.users.member.id;
/** A channel id that looks real but no longer exists (deleted channel): Discord answers 10003 Unknown Channel. */
const DELETED_CHANNEL = '1300000000000009999';

describe('bad rows beside healthy ones (real bot process, real PostgreSQL)', () => {
  let world: E2EWorld;
  let bot: BotProcess;
  const ids: Record<string, string> = {};
  let states: Record<string, RowState>;

  beforeAll(async () => {
    world = await E2EWorld.start();
    const ds = world.db.database.dataSource;
    ids.healthyFirst = await seedRow(world, { prompt: 'a healthy request, first', channelId: CH.general.id });
    ids.deletedChannel = await seedRow(world, {
      prompt: 'a request whose channel was deleted',
      channelId: DELETED_CHANNEL,
    });
    ids.emptyChannel = await seedRow(world, { prompt: 'a request with no channel', channelId: '' });
    ids.noOperation = await seedRow(world, { prompt: 'generating, but no operation name', status: 'generating' });
    ids.retiredModel = await seedRow(world, { prompt: 'made with a retired model', model: 'veo-2.0-generate-001' });
    // An unknown status is only possible in a database whose status CHECK was dropped (hand-edited or very old).
    await ds.query(`ALTER TABLE video_requests DROP CONSTRAINT video_requests_status_check`);
    ids.unknownStatus = await seedRow(world, { prompt: 'a row with a status nobody knows', status: 'processing' });
    ids.healthyLast = await seedRow(world, { prompt: 'a healthy request, last', channelId: CH.videos.id });

    bot = await world.startBot();
    const all = Object.values(ids);
    const settled = (r: RowState) =>
      r.id === ids.unknownStatus ||
      (['completed', 'failed', 'timeout'].includes(r.status) &&
        (r.announcement === 'sent' || r.announcement === 'gave_up'));
    await waitUntil('every row settled', async () => (await rowStates(world, all)).every(settled), 90_000).catch(
      async (error) => {
        throw new Error(
          `${(error as Error).message}: ${JSON.stringify(await rowStates(world, all))}\n${bot.tail(30)}`,
          { cause: error },
        );
      },
    );
    await bot.waitForLog((l) => l.msg === 'resume sweep finished', 30_000);
    // A few more sweeps (counted, not timed, so a slow machine waits longer): nothing about the bad rows may change.
    const sweepsSoFar = bot.logs.filter((l) => l.msg === 'resume sweep finished').length;
    await bot.waitForLog(
      () => bot.logs.filter((l) => l.msg === 'resume sweep finished').length >= sweepsSoFar + 3,
      60_000,
      'three more sweeps',
    );
    states = Object.fromEntries(
      (await rowStates(world, all)).map((r) => [Object.keys(ids).find((k) => ids[k] === r.id)!, r]),
    );
  });
  afterAll(async () => world?.close());

  it('completes and announces the healthy rows once, with one Veo submit each', () => {
    for (const key of ['healthyFirst', 'healthyLast']) {
      expect(states[key]).toMatchObject({
        status: 'completed',
        announcement: 'sent',
        error_message: null,
        notification_error: null,
      });
      expect(submitsFor(world, ids[key]!)).toBe(1);
      const [message, ...more] = resultMessages(world, ids[key]!);
      expect(more).toEqual([]);
      expect(message!.pinged).toEqual({ users: [MEMBER], roles: [], everyone: false });
    }
  });

  it("a channel that no longer exists: announcement given up with Discord's answer recorded, tried once", async () => {
    expect(states.deletedChannel).toMatchObject({ announcement: 'gave_up' });
    expect(states.deletedChannel!.notification_error).toMatch(/Unknown Channel.*10003/);
    const attempts = world.discord.calls.filter(
      (c) => c.method === 'POST' && c.path.includes(`/channels/${DELETED_CHANNEL}/messages`),
    );
    expect(attempts).toHaveLength(1);
  });

  it('an empty channel id: failed before any Veo call, announcement given up with the reason recorded, Discord never called with it', () => {
    expect(states.emptyChannel).toMatchObject({ status: 'failed', failure_kind: 'bot', announcement: 'gave_up' });
    expect(states.emptyChannel!.error_message).toMatch(/cannot be sent to Veo: channelId "" is not a Discord id/);
    expect(submitsFor(world, ids.emptyChannel!)).toBe(0);
    expect(states.emptyChannel!.notification_error).toMatch(/no channel/);
    expect(world.discord.calls.filter((c) => c.path.includes('/channels//'))).toEqual([]);
  });

  it('generating with no operation name: failed with a clear message, nothing paid', () => {
    expect(states.noOperation).toMatchObject({ status: 'failed', failure_kind: 'bot', announcement: 'sent' });
    expect(states.noOperation!.error_message).toMatch(/marked generating but has no Veo operation/);
    expect(submitsFor(world, ids.noOperation!)).toBe(0);
    const [message] = resultMessages(world, ids.noOperation!);
    expect(message!.embeds[0].title).toMatch(/could not be made/);
    expect(message!.embeds[0].fields.find((f: { name: string }) => f.name === 'What now').value).toMatch(
      /not your fault/,
    );
  });

  it('a retired model: failed "model … is not available", never switched to another model, nothing billed', () => {
    expect(states.retiredModel).toMatchObject({ status: 'failed', announcement: 'sent' });
    expect(states.retiredModel!.error_message).toMatch(
      /model veo-2\.0-generate-001 is not available \(retired or unknown\)/,
    );
    expect(submitsFor(world, ids.retiredModel!)).toBe(0);
    expect(world.google.submits.filter((s) => s.model === 'veo-2.0-generate-001')).toEqual([]);
    const [message] = resultMessages(world, ids.retiredModel!);
    expect(message!.embeds[0].fields.find((f: { name: string }) => f.name === 'Why').value).toMatch(
      /model this request was made with is no longer available/,
    );
  });

  it('an unknown status: left exactly as it was (never claimed, submitted or announced)', async () => {
    // Another version of the bot may own a status this one does not know: touching it could undo that version's work.
    expect(states.unknownStatus).toMatchObject({ status: 'processing', announcement: null, error_message: null });
    const [{ fence, lease_owner }] = (await world.db.database.dataSource.query(
      `SELECT fence, lease_owner FROM video_requests WHERE id = $1`,
      [ids.unknownStatus],
    )) as { fence: string; lease_owner: string }[];
    expect({ fence: Number(fence), lease_owner }).toEqual({ fence: 2, lease_owner: 'dead-instance' });
    expect(submitsFor(world, ids.unknownStatus!)).toBe(0);
    expect(resultMessages(world, ids.unknownStatus!)).toEqual([]);
    // …and the operator is told at start which statuses it left alone.
    const warning = world.bots[0]!.logs.find((l) => l.event === 'resume_unknown_statuses');
    expect(warning?.statuses).toEqual([{ status: 'processing', count: 1 }]);
  });

  it('stays up, with no unhandled rejection', () => {
    expect(bot.running).toBe(true);
    expect(bot.logs.filter((l) => l.msg === 'unhandled promise rejection')).toEqual([]);
  });
});
