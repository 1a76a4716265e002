import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import { DuplicateInteractionError, QuotaExceededError } from '../../domain/errors';
import {
  ADMIN_EXPIRY_MESSAGE,
  CANCELLED_MESSAGE,
  processingErrorMessage,
  staleExpiryMessage,
  type Verdict,
} from '../../domain/policy';
import {
  isRequestId,
  requestLogFields,
  type CompletionInput,
  type CreateRequestInput,
  type ExpireFilter,
  type FailureKind,
  type FailureReason,
  type Lease,
  type LeasedRequest,
  type RequestOrigin,
  type RequestStatus,
  type StoredImage,
  type VideoRequestRow,
} from '../../domain/request';
import type { OperatorCaps } from '../../domain/spend';
import type { Metrics } from '../../lib/metrics';
import { num, toRequestRow } from '../mapping';
import * as sql from '../sql/requests';
import { BudgetRepository } from './BudgetRepository';
import { fenceValues, type SqlRunner } from './SqlRunner';

/**
 * Requests: creation (with the quota), reads, the terminal transitions and expiry. Every transition is one
 * conditional UPDATE fenced by id + fence + lease owner (+ expected state); zero rows updated throws
 * FencedWriteError. The one place that counts finished requests (`veobot_requests_finished_total`).
 */
