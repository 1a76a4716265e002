import pino from 'pino';
import { createRequestStore } from '../../src/db/repositories';
import * as announcements from '../../src/db/sql/announcements';
import * as attempts from '../../src/db/sql/attempts';
import * as budgets from '../../src/db/sql/budgets';
import * as leases from '../../src/db/sql/leases';
import * as queue from '../../src/db/sql/queue';
import * as requests from '../../src/db/sql/requests';
import * as settings from '../../src/db/sql/settings';
import type { Statement } from '../../src/db/sql/statement';
import * as views from '../../src/db/sql/views';

/** Every statement of the request model, by name (the SQL modules of src/db/sql). */
const plans = Object.fromEntries(
  [requests, leases, attempts, announcements, views, budgets, queue, settings].flatMap((module) =>
    Object.entries(module).filter((entry): entry is [string, Statement<object>] => typeof entry[1] === 'object'),
  ),
) as Record<string, Statement<object>> &
  typeof requests &
  typeof leases &
  typeof attempts &
  typeof announcements &
  typeof views &
  typeof budgets &
  typeof queue &
  typeof settings;

/** Whitespace-normalised SQL, for structure checks. */
const norm = (sql: string): string => sql.replace(/\s+/g, ' ').trim();
/** Highest $n placeholder used. */
const maxParam = (sql: string): number => Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));

const statements = Object.entries(plans);

