import { E2EWorld, WORLD } from '../helpers/e2e';
import { field, waitForRefusal, waitForResult } from '../helpers/videoReplies';

jest.setTimeout(120_000);

const RAI_REASON =
  "The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. Support codes: 17301594";

/**
 * How a request can end (filtered, failed at Google, 429 then accepted) and what each does to the daily quota, with
 * the real bot process against the emulators and PostgreSQL.
 */
describe('/video outcomes and the daily quota (end to end)', () => {
  let world: E2EWorld;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.fateForPrompt('[filtered]', { kind: 'filtered', reasons: [RAI_REASON], afterPolls: 1 });
    world.google.fateForPrompt('[google-fails]', {
      kind: 'failed',
      code: 13,
      message: 'Internal error encountered.',
      afterPolls: 1,
    });
    await world.startBot({ DAILY_QUOTA: '2' });
  });
  afterAll(async () => world?.close());

  it('explains a filtered prompt in plain words with a hint to rephrase, and counts it against the quota', async () => {
    const user = WORLD.users.admin.id;
    const handle = world.video({ prompt: 'a politician on a stage [filtered]' }, { userId: user });
    const reply = await waitForResult(handle);

    expect(reply.embeds[0].title).toMatch(/could not be made/);
    expect(field(reply, 'Why')).toContain("Veo's safety filters blocked this video");
    // Google's own words stay in the logs and in /resume status; the requester gets plain words and a reference.
    expect(field(reply, 'Why')).not.toContain('Try rephrasing the prompt');
    expect(field(reply, 'What now')).toMatch(/Rephrase the prompt .* run `\/video` again/);
    expect(field(reply, 'What now')).not.toMatch(/does not count/);
    expect(reply.attachments).toHaveLength(0);

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ status: 'failed', failureKind: 'filtered', submitAttempts: 1 });
    expect(await world.tracking.requests.countQuotaUsage(user, new Date(Date.now() - 3600_000))).toBe(1);
  });

  it('explains a failure at Google, says it does not count, and does not count it', async () => {
    const user = WORLD.users.member2.id;
    const handle = world.video({ prompt: 'a lighthouse in a storm [google-fails]' }, { userId: user });
    const reply = await waitForResult(handle);

    expect(reply.embeds[0].title).toMatch(/could not be made/);
    expect(field(reply, 'Why')).toContain("Google's video service failed while making the video.");
    expect(field(reply, 'Why')).not.toContain('Internal error encountered.');
    expect(field(reply, 'What now')).toContain('does not count against your daily limit');

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    expect(row).toMatchObject({ status: 'failed', failureKind: 'google' });
    expect(await world.tracking.requests.countQuotaUsage(user, new Date(Date.now() - 3600_000))).toBe(0);
  });

  it('puts the request back in the queue on a 429 from Veo and pays for exactly one submit', async () => {
    const user = WORLD.users.owner.id;
    const submitsBefore = world.google.submits.length;
    const callsBefore = world.google.submitCalls;
    world.google.injectFault({
      route: 'submit',
      status: 429,
      message: 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.',
    });

    const handle = world.video({ prompt: 'a paper boat on a river after the rain' }, { userId: user });
    const reply = await waitForResult(handle);

    expect(reply.embeds[0].title).toMatch(/ready/);
    expect(reply.attachments).toHaveLength(1);
    expect(world.google.submitCalls - callsBefore).toBe(2); // the 429, then the accepted one
    const billed = world.google.submits.slice(submitsBefore);
    expect(billed).toHaveLength(1);
    expect(billed[0]!.instance.prompt).toBe('a paper boat on a river after the rain');

    const [row] = await world.waitForRow((rows) => rows[0]?.announcement === 'sent', user);
    // Two attempts: the one Veo answered 429 (refused, nothing billed, with the gate it set) and the accepted one.
    expect(row).toMatchObject({
      status: 'completed',
      submitAttempts: 2,
      operationName: billed[0]!.operationName,
      deliveredAs: 'attachment',
    });
    const attempts = await world.tracking.attempts.getAttempts(row!.id);
    expect(attempts.map((a) => a.state)).toEqual(['rejected', 'accepted']);
    expect(attempts[0]!.throttledUntil).not.toBeNull();
    expect(attempts[1]!.createdAt.getTime()).toBeGreaterThanOrEqual(attempts[0]!.throttledUntil!.getTime());
  });

  it('refuses the request over the quota ephemerally; filtered ones count, failures at Google do not', async () => {
    const user = WORLD.users.member.id;
    // DAILY_QUOTA=2: a filtered prompt (counts), a failure at Google (does not), a video (counts) ...
    for (const prompt of [
      'a crowd at a rally [filtered]',
      'a glacier calving [google-fails]',
      'a cat asleep on a windowsill',
    ]) {
      const reply = await waitForResult(world.video({ prompt }, { userId: user }));
      expect(reply.ephemeral).toBe(false);
    }
    await world.waitForRow((rows) => rows.length === 3 && rows.every((r) => r.announcement === 'sent'), user);
    const submitsBefore = world.google.submitCalls;

    // ... so the next one is refused, privately, before anything is recorded or paid for.
    const refused = world.video({ prompt: 'one more video please' }, { userId: user });
    expect(await refused.waitForAck(5_000)).toBe(4);
    const text = await waitForRefusal(refused);
    expect(text).toContain('You have used your 2 videos for the last 24 hours');
    expect(text).toContain('Failures caused by the bot or Google do not count');

    const rows = await world.requestsOf(user);
    expect(rows.map((r) => r.status)).toEqual(['failed', 'failed', 'completed']);
    expect(world.google.submitCalls).toBe(submitsBefore);
    // Another user is not affected by this user's quota.
    const other = world.video({ prompt: 'a quiet harbour at dawn' }, { userId: WORLD.users.member2.id });
    expect((await waitForResult(other)).embeds[0].title).toMatch(/ready/);
  });
});