export class RequestRepository {
  private readonly budgets: BudgetRepository;

  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.budgets = new BudgetRepository(sql);
  }

  /**
   * Inserts a `pending` row already leased by `owner` (fence 1). With `quota`, the user's usage is counted and the row
   * inserted under a per-user lock in one transaction, so two simultaneous requests cannot both slip under the limit
   * (QuotaExceededError otherwise). With `quota.caps` (the operator's caps), the bot's and the server's video-seconds
   * budgets and the server's member quota are checked as well, under the global, server and user locks, in that order
   * (BudgetExceededError or QuotaExceededError).
   */
  public async createRequest(
    input: CreateRequestInput,
    owner: string,
    leaseMs: number,
    quota?: { limit: number; since: Date } | { caps: OperatorCaps; since: Date },
  ): Promise<LeasedRequest> {
    if (!quota) return this.insert(input, owner, leaseMs);
    const requestType = input.requestType ?? 'veo';
    return this.sql.transaction(async (manager) => {
      if ('caps' in quota) {
        await this.budgets.enforce(
          manager,
          {
            ...input,
            requestType,
            durationSeconds: input.durationSeconds ?? null,
            // As insert() stores it: audio unless said otherwise.
            generateAudio: input.generateAudio === undefined ? true : input.generateAudio,
          },
          quota.caps,
          quota.since,
        );
      } else {
        await this.sql.rows(sql.lockUserQuota, { userId: input.userId }, manager);
        const use = await this.budgets.quotaUse(input.userId, quota.since, quota.limit, { requestType, manager });
        if (use.used >= quota.limit) throw new QuotaExceededError(use.used, quota.limit, use.freesAt);
      }
      return this.insert(input, owner, leaseMs, manager);
    });
  }

  private async insert(
    input: CreateRequestInput,
    owner: string,
    leaseMs: number,
    manager?: EntityManager,
  ): Promise<LeasedRequest> {
    const raw = await this.sql.first(
      sql.insertRequest,
      {
        id: input.id ?? null,
        userId: input.userId,
        guildId: input.guildId,
        channelId: input.channelId,
        prompt: input.prompt,
        durationSeconds: input.durationSeconds ?? null,
        aspectRatio: input.aspectRatio,
        resolution: input.resolution ?? null,
        generateAudio: input.generateAudio === undefined ? true : input.generateAudio,
        requestType: input.requestType ?? 'veo',
        model: input.model ?? null,
        negativePrompt: input.negativePrompt ?? null,
        seed: input.seed ?? null,
        attachmentSizeLimit: input.attachmentSizeLimit ?? null,
        applicationId: input.applicationId ?? null,
        interactionToken: input.interactionToken ?? null,
        interactionExpiresAt: input.interactionExpiresAt ?? null,
        owner,
        leaseMs: Math.round(leaseMs),
        interactionId: input.interactionId ?? null,
        imageUri: input.imageUri ?? null,
        imageMimeType: input.imageMimeType ?? null,
        lastFrameUri: input.lastFrameUri ?? null,
        lastFrameMimeType: input.lastFrameMimeType ?? null,
        sourceVideoUri: input.sourceVideoUri ?? null,
        sourceVideoSeconds: input.sourceVideoSeconds ?? null,
        parentRequestId: input.parentRequestId ?? null,
        origin: input.origin ?? null,
        originSeq: input.originSeq ?? null,
        imageSourceUrl: input.imageSource?.url ?? null,
        imageSourceName: input.imageSource?.filename ?? null,
        imageSourceType: input.imageSource?.contentType ?? null,
        lastFrameSourceUrl: input.lastFrameSource?.url ?? null,
        lastFrameSourceName: input.lastFrameSource?.filename ?? null,
        lastFrameSourceType: input.lastFrameSource?.contentType ?? null,
      },
      manager,
    );
    if (!raw) throw new DuplicateInteractionError(input.interactionId ?? '');
    const row = toRequestRow(raw);
    this.logger.info({ ...requestLogFields(row), user_id: row.userId, owner }, 'request created');
    return { row, lease: { requestId: row.id, fence: row.fence, owner } };
  }

  /** The row, or null (also for an id that is not a uuid). */
  public async getById(id: string): Promise<VideoRequestRow | null> {
    if (!isRequestId(id)) return null;
    const raw = await this.sql.first(sql.getById, { id });
    return raw ? toRequestRow(raw) : null;
  }

  /** The request a Discord interaction made, if any. */
  public async getByInteractionId(interactionId: string): Promise<VideoRequestRow | null> {
    const raw = await this.sql.first(sql.getByInteractionId, { interactionId });
    return raw ? toRequestRow(raw) : null;
  }

  /** The request a press of a result button already made (its parent, button and press), if any. */
  public async getByOrigin(
    parentRequestId: string,
    origin: RequestOrigin,
    originSeq: number,
  ): Promise<VideoRequestRow | null> {
    if (!isRequestId(parentRequestId)) return null;
    const raw = await this.sql.first(sql.getByOrigin, { parentRequestId, origin, originSeq });
    return raw ? toRequestRow(raw) : null;
  }

  /** Input images in the bucket: locations stored, Discord's URLs cleared (fenced; pending, never submitted). */
  public storeInputImages(
    lease: Lease,
    images: { image: StoredImage | null; lastFrame: StoredImage | null },
  ): Promise<VideoRequestRow> {
    return this.sql.fenced(lease, 'storeInputImages', ['pending'], sql.storeInputImages, {
      imageUri: images.image?.uri ?? null,
      imageMimeType: images.image?.mimeType ?? null,
      lastFrameUri: images.lastFrame?.uri ?? null,
      lastFrameMimeType: images.lastFrame?.mimeType ?? null,
    });
  }

  /** Records the message the requester watches (the first one recorded stays). */
  public async setReplyMessage(id: string, messageId: string): Promise<void> {
    if (isRequestId(id)) await this.sql.rows(sql.setReplyMessage, { id, messageId });
  }

  /**
   * The requester's Cancel (sql.cancelRequest): the cancelled row, leased by `owner` to tell the requester, or null when
   * it cannot be cancelled (not theirs, not in this guild, or a submit attempt was recorded: Veo may have it).
   */
  public async cancel(
    request: { id: string; userId: string; guildId: string },
    owner: string,
    leaseMs: number,
  ): Promise<LeasedRequest | null> {
    if (!isRequestId(request.id)) return null;
    const raw = await this.sql.first(sql.cancelRequest, {
      ...request,
      message: CANCELLED_MESSAGE,
      owner,
      leaseMs: Math.round(leaseMs),
    });
    if (!raw) return null;
    const row = toRequestRow(raw);
    this.countFinished(['pending'], 'failed');
    this.logger.info({ ...requestLogFields(row), user_id: row.userId }, 'request cancelled by its requester');
    return { row, lease: { requestId: row.id, fence: row.fence, owner } };
  }

  /** How many requests are pending and generating (any age), in one guild or all. */
  public async countIncompleteRequests(guildId?: string): Promise<{ pending: number; generating: number }> {
    const r = await this.sql.first(sql.countIncompleteRequests, { guildId: guildId ?? null });
    return { pending: num(r?.pending ?? 0), generating: num(r?.generating ?? 0) };
  }

  /**
   * R1: pending and generating requests created within `maxAgeHours`, oldest first. The resume itself claims rows one
   * at a time (LeaseRepository.claimNext); this list is the requirement's read, for scripts and reports.
   */
  public async getIncompleteRequests(maxAgeHours: number = 24): Promise<VideoRequestRow[]> {
    return (await this.sql.rows(sql.getIncompleteRequests, { maxAgeHours })).map(toRequestRow);
  }

  /** Rows whose status this version does not know; they are never claimed, paid for or announced. */
  public async countUnknownStatuses(): Promise<{ status: string; count: number }[]> {
    return (await this.sql.rows(sql.countUnknownStatuses, {})).map((r) => ({
      status: String(r.status),
      count: num(r.count),
    }));
  }

  /**
   * Records an unexpected error while driving the request and releases the lease; at `limit` errors the request fails
   * with the reason (or its announcement is given up) instead of being retried by every sweep. null: lease not held.
   */
  public async recordProcessingError(lease: Lease, error: string, limit: number): Promise<VideoRequestRow | null> {
    const message = processingErrorMessage(limit, error);
    const raw = await this.sql.first(sql.processingError, { ...fenceValues(lease), message, limit });
    if (!raw) return null;
    const row = toRequestRow(raw);
    const gaveUp = row.processingErrors >= limit;
    if (gaveUp && row.status === 'failed' && row.failureKind === 'bot' && row.errorMessage === message) {
      this.metrics?.requestsFinished.inc({ outcome: 'failed' });
    }
    this.logger[gaveUp ? 'error' : 'warn'](
      { ...requestLogFields(row), errors: row.processingErrors, error },
      'unexpected error while driving a request',
    );
    return row;
  }

  /**
   * → completed from generating or pending (an ambiguous attempt's output may complete a pending row); `from` narrows
   * the expected statuses.
   */
  public async markCompleted(
    lease: Lease,
    result: CompletionInput,
    from: RequestStatus[] = ['generating', 'pending'],
  ): Promise<VideoRequestRow> {
    return this.complete(lease, result, from, 'markCompleted');
  }

  /** timeout → completed: the operation finished after its timeout; the announcement is due again. */
  public async lateComplete(lease: Lease, result: CompletionInput): Promise<VideoRequestRow> {
    return this.complete(lease, result, ['timeout'], 'lateComplete');
  }

  private async complete(
    lease: Lease,
    result: CompletionInput,
    from: RequestStatus[],
    action: string,
  ): Promise<VideoRequestRow> {
    const row = await this.sql.fenced(lease, action, from, sql.markCompleted, {
      videoUrls: result.videoUrls,
      gcsPrefix: result.gcsPrefix ?? null,
      videoSizeBytes: result.videoSizeBytes ?? null,
      from,
    });
    this.countFinished(from, 'completed');
    this.logger.info(
      { ...requestLogFields(row), duration_ms: row.durationMs, videos: row.videoUrls?.length ?? 0 },
      'request completed',
    );
    return row;
  }

  /** Ends the request as a failure verdict says (policy.classify), from the `from` statuses. */
  public async finish(lease: Lease, verdict: Verdict, from: RequestStatus[]): Promise<VideoRequestRow> {
    return this.finishUnsuccessfully(lease, verdict.status, verdict.message, verdict.failureKind, from, verdict.reason);
  }

  /** → failed from the `from` statuses, with the message and why. */
  public async markFailed(
    lease: Lease,
    message: string,
    failureKind: FailureKind,
    from: RequestStatus[],
  ): Promise<VideoRequestRow> {
    return this.finishUnsuccessfully(lease, 'failed', message, failureKind, from);
  }

  /** → timeout from the `from` statuses (failure_kind defaults to 'google': the operation was lost or never ended). */
  public async markTimeout(
    lease: Lease,
    message: string,
    from: RequestStatus[],
    failureKind: FailureKind = 'google',
  ): Promise<VideoRequestRow> {
    return this.finishUnsuccessfully(lease, 'timeout', message, failureKind, from);
  }

  private async finishUnsuccessfully(
    lease: Lease,
    status: 'failed' | 'timeout',
    message: string,
    failureKind: FailureKind,
    from: RequestStatus[],
    reason: FailureReason | null = null,
  ): Promise<VideoRequestRow> {
    const action = status === 'failed' ? 'markFailed' : 'markTimeout';
    const row = await this.sql.fenced(lease, action, from, sql.markFinishedUnsuccessfully, {
      status,
      message,
      failureKind,
      from,
      reason,
    });
    this.countFinished(from, status);
    this.logger.info(
      { ...requestLogFields(row), failure_kind: failureKind, error: message },
      status === 'failed' ? 'request failed' : 'request timed out',
    );
    return row;
  }

  /** A request counts as finished when it leaves pending/generating (not when a late completion follows a timeout). */
  private countFinished(from: RequestStatus[], outcome: 'completed' | 'failed' | 'timeout', n = 1): void {
    if (n > 0 && from.some((s) => s === 'pending' || s === 'generating')) {
      this.metrics?.requestsFinished.inc({ outcome }, n);
    }
  }

  /**
   * R9: pending rows older than `maxAgeHours` whose lease is empty or run out → timeout ("Request expired (>N hours
   * old)", failure_kind 'expired'), announcement due, fence bumped. Rows with a `submitting` (ambiguous) attempt are
   * left for the resume to reconcile first. `guildId` limits it to one guild.
   */
  public async expireStalePending(maxAgeHours: number, guildId?: string): Promise<VideoRequestRow[]> {
    const rows = (
      await this.sql.rows(sql.expireStalePending, {
        maxAgeHours,
        message: staleExpiryMessage(maxAgeHours),
        guildId: guildId ?? null,
      })
    ).map(toRequestRow);
    this.countFinished(['pending'], 'timeout', rows.length);
    for (const row of rows)
      this.logger.info({ ...requestLogFields(row), max_age_hours: maxAgeHours }, 'stale pending request expired');
    return rows;
  }

  /**
   * Admin expiry in one guild → timeout ("Expired by a server admin", expired_by, failure_kind 'admin'),
   * announcement due, fence bumped and lease cleared (a live worker's later writes are refused). Idempotent.
   */
  public async expireRequests(filter: ExpireFilter & { adminId: string }): Promise<VideoRequestRow[]> {
    const rows = (
      await this.sql.rows(sql.expireRequests, {
        ...expirable(filter),
        adminId: filter.adminId,
        message: ADMIN_EXPIRY_MESSAGE,
      })
    ).map(toRequestRow);
    this.countFinished(['pending'], 'timeout', rows.length);
    for (const row of rows)
      this.logger.info({ ...requestLogFields(row), admin_id: filter.adminId }, 'request expired by an admin');
    return rows;
  }

  /** How many rows expireRequests would change with the same filters. */
  public async countExpirable(filter: ExpireFilter): Promise<number> {
    return this.sql.count(sql.countExpirable, expirable(filter));
  }

  /**
   * Requests of `userId` created since `since` that count against the quota (policy.countsAgainstQuota): all but
   * failed/timeout rows, which count only when the user caused them.
   */
  public async countQuotaUsage(userId: string, since: Date, requestType: string = 'veo'): Promise<number> {
    return this.sql.count(sql.countQuotaUsage, { userId, since, requestType });
  }
}

function expirable(filter: ExpireFilter): sql.ExpirableValues {
  return {
    guildId: filter.guildId,
    olderThanHours: filter.olderThanHours ?? 0,
    includeGenerating: filter.includeGenerating ?? false,
    requestId: filter.requestId ?? null,
  };
}