describe('SQL statements (structure, no database)', () => {
  it('exports one statement per query, each with parameterised SQL and one name per placeholder', () => {
    expect(statements.length).toBeGreaterThanOrEqual(25);
    for (const [name, plan] of statements) {
      const sql = plan.text;
      expect(plan.names.length).toBe(maxParam(sql));
      expect(typeof sql).toBe('string');
      expect(sql.length).toBeGreaterThan(20);
      // Never a JS template hole left unfilled, never a value interpolated as a quoted literal of user data.
      expect(sql).not.toMatch(/\$\{|undefined|\[object /);
      // Placeholders are contiguous from $1.
      const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      for (let i = 1; i <= maxParam(sql); i++) expect({ name, has: used.has(i), i }).toEqual({ name, has: true, i });
    }
  });

  describe('getIncompleteRequests (R1)', () => {
    const sql = norm(plans.getIncompleteRequests.text);
    it('selects pending and generating rows only', () => {
      expect(sql).toMatch(/^SELECT \* FROM video_requests WHERE/);
      expect(sql).toContain(`status IN ('pending', 'generating')`);
      expect(sql).not.toMatch(/completed|failed|timeout/);
    });
    it('within maxAgeHours of now, as the single parameter', () => {
      expect(sql).toContain(`created_at >= now() - $1::double precision * interval '1 hour'`);
      expect(maxParam(sql)).toBe(1);
    });
    it('oldest first', () => {
      expect(sql).toMatch(/ORDER BY created_at ASC$/);
    });
  });

  describe('claim', () => {
    const sql = norm(plans.claim.text);
    it('is one UPDATE of a row picked with FOR UPDATE SKIP LOCKED, oldest first', () => {
      expect(sql).toMatch(/^WITH candidate AS \( SELECT .* FROM video_requests WHERE/);
      expect(sql).toContain('ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED');
      expect(sql).toContain('UPDATE video_requests r SET lease_owner = $1');
      expect(sql).toContain('fence = r.fence + 1');
      expect(sql).toMatch(/RETURNING r\.\*, c\.previous_lease_owner$/);
    });
    it('only claimable rows whose lease is empty, expired or held by an instance that stopped beating', () => {
      expect(sql).toContain(`(status IN ('pending', 'generating') OR announcement = 'due')`);
      expect(sql).toContain(
        '(video_requests.lease_expires_at IS NULL OR video_requests.lease_expires_at < now() OR EXISTS ' +
          '(SELECT 1 FROM bot_instances dead_i WHERE dead_i.instance_id = video_requests.lease_owner ' +
          "AND (dead_i.stopped_at IS NOT NULL OR dead_i.last_beat_at < now() - dead_i.dead_after_ms * interval '1 millisecond')))",
      );
      expect(sql).toContain('($3::text IS NULL OR guild_id = $3::text)');
    });
  });

  describe('fenced transitions', () => {
    const fenced = {
      markGenerating: plans.markGenerating.text,
      markCompleted: plans.markCompleted.text,
      markFinishedUnsuccessfully: plans.markFinishedUnsuccessfully.text,
      announcementSent: plans.announcementSent.text,
      announcementFailed: plans.announcementFailed.text,
      incrementAmbiguous: plans.incrementAmbiguous.text,
      releaseLease: plans.releaseLease.text,
      insertSubmitAttempt: plans.insertSubmitAttempt.text,
      storeInputImages: plans.storeInputImages.text,
    };
    it.each(Object.entries(fenced))('%s is conditional on id, fence and lease owner and returns the row', (_n, raw) => {
      const sql = norm(raw);
      expect(sql).toContain('WHERE id = $1 AND fence = $2 AND lease_owner = $3');
      expect(sql).toContain('RETURNING');
    });
    it('terminal transitions set the announcement due in the same UPDATE, from expected statuses', () => {
      for (const raw of [plans.markCompleted.text, plans.markFinishedUnsuccessfully.text]) {
        const sql = norm(raw);
        expect(sql).toContain(`announcement = 'due'`);
        expect(sql).toContain('completed_at = now()');
        expect(sql).toContain('duration_ms =');
        expect(sql).toMatch(/status = ANY\(\$7::text\[\]\)/);
      }
    });
    it("input images are stored, and Discord's URLs cleared, only while pending and never submitted", () => {
      const sql = norm(plans.storeInputImages.text);
      expect(sql).toMatch(/AND status = 'pending' AND submit_attempts = 0 RETURNING \*$/);
      for (const column of ['image_source_url', 'last_frame_source_url', 'image_source_name', 'last_frame_source_type'])
        expect(sql).toContain(`${column} = NULL`);
    });
    it('the queue leaves out requests whose images are still to be fetched', () => {
      expect(norm(plans.queuePositions.text)).toContain(
        `r.status = 'pending' AND r.image_source_url IS NULL AND r.last_frame_source_url IS NULL`,
      );
    });
    it('the operation name is stored on the attempt without any fence', () => {
      const sql = norm(plans.acceptAttempt.text);
      expect(sql).toBe(
        `UPDATE video_request_attempts SET operation_name = $2, state = 'accepted', accepted_at = COALESCE(accepted_at, now()), answered_at = COALESCE(answered_at, now()) WHERE id = $1::bigint RETURNING *`,
      );
    });
    it('admin and stale expiry bump the fence and clear the lease', () => {
      for (const raw of [plans.expireRequests.text, plans.expireStalePending.text]) {
        const sql = norm(raw);
        expect(sql).toMatch(/fence = (r\.)?fence \+ 1/);
        expect(sql).toContain('lease_owner = NULL');
        expect(sql).toContain(`status = 'timeout'`);
        expect(sql).toContain(`announcement = 'due'`);
      }
      expect(norm(plans.expireStalePending.text)).toContain(`failure_kind = 'expired'`);
      expect(norm(plans.expireRequests.text)).toContain(`failure_kind = 'admin'`);
    });
  });

  it('quota counts failed/timeout rows only when user-caused, or expired by an admin after a submit', () => {
    const sql = norm(plans.countQuotaUsage.text);
    expect(sql).toContain(`(r.status NOT IN ('failed', 'timeout') OR r.failure_kind IN ('filtered', 'invalid')`);
    expect(sql).toContain(
      `OR (r.failure_kind IN ('admin') AND (r.operation_name IS NOT NULL OR EXISTS (SELECT 1 FROM video_request_attempts billed_a WHERE billed_a.request_id = r.id AND billed_a.state NOT IN ('rejected', 'returned')))))`,
    );
  });

  it('admin views are scoped to one guild', () => {
    for (const raw of [
      plans.guildSummary.text,
      plans.listUnfinished.text,
      plans.countUnfinished.text,
      plans.findForGuild.text,
      plans.expireRequests.text,
      plans.countExpirable.text,
    ]) {
      expect(norm(raw)).toMatch(/WHERE (r\.)?guild_id = \$1/);
    }
  });
});

describe('RequestRepository.getIncompleteRequests with a mocked database', () => {
  it('runs the plan with maxAgeHours (default 24) and maps rows to camelCase', async () => {
    const created = new Date('2026-11-29T10:00:00Z');
    const query = jest.fn().mockResolvedValue({
      records: [
        {
          id: '00000000-0000-4000-8000-000000000001',
          user_id: 'u',
          guild_id: 'g',
          channel_id: 'c',
          prompt: 'p',
          duration_seconds: 8,
          aspect_ratio: '16:9',
          resolution: null,
          generate_audio: true,
          status: 'generating',
          operation_name: 'op/1',
          created_at: created,
          request_type: 'veo',
          fence: '3',
          seed: '42',
          video_size_bytes: null,
          notification_attempts: 0,
          submit_attempts: 1,
          ambiguous_attempts: 0,
        },
      ],
    });
    const release = jest.fn().mockResolvedValue(undefined);
    const dataSource = { createQueryRunner: () => ({ query, release }) };
    const service = createRequestStore(dataSource as never, pino({ level: 'silent' })).requests;

    const rows = await service.getIncompleteRequests();
    expect(query).toHaveBeenCalledWith(plans.getIncompleteRequests.text, [24], true);
    expect(release).toHaveBeenCalledTimes(1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: '00000000-0000-4000-8000-000000000001',
      userId: 'u',
      status: 'generating',
      operationName: 'op/1',
      createdAt: created,
      fence: 3,
      seed: 42,
      videoSizeBytes: null,
      durationSeconds: 8,
    });

    await service.getIncompleteRequests(6);
    expect(query).toHaveBeenLastCalledWith(plans.getIncompleteRequests.text, [6], true);
  });

  it('throws database errors to the caller and still releases the connection', async () => {
    const query = jest.fn().mockRejectedValue(new Error('connection refused'));
    const release = jest.fn().mockResolvedValue(undefined);
    const service = createRequestStore(
      { createQueryRunner: () => ({ query, release }) } as never,
      pino({ level: 'silent' }),
    ).requests;
    await expect(service.getIncompleteRequests()).rejects.toThrow('connection refused');
    expect(release).toHaveBeenCalledTimes(1);
  });
});
