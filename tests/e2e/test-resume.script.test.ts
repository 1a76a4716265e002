/**
 * The R12 test script (src/scripts/test-resume.ts) against the emulators: what `node dist/scripts/test-resume.js`
 * runs by default. The script's own checks must all pass, and the emulators confirm them independently.
 */
import { runResumeCheck } from '../../src/scripts/test-resume';
import { E2EWorld, WORLD } from '../helpers/e2e';

jest.setTimeout(180_000);

describe('src/scripts/test-resume.ts against the emulators', () => {
  let world: E2EWorld;
  beforeAll(async () => {
    world = await E2EWorld.start();
  });
  afterAll(async () => world?.close());

  it('inserts a pending and a generating request, starts the bot, and sees both resumed, completed and announced', async () => {
    world.google.setDefaultFate({ kind: 'done', afterPolls: 2, videoBytes: 32_000 });
    const lines: string[] = [];
    const channelId = WORLD.guilds.main.channels.videos.id;
    const result = await runResumeCheck({
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...world.env() },
      guildId: WORLD.guilds.main.id,
      channelId,
      userId: WORLD.users.member2.id,
      timeoutMs: 90_000,
      log: (line) => lines.push(line),
    });

    expect(lines.filter((l) => l.startsWith('✗'))).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.checks.length).toBeGreaterThanOrEqual(14);
    expect(lines.at(-1)).toBe('resume check passed');

    // Independently of the script: one paid submit per request, one message each, pinging only the requester.
    expect(world.google.submits).toHaveLength(2);
    const messages = world.channelMessages(channelId);
    expect(messages).toHaveLength(2);
    for (const m of messages) expect(m.pinged).toEqual({ users: [WORLD.users.member2.id], roles: [], everyone: false });
    expect((await world.tracking.requests.getById(result.pendingId))?.leaseOwner).not.toBe('test-resume-script');
    // The bot was stopped gracefully by the script.
    expect(result.botLogs.some((l) => l.msg === 'shutdown complete')).toBe(true);
  });
});
