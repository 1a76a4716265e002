/**
 * R11 (docs/requirements.md): TaskResumeService with real parts (over 400 lines on purpose: every case R11 lists, on
 * one database and one pair of emulators started once). A fresh PostgreSQL database behind the real
 * repositories, the real GenerationService, VeoService and StorageService (@google/genai and @google-cloud/storage)
 * against the Google emulator, and DiscordNotifier on a real discord.js REST pointed at the Discord emulator. Rows are written the way a crashed bot leaves them (lease run out), then one sweep resumes them.
 *
 *   npm test -- task-resume.service.spec.ts
 *   npx jest tests/integration/task-resume.service.spec.ts --coverage --collectCoverageFrom=src/services/TaskResumeService.ts
 */
import { Writable } from 'node:stream';
import { REST } from 'discord.js';
import pino, { type Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/db/dataSource';
import type { Config } from '../../src/lib/config';
import { CrashPoints } from '../../src/lib/crashPoints';
import { Metrics } from '../../src/lib/metrics';
import { createServices } from '../../src/app/createServices';
import type { RequestStore } from '../../src/db/repositories';
import type { VideoRequestRow } from '../../src/domain/request';
import { StorageService } from '../../src/services/StorageService';
import { TaskResumeService, type ResumeSummary } from '../../src/services/TaskResumeService';
import { VeoService } from '../../src/services/VeoService';
import { TrafficWatch } from '../conformance';
import { DiscordEmulator, WORLD, type EmulatedMessage } from '../emulators/discord';
import { GoogleEmulator, type Fate } from '../emulators/google';
import { startGoogle } from '../emulators/google/testKit';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/db';
import { insertDeadInstanceRow, insertGeneratingRow, type SeedRow } from '../helpers/seedRows';

jest.setTimeout(60_000);

const GUILD = WORLD.guilds.main.id;
const CH = WORLD.guilds.main.channels;
const REQUESTER = WORLD.users.member.id;
const OTHER_USER = WORLD.users.member2.id;
const INSTANCE = 'resume-spec-instance';

interface Harness {
  resume: TaskResumeService;
  tracking: RequestStore;
  logs: Record<string, unknown>[];
}

describe('TaskResumeService (real database, Veo/Storage and Discord REST against emulators)', () => {
  let kit: Awaited<ReturnType<typeof startGoogle>>;
  let google: GoogleEmulator;
  let discord: DiscordEmulator;
  let rest: REST;
  let db: TestDatabase;
  let ds: DataSource;
  let baseConfig: Config;
  let veo: VeoService;
  let storage: StorageService;
  let h: Harness;
  /** What the resume service sent, checked against Discord's and Google's published specs after all cases. */
  const traffic = new TrafficWatch();

  /** The services wired by createServices (as src/lib/app.ts does), with settings suited to a quick test. */
  function build(overrides: Partial<Config['resume']> = {}, dataSource: DataSource = ds): Harness {
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    const logger: Logger = pino({ level: 'info' }, sink);
    const config = {
      ...baseConfig,
      resume: {
        ...baseConfig.resume,
        concurrency: 3,
        maxAgeHours: 24,
        requestTimeoutMs: 20_000,
        leaseDurationMs: 30_000,
        maxSubmitAttempts: 3,
        ambiguousGraceMs: 60_000,
        ...overrides,
      },
      veo: { pollIntervalMs: 50 },
      instanceId: INSTANCE,
    };
    const { resume, store: tracking } = createServices({
      config,
      dataSource,
      rest,
      applicationId: () => WORLD.applicationId,
      logger,
      metrics: new Metrics({ defaultMetrics: false }),
      crashPoints: new CrashPoints(undefined),
      veo,
      storage,
    });
    return { resume, tracking, logs };
  }

  beforeAll(async () => {
    kit = await startGoogle();
    google = kit.emu;
    baseConfig = kit.config;
    [discord, db] = await Promise.all([DiscordEmulator.start(), createTestDatabase('postgres')]);
    traffic.watchDiscord(discord).watchGoogle(google);
    ds = db.database.dataSource;
    rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    veo = VeoService.create(baseConfig.google, silentLogger());
    storage = StorageService.create(baseConfig.google, baseConfig.video, silentLogger());
  });

  afterAll(async () => {
    rest?.clearHashSweeper();
    rest?.clearHandlerSweeper();
    await Promise.allSettled([discord?.close(), db?.drop()]);
    await kit?.stop();
    traffic.assertConforming();
  });

  beforeEach(async () => {
    await ds.query('TRUNCATE video_requests CASCADE');
    discord.reset();
    google.clearFaults();
    google.setDefaultFate({ kind: 'done', afterPolls: 1, videoBytes: 40_000 });
    // Operations left running by an earlier case must not count in this case's in-flight figures.
    for (const op of [...google.operations.values()]) if (op.state === 'running') google.forgetOperation(op.name);
    google.maxInFlight = 0;
    h = build();
  });

  // ---------------------------------------------------------------- rows as a crashed bot leaves them

  /** A row whose lease ran out `ageHours` after it was created (its instance died). */
  const insertRow = (spec: SeedRow = {}): Promise<string> =>
    insertDeadInstanceRow(ds, { prompt: 'a paper boat in the rain', ageHours: 0.1, ...spec });

  /** A generating row whose operation really exists on the emulator (submitted before the "crash"). */
  const insertGenerating = (fate: Fate, spec: SeedRow = {}): Promise<{ id: string; operationName: string }> =>
    insertGeneratingRow(ds, { veo, storage, google }, fate, {
      prompt: 'a paper boat in the rain',
      ageHours: 0.1,
      ...spec,
    });

  const row = async (id: string): Promise<VideoRequestRow> => (await h.tracking.requests.getById(id))!;
  const sweep = (harness: Harness = h): Promise<ResumeSummary> =>
    harness.resume.resumeIncompleteTasks({ reason: 'test' });
  const submitsFor = (id: string) => google.submits.filter((s) => String(s.parameters.storageUri).includes(id));
  /** The bot's messages carrying this request's marker. */
  const announcementsOf = (id: string): EmulatedMessage[] =>
    discord
      .messages()
      .filter((m) => m.authorId === WORLD.botUserId && m.embeds.some((e) => String(e.footer?.text ?? '').includes(id)));

  function expectResumedAnnouncement(id: string, userId = REQUESTER): EmulatedMessage {
    const messages = announcementsOf(id);
    expect(messages).toHaveLength(1);
    const message = messages[0]!;
    expect(message.kind).toBe('channel');
    expect(message.embeds[0].footer.text).toContain('Resumed after bot restart');
    expect(message.content).toContain(`<@${userId}>`);
    expect(message.pinged).toEqual({ users: [userId], roles: [], everyone: false });
    return message;
  }

  // ---------------------------------------------------------------- pending

  it('resumes a pending request: one submit with its original parameters and model, then the video in its channel', async () => {
    const id = await insertRow({
      prompt: 'a lighthouse keeper feeding gulls',
      model: 'veo-3.1-generate-001',
      durationSeconds: 6,
      aspectRatio: '9:16',
      resolution: '1080p',
      negativePrompt: 'fog',
      seed: 77,
    });

    const summary = await sweep();

    expect(submitsFor(id)).toHaveLength(1);
    const [submit] = submitsFor(id);
    expect(submit!.model).toBe('veo-3.1-generate-001');
    expect(submit!.instance.prompt).toBe('a lighthouse keeper feeding gulls');
    expect(submit!.parameters).toMatchObject({
      durationSeconds: 6,
      aspectRatio: '9:16',
      resolution: '1080p',
      negativePrompt: 'fog',
      seed: 77,
    });
    const done = await row(id);
    expect(done).toMatchObject({
      status: 'completed',
      announcement: 'sent',
      model: 'veo-3.1-generate-001',
      submitAttempts: 1,
      deliveredAs: 'attachment',
      leaseOwner: INSTANCE,
    });
    const message = expectResumedAnnouncement(id);
    expect(message.attachments).toHaveLength(1);
    expect(done.notificationMessageId).toBe(message.id);
    expect(summary).toMatchObject({
      pending_found: 1,
      generating_found: 0,
      total_resumed: 1,
      successful_completions: 1,
      failures: 0,
      timeouts: 0,
    });
  });

  it('gives a legacy pending row without a model VEO_MODEL and records it', async () => {
    const id = await insertRow({ model: null });
    await sweep();
    expect(submitsFor(id).map((s) => s.model)).toEqual([baseConfig.google.veoModel]);
    expect(await row(id)).toMatchObject({ status: 'completed', model: baseConfig.google.veoModel });
  });

  // ---------------------------------------------------------------- generating

  it('fails a legacy pending row with a ratio Veo cannot make (1:1) with the reason, paying nothing', async () => {
    const id = await insertRow({ aspectRatio: '1:1' as '16:9' });
    await sweep();
    expect(await row(id)).toMatchObject({
      status: 'failed',
      failureKind: 'invalid',
      errorMessage: 'Veo cannot make 1:1 videos, only 16:9 and 9:16.',
      announcement: 'sent',
    });
    expect(submitsFor(id)).toHaveLength(0);
    expect(announcementsOf(id)[0]!.embeds[0].title).toMatch(/could not be made/);
  });

  it('resumes a generating request whose operation already finished: no new submit, one poll is enough', async () => {
    const { id, operationName } = await insertGenerating({ kind: 'done', videoBytes: 30_000 });
    google.completeOperation(operationName);
    const submitsBefore = google.submits.length;

    const summary = await sweep();

    expect(google.submits.length).toBe(submitsBefore);
    expect(google.pollCount(operationName)).toBe(1);
    expect(await row(id)).toMatchObject({
      status: 'completed',
      announcement: 'sent',
      operationName,
      videoSizeBytes: 30_000,
    });
    expectResumedAnnouncement(id);
    expect(summary).toMatchObject({ generating_found: 1, successful_completions: 1 });
  });

  it('keeps polling a generating request that is still running until it is done', async () => {
    const { id, operationName } = await insertGenerating({ kind: 'done', afterPolls: 4 });
    const submitsBefore = google.submits.length;

    await sweep();

    expect(google.submits.length).toBe(submitsBefore);
    expect(google.pollCount(operationName)).toBe(5);
    expect(await row(id)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expectResumedAnnouncement(id);
  });

  it('marks a generating request whose operation no longer exists as timeout and tells the requester', async () => {
    const { id, operationName } = await insertGenerating({ kind: 'never' });
    google.forgetOperation(operationName);

    const summary = await sweep();

    const done = await row(id);
    expect(done).toMatchObject({
      status: 'timeout',
      announcement: 'sent',
      errorMessage: 'The Veo operation no longer exists (expired at Google).',
    });
    const message = expectResumedAnnouncement(id);
    expect(message.content).toContain('timed out');
    expect(summary).toMatchObject({ timeouts: 1, successful_completions: 0 });
  });

  it('marks a generating request timeout when its operation runs past RESUME_REQUEST_TIMEOUT_MS', async () => {
    h = build({ requestTimeoutMs: 1_000 });
    const { id } = await insertGenerating({ kind: 'never' });
    const summary = await sweep();
    expect(await row(id)).toMatchObject({
      status: 'timeout',
      errorMessage: expect.stringMatching(/^Veo did not finish within/),
    });
    expect(summary.timeouts).toBe(1);
  });

  it('delivers a timed-out request late when its paid operation finishes after all, and leaves unfinished ones alone', async () => {
    h = build({ requestTimeoutMs: 1_000 });
    const late = await insertGenerating({ kind: 'never' });
    const stillRunning = await insertGenerating({ kind: 'never' });
    await sweep();
    expect(await row(late.id)).toMatchObject({ status: 'timeout', announcement: 'sent' });
    expect(announcementsOf(late.id)).toHaveLength(1); // told it timed out

    // Minutes later, one of the two operations finished at Google.
    google.completeOperation(late.operationName);
    await ds.query(
      `UPDATE video_requests SET updated_at = now() - interval '6 minutes', lease_expires_at = now() - interval '5 minutes' WHERE id = ANY($1::uuid[])`,
      [[late.id, stillRunning.id]],
    );
    const summary = await sweep();

    expect(summary.delivered_late).toBe(1);
    expect(await row(late.id)).toMatchObject({ status: 'completed', announcement: 'sent', deliveredAs: 'attachment' });
    const messages = announcementsOf(late.id);
    expect(messages).toHaveLength(2);
    expect(messages[1]!.embeds[0].title).toMatch(/ready/);
    expect(messages[1]!.attachments).toHaveLength(1);
    expect(await row(stillRunning.id)).toMatchObject({ status: 'timeout' });
    expect(announcementsOf(stillRunning.id)).toHaveLength(1);
    // Nothing was submitted again: late delivery only polls.
    expect(submitsFor(late.id)).toHaveLength(1);

    // Checked recently: the next sweep does not poll it again.
    const polls = google.pollCount(stillRunning.operationName);
    await sweep();
    expect(google.pollCount(stillRunning.operationName)).toBe(polls);
  });

  it('still polls generating requests older than 24 hours (the paid operation may have finished)', async () => {
    const { id, operationName } = await insertGenerating({ kind: 'done', afterPolls: 1 }, { ageHours: 30 });
    const summary = await sweep();
    expect(google.pollCount(operationName)).toBeGreaterThanOrEqual(1);
    expect(await row(id)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expectResumedAnnouncement(id);
    expect(summary).toMatchObject({ expired: 0, successful_completions: 1 });
  });

  // ---------------------------------------------------------------- expiry, attempts, ambiguity

  it('expires pending requests older than 24 hours without calling Veo and tells the requester why', async () => {
    const old = await insertRow({ ageHours: 25, prompt: 'an old forgotten request' });
    const submitsBefore = google.submitCalls;

    const summary = await sweep();

    expect(google.submitCalls).toBe(submitsBefore);
    expect(await row(old)).toMatchObject({
      status: 'timeout',
      errorMessage: 'Request expired (>24 hours old)',
      failureKind: 'expired',
      announcement: 'sent',
      submitAttempts: 0,
    });
    const message = expectResumedAnnouncement(old);
    expect(JSON.stringify(message.embeds[0])).toContain('Request expired (>24 hours old)');
    expect(summary).toMatchObject({ expired: 1, pending_found: 0 });
    expect(
      h.logs.some(
        (l) =>
          l.event === 'resume_expired' && l.request_id === old && l.error_message === 'Request expired (>24 hours old)',
      ),
    ).toBe(true);
  });

  it('delivers a pending request whose interrupted submit already produced a video, without submitting again', async () => {
    const id = await insertRow({ submitAttempts: 1 });
    const prefix = storage.outputPrefix(
      { guildId: GUILD, channelId: CH.general.id, userId: REQUESTER, requestId: id },
      1,
    );
    // The bot died after asking Veo and before storing the operation name; Veo wrote the video anyway.
    await ds.query(
      `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state) VALUES ($1, 1, $2, 'submitting')`,
      [id, prefix],
    );
    google.putObject(`${prefix}1234567890/sample_0.mp4`, GoogleEmulator.fakeMp4(20_000), 'video/mp4');
    const submitsBefore = google.submitCalls;

    await sweep();

    expect(google.submitCalls).toBe(submitsBefore);
    expect(await row(id)).toMatchObject({
      status: 'completed',
      announcement: 'sent',
      submitAttempts: 1,
      ambiguousAttempts: 1,
      videoSizeBytes: 20_000,
    });
    expect(expectResumedAnnouncement(id).attachments).toHaveLength(1);
  });

  it('fails a pending request that reached MAX_SUBMIT_ATTEMPTS, with the reason, and pays nothing more', async () => {
    const id = await insertRow({ submitAttempts: 3 });
    for (let n = 1; n <= 3; n++) {
      await ds.query(
        `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state, error) VALUES ($1, $2, $3, 'rejected', 'quota')`,
        [id, n, `${GUILD}/${CH.general.id}/${REQUESTER}/${id}/${n}/`],
      );
    }
    const submitsBefore = google.submitCalls;

    const summary = await sweep();

    expect(google.submitCalls).toBe(submitsBefore);
    expect(await row(id)).toMatchObject({
      status: 'failed',
      errorMessage: 'Gave up after 3 submit attempts to Veo.',
      announcement: 'sent',
    });
    // The requester reads plain words; the detail above stays on the row for logs and admins.
    expect(JSON.stringify(expectResumedAnnouncement(id).embeds[0])).toContain(
      'The bot tried to send this to Veo several times without success.',
    );
    expect(summary.failures).toBe(1);
  });

  // ---------------------------------------------------------------- announcements

  it('announces a finished request whose announcement is still due exactly once, across two sweeps', async () => {
    const prefix = `${GUILD}/${CH.videos.id}/${REQUESTER}/done-before-crash/1/`;
    google.putObject(`${prefix}sample_0.mp4`, GoogleEmulator.fakeMp4(10_000), 'video/mp4');
    const id = await insertRow({
      status: 'completed',
      channelId: CH.videos.id,
      announcement: 'due',
      gcsPrefix: prefix,
      videoUrls: [`gs://${google.bucket}/${prefix}sample_0.mp4`],
    });
    const submitsBefore = google.submitCalls;

    const first = await sweep();
    const second = await sweep();

    expect(google.submitCalls).toBe(submitsBefore);
    const message = expectResumedAnnouncement(id);
    expect(message.channelId).toBe(CH.videos.id);
    expect(await row(id)).toMatchObject({
      status: 'completed',
      announcement: 'sent',
      notificationMessageId: message.id,
    });
    expect(first).toMatchObject({ announced: 1, total_resumed: 1 });
    expect(second).toMatchObject({ announced: 0, total_resumed: 0 });
  });

  it('records a locked or hidden channel on the row (gave_up) and goes on with the other requests', async () => {
    const locked = await insertRow({ channelId: CH.locked.id, prompt: 'locked channel request' });
    const hidden = await insertRow({ channelId: CH.hidden.id, prompt: 'hidden channel request' });
    const fine = await insertRow({ channelId: CH.general.id, userId: OTHER_USER, prompt: 'open channel request' });

    const summary = await sweep();

    for (const id of [locked, hidden]) {
      const r = await row(id);
      expect(r).toMatchObject({ status: 'completed', announcement: 'gave_up', notificationAttempts: 1 });
      expect(r.notificationError).toMatch(
        /Discord refused the channel message: Missing (Permissions|Access) \(code 500(13|01)\)/,
      );
      expect(announcementsOf(id)).toEqual([]);
    }
    expect(await row(fine)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expectResumedAnnouncement(fine, OTHER_USER);
    expect(summary).toMatchObject({ total_resumed: 3, successful_completions: 1, failures: 2 });
    // gave_up rows are not claimable any more: the next sweep has nothing to do.
    expect(await sweep()).toMatchObject({ total_resumed: 0 });
  });

  // ---------------------------------------------------------------- concurrency

  it('resumes several requests with a sliding window of RESUME_CONCURRENCY slots', async () => {
    // Oldest first: requests 1–3 fill the three slots; request 2 is the slow one. 4–7 are quick.
    const times = [300, 2_500, 300, 200, 200, 200, 200];
    const ids: string[] = [];
    for (let i = 0; i < times.length; i++) {
      google.fateForPrompt(`window request ${i + 1} `, { kind: 'done', afterMs: times[i]!, videoBytes: 10_000 });
      ids.push(await insertRow({ prompt: `window request ${i + 1} `, ageHours: 1 - i * 0.01 }));
    }

    const summary = await sweep();

    expect(summary).toMatchObject({ pending_found: 7, total_resumed: 7, successful_completions: 7 });
    for (const id of ids) expectResumedAnnouncement(id);
    // Never more than three Veo operations at once, and the window was actually used.
    expect(google.maxInFlight).toBe(3);
    const submitAt = (i: number) => submitsFor(ids[i]!)[0]!.at.getTime();
    const slow = google.operations.get(submitsFor(ids[1]!)[0]!.operationName)!;
    // A slot freed by a quick request was refilled while the slow one was still running (no batches of three).
    expect(submitAt(3)).toBeLessThan(slow.completedAt!);
    expect(submitAt(4)).toBeLessThan(slow.completedAt!);
  });

  it('keeps every slot working when the oldest request keeps coming back (announcement failing for now)', async () => {
    // The oldest row's channel answers 500 (Discord having a bad moment): its announcement is retried by a later
    // sweep. The newer rows behind it must not wait for that sweep.
    discord.injectFault({ method: 'POST', path: `/channels/${CH.videos.id}/messages`, status: 500, times: Infinity });
    const stuck = await insertRow({
      status: 'completed',
      channelId: CH.videos.id,
      announcement: 'due',
      videoUrls: [],
      ageHours: 2,
    });
    const fresh: string[] = [];
    for (let i = 0; i < 6; i++)
      fresh.push(await insertRow({ prompt: `behind the stuck one ${i}`, ageHours: 1 - i * 0.01 }));

    const summary = await sweep();

    for (const id of fresh) expect(await row(id)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expect(summary).toMatchObject({ total_resumed: 7, successful_completions: 6 });
    // The stuck one is given back for a later sweep, with its error recorded.
    expect(await row(stuck)).toMatchObject({ announcement: 'due', leaseOwner: null, notificationAttempts: 1 });
    expect((await row(stuck)).notificationError).toMatch(/could not reach Discord|Discord refused/);
  });

  it('joins a sweep already running in this process instead of starting a second one', async () => {
    google.setDefaultFate({ kind: 'done', afterMs: 300 });
    await insertRow();
    const [a, b] = await Promise.all([sweep(), sweep()]);
    expect(a).toBe(b);
    expect(google.submits.length).toBeGreaterThan(0);
    expect(a.total_resumed).toBe(1);
  });

  it('a later sweep fills the free slots while an earlier one still waits for a long request (issue #15)', async () => {
    // Sweep A claims the one request there is: a long operation, finished by hand below.
    const long = await insertGenerating({ kind: 'never' }, { prompt: 'the long one' });
    const first = sweep();
    await discord.waitFor(() => google.pollCount(long.operationName) >= 1, 20_000, 'the long request being polled');
    expect(h.resume.freeSlots).toBe(2);
    // Work appears (another instance died): a sweep now claims it into a free slot at once, without waiting for A.
    const later = await insertRow({ prompt: 'left by a dead instance' });
    const second = await sweep();
    expect(second).toMatchObject({ total_resumed: 1, successful_completions: 1 });
    expect(await row(later)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expect(await row(long.id)).toMatchObject({ status: 'generating' });
    // The long one still belongs to sweep A, which reports it when it ends.
    google.completeOperation(long.operationName);
    expect(await first).toMatchObject({ total_resumed: 1, successful_completions: 1 });
    expect(h.resume.freeSlots).toBe(3);
  });

  it('never runs more resumed requests at once than RESUME_CONCURRENCY, however many sweeps start', async () => {
    google.setDefaultFate({ kind: 'done', afterMs: 400, videoBytes: 10_000 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await insertRow({ prompt: `crowd ${i}`, ageHours: 1 - i * 0.01 }));
    const sweeps: Promise<ResumeSummary>[] = [];
    for (let i = 0; i < 4; i++) {
      sweeps.push(sweep());
      await new Promise((r) => setTimeout(r, 50));
    }
    const summaries = await Promise.all(sweeps);
    expect(summaries.reduce((n, s) => n + s.total_resumed, 0)).toBe(8);
    for (const id of ids) expectResumedAnnouncement(id);
    expect(google.maxInFlight).toBeLessThanOrEqual(3);
    for (const id of ids) expect(submitsFor(id)).toHaveLength(1);
  });

  it('leaves requests of other guilds alone in a guild-scoped run and reports progress', async () => {
    const here = await insertRow();
    const elsewhere = await insertRow({ prompt: 'other guild' });
    await ds.query(`UPDATE video_requests SET guild_id = $2, channel_id = $3 WHERE id = $1`, [
      elsewhere,
      WORLD.guilds.other.id,
      WORLD.guilds.other.channels.general.id,
    ]);
    const seen: string[] = [];
    const results: string[] = [];
    const summary = await h.resume.resumeIncompleteTasks({
      reason: 'admin',
      guildId: GUILD,
      progress: {
        onStart: (f) => seen.push(`start:${f.pending}`),
        onClaimed: (r) => seen.push(r.id),
        onResult: (_r, outcome) => results.push(outcome),
      },
    });
    expect(summary).toMatchObject({ guild_id: GUILD, total_resumed: 1 });
    expect(seen).toEqual(['start:1', here]);
    expect(results).toEqual(['completed']);
    expect(await row(elsewhere)).toMatchObject({ status: 'pending' });
  });

  // ---------------------------------------------------------------- database errors

  it('rejects a sweep whose database is closed without crashing, and the next sweep works', async () => {
    const id = await insertRow();
    const broken = await openDatabase(db.settings, silentLogger());
    const hb = build({}, broken.dataSource);
    await broken.close();

    await expect(sweep(hb)).rejects.toThrow();
    expect(await row(id)).toMatchObject({ status: 'pending' });

    // The failed sweep left nothing behind: a sweep on a working database resumes the row.
    await sweep();
    expect(await row(id)).toMatchObject({ status: 'completed', announcement: 'sent' });
  });

  it('survives a row deleted while it is being resumed and finishes the others', async () => {
    const { id: doomed, operationName } = await insertGenerating(
      { kind: 'done', afterPolls: 1_000 },
      { prompt: 'doomed' },
    );
    const other = await insertRow({ userId: OTHER_USER, prompt: 'survivor' });

    const running = sweep();
    await discord.waitFor(() => google.pollCount(operationName) >= 2, 20_000, 'the doomed request being polled');
    await ds.query('DELETE FROM video_requests WHERE id = $1', [doomed]);
    google.completeOperation(operationName);
    const summary = await running;

    expect(await h.tracking.requests.getById(doomed)).toBeNull();
    expect(announcementsOf(doomed)).toEqual([]);
    expect(await row(other)).toMatchObject({ status: 'completed', announcement: 'sent' });
    expectResumedAnnouncement(other, OTHER_USER);
    expect(summary).toMatchObject({ total_resumed: 2, successful_completions: 1, not_finished: 1 });
  });

  // ---------------------------------------------------------------- logs, stop, helpers

  it('logs every step with its context and a summary with the R10 fields', async () => {
    const ok = await insertRow();
    const gone = await insertGenerating({ kind: 'never' });
    google.forgetOperation(gone.operationName);
    google.fateForPrompt('refused by veo', { kind: 'failed', code: 3, message: 'prompt rejected' });
    const bad = await insertRow({ prompt: 'refused by veo' });

    const summary = await sweep();

    const finished = h.logs.filter((l) => l.event === 'resume_finished');
    expect(finished).toHaveLength(1);
    const line = finished[0]!;
    for (const field of ['total_resumed', 'successful_completions', 'failures', 'timeouts', 'total_duration_ms'])
      expect(typeof line[field]).toBe('number');
    expect(line).toMatchObject({ total_resumed: 3, successful_completions: 1, failures: 1, timeouts: 1 });
    expect(line.total_duration_ms).toBe(summary.total_duration_ms);
    expect(h.logs.find((l) => l.event === 'resume_start')).toMatchObject({ pending: 2, generating: 1, concurrency: 3 });
    const result = (id: string) => h.logs.find((l) => l.event === 'resume_result' && l.request_id === id);
    expect(result(ok)).toMatchObject({
      resume_result: 'completed',
      user_id: REQUESTER,
      guild_id: GUILD,
      channel_id: CH.general.id,
      status: 'completed',
    });
    expect(result(gone.id)).toMatchObject({
      resume_result: 'timeout',
      operation_name: gone.operationName,
      error_message: expect.stringContaining('no longer exists'),
    });
    expect(result(bad)).toMatchObject({
      resume_result: 'failed',
      status: 'failed',
      error_message: expect.stringContaining('prompt rejected'),
    });
    expect(typeof result(ok)!.age_minutes).toBe('number');
    // Nothing secret or private in them.
    expect(JSON.stringify(h.logs)).not.toContain(discord.token);
  });

  it('stops at a safe point on stop(): the lease is given back so another instance continues at once', async () => {
    const { id, operationName } = await insertGenerating({ kind: 'never' });
    const running = sweep();
    await discord.waitFor(() => google.pollCount(operationName) >= 1, 20_000, 'first poll');
    await h.resume.stop();
    const summary = await running;
    expect(h.resume.stopping).toBe(true);
    expect(summary.not_finished).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'generating', leaseOwner: null });
  });

  it('announceRequests tells the requesters of finished requests and skips requests another instance holds', async () => {
    const free = await insertRow({ status: 'completed', announcement: 'due', videoUrls: [] });
    await ds.query(
      `UPDATE video_requests SET status = 'timeout', error_message = 'Expired by a server admin' WHERE id = $1`,
      [free],
    );
    const held = await insertRow({ userId: OTHER_USER });
    await ds.query(
      `UPDATE video_requests SET lease_owner = 'alive', lease_expires_at = now() + interval '1 minute' WHERE id = $1`,
      [held],
    );

    expect(await h.resume.announceRequests([free, held])).toBe(1);
    expect(await row(free)).toMatchObject({ announcement: 'sent' });
    expect(announcementsOf(free)).toHaveLength(1);
    expect(await row(held)).toMatchObject({ status: 'pending', leaseOwner: 'alive' });
  });

  it('sendChannelMessage mentions only the requester with the resumed footer', async () => {
    const id = await insertRow({ status: 'completed' });
    await ds.query(`UPDATE video_requests SET status = 'failed', error_message = 'Veo failed: boom' WHERE id = $1`, [
      id,
    ]);
    const result = await h.resume.sendChannelMessage(await row(id));
    expect(result).toMatchObject({ path: 'channel', deduplicated: false });
    expect(expectResumedAnnouncement(id).id).toBe(result.messageId);
  });
});
