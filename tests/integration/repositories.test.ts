// The request repositories on PostgreSQL and on the embedded engine, one state change per test. Over 400 lines on
// purpose: one file opens each database once for every case of the request model (a file per repository would open
// them five times over).
import type { DataSource } from 'typeorm';
import { createRequestStore, type RequestStore } from '../../src/db/repositories';
import { FencedWriteError } from '../../src/domain/errors';
import type { CreateRequestInput, Lease, VideoRequestRow } from '../../src/domain/request';
import { createTestDatabase, DATABASE_KINDS, silentLogger, type TestDatabase } from '../helpers/db';

const LEASE_MS = 60_000;
const GUILD = '100000000000000001';
const OTHER_GUILD = '100000000000000002';

describe.each(DATABASE_KINDS)('request repositories on %s', (kind) => {
  let t: TestDatabase;
  let ds: DataSource;
  let tracking: RequestStore;

  beforeAll(async () => {
    t = await createTestDatabase(kind);
    ds = t.database.dataSource;
    tracking = createRequestStore(ds, silentLogger());
  });
  afterAll(async () => {
    await t?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE video_requests CASCADE');
  });

  const input = (over: Partial<CreateRequestInput> = {}): CreateRequestInput => ({
    userId: 'user-1',
    guildId: GUILD,
    channelId: 'channel-1',
    prompt: 'a cat surfing',
    durationSeconds: 8,
    aspectRatio: '16:9',
    ...over,
  });
  const create = (over: Partial<CreateRequestInput> = {}, owner = 'creator') =>
    tracking.requests.createRequest(input(over), owner, LEASE_MS);
  /** Moves created_at into the past (no waiting on the clock). */
  const backdate = (id: string, hours: number) =>
    ds.query(`UPDATE video_requests SET created_at = now() - $2::double precision * interval '1 hour' WHERE id = $1`, [
      id,
      hours,
    ]);
  /** Lets a lease run out (as if its holder stopped renewing). */
  const expireLease = (id: string) =>
    ds.query(`UPDATE video_requests SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
  const setStatus = (id: string, status: string, extra = '') =>
    ds.query(`UPDATE video_requests SET status = $2 ${extra} WHERE id = $1`, [id, status]);
  /** A created row whose lease has been given back (claimable at once). */
  const unleased = async (over: Partial<CreateRequestInput> = {}): Promise<VideoRequestRow> => {
    const { row, lease } = await create(over);
    await tracking.leases.releaseLease(lease);
    return row;
  };

  it('create → claim → attempt → accepted → completed → announced', async () => {
    const { row, lease } = await create({
      model: null,
      seed: 1234,
      attachmentSizeLimit: 26_214_400,
      interactionToken: 'tok',
    });
    expect(row).toMatchObject({
      status: 'pending',
      fence: 1,
      leaseOwner: 'creator',
      announcement: null,
      generateAudio: true,
      requestType: 'veo',
      seed: 1234,
      attachmentSizeLimit: 26_214_400,
      submitAttempts: 0,
      notificationAttempts: 0,
    });
    expect(lease).toEqual({ requestId: row.id, fence: 1, owner: 'creator' });
    expect(row.leaseExpiresAt!.getTime()).toBeGreaterThan(row.createdAt.getTime());

    // The creator stops (restart): its lease runs out and another instance claims the row.
    await expireLease(row.id);
    const claim = await tracking.leases.claimNext('instance-b', LEASE_MS);
    expect(claim).not.toBeNull();
    expect(claim!.takeover).toBe(true);
    expect(claim!.previousOwner).toBe('creator');
    expect(claim!.lease).toEqual({ requestId: row.id, fence: 2, owner: 'instance-b' });
    const l = claim!.lease;

    const attempt = await tracking.attempts.recordSubmitAttempt(l, `gs://bucket/${GUILD}/c/u/${row.id}/1/`);
    expect(attempt).toMatchObject({ requestId: row.id, attempt: 1, state: 'submitting', operationName: null });
    expect((await tracking.requests.getById(row.id))!.submitAttempts).toBe(1);

    const generating = await tracking.attempts.recordOperationAccepted(
      l,
      attempt.id,
      'projects/p/operations/op-1',
      'veo-3.1-fast-generate-001',
    );
    expect(generating).toMatchObject({
      status: 'generating',
      operationName: 'projects/p/operations/op-1',
      model: 'veo-3.1-fast-generate-001',
      gcsPrefix: attempt.outputPrefix,
    });
    expect(generating.startedAt).toBeInstanceOf(Date);
    expect((await tracking.attempts.getAttempts(row.id)).at(-1)).toMatchObject({
      state: 'accepted',
      operationName: 'projects/p/operations/op-1',
    });

    const completed = await tracking.requests.markCompleted(l, {
      videoUrls: ['gs://bucket/x/sample_0.mp4'],
      videoSizeBytes: 5_000_000,
    });
    expect(completed).toMatchObject({
      status: 'completed',
      announcement: 'due',
      videoUrls: ['gs://bucket/x/sample_0.mp4'],
      videoSizeBytes: 5_000_000,
      gcsPrefix: attempt.outputPrefix,
    });
    expect(completed.completedAt).toBeInstanceOf(Date);
    expect(completed.durationMs).toEqual(expect.any(Number));
    // Still claimable (announcement due), but leased by us.
    expect(await tracking.leases.claimNext('instance-c', LEASE_MS)).toBeNull();

    const sent = await tracking.announcements.recordAnnouncementSent(l, '200000000000000001', 'attachment');
    expect(sent).toMatchObject({
      announcement: 'sent',
      notificationMessageId: '200000000000000001',
      deliveredAs: 'attachment',
    });
    expect(sent.notifiedAt).toBeInstanceOf(Date);
    expect(await tracking.leases.releaseLease(l)).toBe(true);
    // Finished and announced: nothing left to claim.
    expect(await tracking.leases.claimNext('instance-c', LEASE_MS)).toBeNull();
    expect(await tracking.attempts.getAttempts(row.id)).toHaveLength(1);
  });

  describe('getIncompleteRequests', () => {
    it('returns pending and generating rows within the age window, oldest first', async () => {
      const a = await unleased({ prompt: 'a' });
      const b = await unleased({ prompt: 'b' });
      const c = await unleased({ prompt: 'c' });
      const tooOld = await unleased({ prompt: 'old' });
      const done = await unleased({ prompt: 'done' });
      const failed = await unleased({ prompt: 'failed' });
      const timedOut = await unleased({ prompt: 'timeout' });
      await backdate(a.id, 3);
      await backdate(b.id, 1);
      await backdate(c.id, 2);
      await backdate(tooOld.id, 30);
      await setStatus(b.id, 'generating', `, operation_name = 'op-b'`);
      await setStatus(done.id, 'completed');
      await setStatus(failed.id, 'failed');
      await setStatus(timedOut.id, 'timeout');

      const rows = await tracking.requests.getIncompleteRequests();
      expect(rows.map((r) => r.prompt)).toEqual(['a', 'c', 'b']);
      expect(rows.map((r) => r.status)).toEqual(['pending', 'pending', 'generating']);
      expect((await tracking.requests.getIncompleteRequests(48)).map((r) => r.prompt)).toEqual(['old', 'a', 'c', 'b']);
      expect((await tracking.requests.getIncompleteRequests(1.5)).map((r) => r.prompt)).toEqual(['b']);
      // The sweep's counts: any age, one guild or all.
      expect(await tracking.requests.countIncompleteRequests()).toEqual({ pending: 3, generating: 1 });
      expect(await tracking.requests.countIncompleteRequests(a.guildId)).toEqual({ pending: 3, generating: 1 });
      expect(await tracking.requests.countIncompleteRequests('1399999999999999999')).toEqual({
        pending: 0,
        generating: 0,
      });
    });
  });

  describe('fencing', () => {
    it('refuses a stale writer after someone else claimed the row', async () => {
      const { row, lease: first } = await create();
      await expireLease(row.id);
      const second = (await tracking.leases.claimNext('instance-b', LEASE_MS))!;
      expect(second.lease.fence).toBe(first.fence + 1);

      // The first owner wakes up and tries to write.
      const err = await tracking.attempts.recordSubmitAttempt(first, 'gs://b/1/').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FencedWriteError);
      expect(err).toMatchObject({
        requestId: row.id,
        action: 'recordSubmitAttempt',
        expected: { states: ['pending'], fence: 1, owner: 'creator' },
        actual: { status: 'pending', fence: 2, leaseOwner: 'instance-b' },
      });
      await expect(tracking.requests.markFailed(first, 'x', 'bot', ['pending'])).rejects.toBeInstanceOf(
        FencedWriteError,
      );
      await expect(tracking.requests.markCompleted(first, { videoUrls: ['u'] })).rejects.toBeInstanceOf(
        FencedWriteError,
      );
      expect(await tracking.leases.renewLeases(first.owner, LEASE_MS, [row.id])).toBe(0); // a stale owner cannot extend it
      expect(await tracking.leases.releaseLease(first)).toBe(false);
      expect(await tracking.attempts.getAttempts(row.id)).toEqual([]);

      // The new owner proceeds.
      const attempt = await tracking.attempts.recordSubmitAttempt(second.lease, 'gs://b/1/');
      expect(attempt.attempt).toBe(1);
      const after = await tracking.requests.getById(row.id);
      expect(after).toMatchObject({ status: 'pending', fence: 2, leaseOwner: 'instance-b', submitAttempts: 1 });
    });

    it('keeps a paid operation name even when the request write is refused', async () => {
      const { row, lease: first } = await create();
      const attempt = await tracking.attempts.recordSubmitAttempt(first, 'gs://b/1/');
      await expireLease(row.id);
      await tracking.leases.claimNext('instance-b', LEASE_MS);

      await expect(
        tracking.attempts.recordOperationAccepted(first, attempt.id, 'op-paid', 'veo-x'),
      ).rejects.toBeInstanceOf(FencedWriteError);
      expect((await tracking.attempts.getAttempts(row.id)).at(-1)).toMatchObject({
        state: 'accepted',
        operationName: 'op-paid',
      });
      expect(await tracking.requests.getById(row.id)).toMatchObject({ status: 'pending', operationName: null });
    });

    it('refuses transitions from unexpected states', async () => {
      const { lease } = await create();
      await expect(tracking.requests.markTimeout(lease, 'late', ['generating'])).rejects.toMatchObject({
        name: 'FencedWriteError',
        expected: { states: ['generating'] },
        actual: { status: 'pending' },
      });
      await expect(tracking.requests.lateComplete(lease, { videoUrls: ['u'] })).rejects.toBeInstanceOf(
        FencedWriteError,
      );
      await expect(tracking.announcements.recordAnnouncementSent(lease, 'm')).rejects.toBeInstanceOf(FencedWriteError);
    });

    it('numbers attempts, records rejections, abandonments and ambiguous counts', async () => {
      const { row, lease } = await create();
      const a1 = await tracking.attempts.recordSubmitAttempt(lease, 'gs://b/1/');
      expect(await tracking.attempts.recordAttemptRejected(a1.id, '400 bad prompt')).toMatchObject({
        state: 'rejected',
        error: '400 bad prompt',
      });
      const a2 = await tracking.attempts.recordSubmitAttempt(lease, 'gs://b/2/');
      expect(await tracking.attempts.incrementAmbiguous(lease)).toBe(1);
      expect(await tracking.attempts.markAttemptAbandoned(a2.id)).toMatchObject({ state: 'abandoned' });
      // Only a submitting attempt changes.
      expect(await tracking.attempts.recordAttemptRejected(a2.id, 'late')).toBeNull();
      const a3 = await tracking.attempts.recordSubmitAttempt(lease, 'gs://b/3/');
      expect([a1.attempt, a2.attempt, a3.attempt]).toEqual([1, 2, 3]);
      expect((await tracking.attempts.getAttempts(row.id)).map((a) => a.state)).toEqual([
        'rejected',
        'abandoned',
        'submitting',
      ]);
      expect(await tracking.requests.getById(row.id)).toMatchObject({ submitAttempts: 3, ambiguousAttempts: 1 });
    });

    it('an ambiguous attempt output completes a pending row; a late operation completes a timed-out one', async () => {
      const { row, lease } = await create();
      await tracking.attempts.recordSubmitAttempt(lease, 'gs://b/1/');
      const done = await tracking.requests.markCompleted(lease, {
        videoUrls: ['gs://b/1/sample_0.mp4'],
        gcsPrefix: 'gs://b/1/',
      });
      expect(done).toMatchObject({ status: 'completed', gcsPrefix: 'gs://b/1/', announcement: 'due' });

      const { lease: l2 } = await create();
      const at = await tracking.attempts.recordSubmitAttempt(l2, 'gs://b/2/');
      await tracking.attempts.recordOperationAccepted(l2, at.id, 'op-2', 'veo');
      const timedOut = await tracking.requests.markTimeout(l2, 'Veo did not finish', ['generating']);
      expect(timedOut).toMatchObject({ status: 'timeout', failureKind: 'google', announcement: 'due' });
      await tracking.announcements.recordAnnouncementSent(l2, 'msg-1');
      const late = await tracking.requests.lateComplete(l2, {
        videoUrls: ['gs://b/2/sample_0.mp4'],
        videoSizeBytes: 10,
      });
      expect(late).toMatchObject({ status: 'completed', announcement: 'due', errorMessage: null, failureKind: null });
      expect(row.id).not.toBe(late.id);
    });

    it('announcement attempts are counted before sending, failures recorded, and can give up', async () => {
      const { lease } = await create();
      await tracking.requests.markFailed(lease, 'Blocked by safety filters.', 'filtered', ['pending']);
      expect(await tracking.announcements.recordAnnouncementAttempt(lease)).toMatchObject({
        announcement: 'due',
        notificationAttempts: 1,
      });
      const f1 = await tracking.announcements.recordAnnouncementFailure(lease, '503', false);
      expect(f1).toMatchObject({ announcement: 'due', notificationAttempts: 1, notificationError: '503' });
      await tracking.announcements.recordAnnouncementAttempt(lease);
      const f2 = await tracking.announcements.recordAnnouncementFailure(lease, 'Missing Access', true);
      expect(f2).toMatchObject({
        announcement: 'gave_up',
        notificationAttempts: 2,
        notificationError: 'Missing Access',
      });
      await expect(tracking.announcements.recordAnnouncementSent(lease, 'm')).rejects.toBeInstanceOf(FencedWriteError);
    });
  });

  describe('claims and leases', () => {
    it('claims oldest first, skips live leases, and takes over expired ones', async () => {
      const older = await unleased({ prompt: 'older' });
      const newer = await unleased({ prompt: 'newer' });
      await backdate(older.id, 2);
      await backdate(newer.id, 1);
      const { row: held } = await create({ prompt: 'held' });
      await backdate(held.id, 3);

      const c1 = (await tracking.leases.claimNext('a', LEASE_MS))!;
      expect(c1.row.prompt).toBe('older');
      expect(c1.takeover).toBe(false);
      expect(c1.lease.fence).toBe(2);
      const c2 = (await tracking.leases.claimNext('b', LEASE_MS))!;
      expect(c2.row.prompt).toBe('newer');
      expect(await tracking.leases.claimNext('c', LEASE_MS)).toBeNull();

      await expireLease(held.id);
      const c3 = (await tracking.leases.claimNext('c', LEASE_MS))!;
      expect(c3).toMatchObject({ takeover: true, previousOwner: 'creator' });
      expect(c3.row).toMatchObject({ prompt: 'held', leaseOwner: 'c', fence: 2 });
    });

    it('claims finished rows whose announcement is due, and never announced or legacy finished rows', async () => {
      const { row, lease } = await create();
      await tracking.requests.markFailed(lease, 'boom', 'google', ['pending']);
      const plain = await unleased();
      await setStatus(plain.id, 'completed'); // finished, nothing to announce (like the original bot's rows)
      await tracking.leases.releaseLease(lease);

      const claim = (await tracking.leases.claimNext('x', LEASE_MS))!;
      expect(claim.row).toMatchObject({ id: row.id, status: 'failed', announcement: 'due' });
      expect(await tracking.leases.claimNext('y', LEASE_MS)).toBeNull();
    });

    it('claimById and the guild filter', async () => {
      const mine = await unleased({ guildId: GUILD });
      const theirs = await unleased({ guildId: OTHER_GUILD });
      expect(await tracking.leases.claimById(theirs.id, 'x', LEASE_MS, GUILD)).toBeNull();
      expect(await tracking.leases.claimById('not-a-uuid', 'x', LEASE_MS)).toBeNull();
      const c = (await tracking.leases.claimNext('x', LEASE_MS, { guildId: OTHER_GUILD }))!;
      expect(c.row.id).toBe(theirs.id);
      const byId = (await tracking.leases.claimById(mine.id, 'x', LEASE_MS, GUILD))!;
      expect(byId.row.id).toBe(mine.id);
      expect(await tracking.leases.claimById(mine.id, 'y', LEASE_MS)).toBeNull(); // leased
    });

    it('renews every lease an owner holds on claimable rows', async () => {
      const a = await create({}, 'me');
      await create({}, 'me');
      await create({}, 'someone-else');
      const done = await create({}, 'me');
      await tracking.requests.markFailed(done.lease, 'x', 'bot', ['pending']);
      await tracking.announcements.recordAnnouncementSent(done.lease, 'm'); // finished and announced: no longer claimable

      await expireLease(a.row.id);
      expect(await tracking.leases.renewLeases('me', LEASE_MS)).toBe(2); // a and the second; done is no longer claimable
      const renewed = await tracking.requests.getById(a.row.id);
      expect(renewed!.leaseExpiresAt!.getTime()).toBeGreaterThan(renewed!.createdAt.getTime());
      // a live lease again: nobody can claim it
      expect(await tracking.leases.claimById(a.row.id, 'thief', LEASE_MS)).toBeNull();
      expect(await tracking.leases.renewLeases(a.lease.owner, LEASE_MS, [a.row.id])).toBe(1);
    });
  });

  describe('expiry', () => {
    it('expires unleased pending rows older than the limit, and only those', async () => {
      const old = await unleased({ prompt: 'old' });
      const young = await unleased({ prompt: 'young' });
      const { row: leased } = await create({ prompt: 'leased' });
      const oldLeaseGone = await create({ prompt: 'old-lease-gone' });
      const generating = await unleased({ prompt: 'generating' });
      const ambiguous = await create({ prompt: 'ambiguous' });
      await tracking.attempts.recordSubmitAttempt(ambiguous.lease, 'gs://b/1/');
      await tracking.leases.releaseLease(ambiguous.lease);
      for (const id of [old.id, leased.id, oldLeaseGone.row.id, generating.id, ambiguous.row.id])
        await backdate(id, 30);
      await backdate(young.id, 23);
      await expireLease(oldLeaseGone.row.id);
      await setStatus(generating.id, 'generating', `, operation_name = 'op'`);

      const expired = await tracking.requests.expireStalePending(24);
      expect(expired.map((r) => r.prompt).sort()).toEqual(['old', 'old-lease-gone']);
      for (const r of expired) {
        expect(r).toMatchObject({
          status: 'timeout',
          errorMessage: 'Request expired (>24 hours old)',
          failureKind: 'expired',
          announcement: 'due',
          leaseOwner: null,
        });
      }
      // The former owner of the expired lease is fenced out.
      await expect(tracking.attempts.recordSubmitAttempt(oldLeaseGone.lease, 'gs://b/9/')).rejects.toBeInstanceOf(
        FencedWriteError,
      );
      expect(await tracking.requests.expireStalePending(24)).toEqual([]);
      expect((await tracking.requests.expireStalePending(6)).map((r) => r.errorMessage)).toEqual([
        'Request expired (>6 hours old)',
      ]);
    });

    it('admin expiry: guild scoped, age and state filters, fences out the live worker, idempotent', async () => {
      const pendingOld = await create({ prompt: 'pending-old' });
      const generatingOld = await create({ prompt: 'generating-old' });
      const at = await tracking.attempts.recordSubmitAttempt(generatingOld.lease, 'gs://b/1/');
      await tracking.attempts.recordOperationAccepted(generatingOld.lease, at.id, 'op', 'veo');
      const pendingYoung = await create({ prompt: 'pending-young' });
      const otherGuild = await create({ prompt: 'other', guildId: OTHER_GUILD });
      for (const r of [pendingOld, generatingOld, otherGuild]) await backdate(r.row.id, 5);

      const filter = { guildId: GUILD, olderThanHours: 2, includeGenerating: false };
      expect(await tracking.requests.countExpirable(filter)).toBe(1);
      expect(await tracking.requests.countExpirable({ ...filter, includeGenerating: true })).toBe(2);
      expect(await tracking.requests.countExpirable({ guildId: GUILD })).toBe(2);

      const changed = await tracking.requests.expireRequests({
        ...filter,
        includeGenerating: true,
        adminId: 'admin-1',
      });
      expect(changed.map((r) => r.prompt).sort()).toEqual(['generating-old', 'pending-old']);
      for (const r of changed) {
        expect(r).toMatchObject({
          status: 'timeout',
          errorMessage: 'Expired by a server admin',
          expiredBy: 'admin-1',
          failureKind: 'admin',
          announcement: 'due',
          leaseOwner: null,
          fence: 2,
        });
      }
      // The live worker's later writes are refused.
      await expect(tracking.requests.markCompleted(generatingOld.lease, { videoUrls: ['u'] })).rejects.toBeInstanceOf(
        FencedWriteError,
      );
      // Idempotent.
      expect(
        await tracking.requests.expireRequests({ ...filter, includeGenerating: true, adminId: 'admin-2' }),
      ).toEqual([]);
      expect(await tracking.requests.countExpirable({ ...filter, includeGenerating: true })).toBe(0);
      expect((await tracking.requests.getById(pendingOld.row.id))!.expiredBy).toBe('admin-1');

      // One request by id, any age.
      expect(await tracking.requests.countExpirable({ guildId: OTHER_GUILD, requestId: pendingYoung.row.id })).toBe(0);
      const one = await tracking.requests.expireRequests({
        guildId: GUILD,
        requestId: pendingYoung.row.id,
        adminId: 'admin-1',
      });
      expect(one.map((r) => r.id)).toEqual([pendingYoung.row.id]);
      expect((await tracking.requests.getById(otherGuild.row.id))!.status).toBe('pending');
    });
  });

  describe('quota', () => {
    it('counts the user requests since a time, but not failures the user did not cause', async () => {
      const lease = async (over: Partial<CreateRequestInput>): Promise<Lease> =>
        (await create({ userId: 'quota-user', ...over })).lease;
      await lease({}); // pending
      const done = await lease({});
      await tracking.requests.markCompleted(done, { videoUrls: ['u'] });
      const filtered = await lease({});
      await tracking.requests.markFailed(filtered, 'filtered', 'filtered', ['pending']);
      const invalid = await lease({});
      await tracking.requests.markFailed(invalid, 'bad', 'invalid', ['pending']);
      const google = await lease({});
      await tracking.requests.markFailed(google, '500', 'google', ['pending']);
      const bot = await lease({});
      await tracking.requests.markFailed(bot, 'crash', 'bot', ['pending']);
      const timedOut = await lease({});
      await tracking.requests.markTimeout(timedOut, 'lost', ['pending']);
      const admin = await lease({});
      await tracking.requests.expireRequests({ guildId: GUILD, requestId: admin.requestId, adminId: 'a' });
      const legacyFailed = await lease({});
      await setStatus(legacyFailed.requestId, 'failed'); // original bot's failure: no kind, not counted
      const old = await lease({});
      await backdate(old.requestId, 30);
      await create({ userId: 'someone-else' });
      await lease({ requestType: 'image' });

      const since = (await ds.query(`SELECT now() - interval '24 hours' AS t`))[0].t as Date;
      // pending, completed, filtered, invalid
      expect(await tracking.requests.countQuotaUsage('quota-user', since)).toBe(4);
      expect(await tracking.requests.countQuotaUsage('quota-user', since, 'image')).toBe(1);
      expect(await tracking.requests.countQuotaUsage('nobody', since)).toBe(0);
    });
  });

  describe('admin views', () => {
    it('summaries, lists and autocomplete are scoped to one guild', async () => {
      const p1 = await create({ durationSeconds: 8 });
      await backdate(p1.row.id, 3);
      const g1 = await create({ durationSeconds: 6 });
      const at = await tracking.attempts.recordSubmitAttempt(g1.lease, 'gs://b/1/');
      await tracking.attempts.recordOperationAccepted(g1.lease, at.id, 'op', 'veo');
      const f1 = await create({});
      await tracking.requests.markFailed(f1.lease, 'x', 'google', ['pending']);
      const t1 = await create({});
      await tracking.requests.markTimeout(t1.lease, 'x', ['pending']);
      await tracking.announcements.recordAnnouncementSent(t1.lease, 'm');
      const unleasedRow = await unleased({ durationSeconds: 4 });
      await expireLease(g1.row.id);
      // Another guild's rows must not show.
      const other = await create({ guildId: OTHER_GUILD, durationSeconds: 8 });
      await create({ guildId: OTHER_GUILD });
      await tracking.requests.markFailed(other.lease, 'x', 'google', ['pending']);

      const summary = await tracking.views.getGuildSummary(GUILD);
      expect(summary).toMatchObject({
        pending: 2,
        generating: 1,
        awaitingAnnouncement: 1,
        failed24h: 1,
        timeout24h: 1,
        videoSecondsAtRisk: 18,
      });
      expect(summary.oldestUnfinishedAt!.getTime()).toBe(
        (await tracking.requests.getById(p1.row.id))!.createdAt.getTime(),
      );
      expect(await tracking.views.getGuildSummary('no-such-guild')).toEqual({
        pending: 0,
        generating: 0,
        awaitingAnnouncement: 0,
        failed24h: 0,
        timeout24h: 0,
        videoSecondsAtRisk: 0,
        oldestUnfinishedAt: null,
      });

      const list = await tracking.views.listUnfinished(GUILD, { offset: 0, limit: 10 });
      expect(list.total).toBe(4);
      expect(list.rows.map((r) => r.id)).toEqual([p1.row.id, g1.row.id, f1.row.id, unleasedRow.id]);
      expect(list.rows.map((r) => [r.leaseLive, r.attemptCount])).toEqual([
        [true, 0],
        [false, 1],
        [true, 0],
        [false, 0],
      ]);
      expect(list.rows.every((r) => r.guildId === GUILD)).toBe(true);
      const page2 = await tracking.views.listUnfinished(GUILD, { offset: 3, limit: 2 });
      expect(page2).toMatchObject({ total: 4, rows: [{ id: unleasedRow.id }] });

      const prefix = p1.row.id.slice(0, 4);
      const found = await tracking.views.findForGuild(GUILD, prefix.toUpperCase());
      expect(found.map((r) => r.id)).toContain(p1.row.id);
      expect(found.every((r) => r.guildId === GUILD && r.id.startsWith(prefix))).toBe(true);
      expect(await tracking.views.findForGuild(OTHER_GUILD, p1.row.id)).toEqual([]);
      expect((await tracking.views.findForGuild(GUILD, "%' OR 1=1 --")).every((r) => r.guildId === GUILD)).toBe(true);

      expect(await tracking.views.countUnfinishedByState()).toEqual({
        pending: 3,
        generating: 1,
        awaiting_announcement: 2,
      });
    });
  });

  it('getById returns null for unknown or malformed ids, and database errors reach the caller', async () => {
    expect(await tracking.requests.getById('00000000-0000-4000-8000-000000000000')).toBeNull();
    expect(await tracking.requests.getById('nope')).toBeNull();
    await expect(
      tracking.requests.createRequest(input({ durationSeconds: 5 as never }), 'x', LEASE_MS),
    ).rejects.toThrow(/check constraint/);
  });
});
