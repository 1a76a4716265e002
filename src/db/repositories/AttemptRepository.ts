import type { Logger } from 'pino';
import {
  isRequestId,
  requestLogFields,
  type Lease,
  type SubmitAttemptRow,
  type VideoRequestRow,
} from '../../domain/request';
import { toAttemptRow } from '../mapping';
import * as sql from '../sql/attempts';
import { fenceValues, type SqlRunner } from './SqlRunner';

/** The write-ahead log of paid Veo submits (R3) and the move to `generating` once Veo accepted one. */
export class AttemptRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  /**
   * Write-ahead log of a paid submit, committed before calling Veo: fenced on the request being `pending`, inserts
   * attempt n+1 (`submitting`) and increments `submit_attempts`, atomically (one statement).
   */
  public async recordSubmitAttempt(lease: Lease, outputPrefix: string): Promise<SubmitAttemptRow> {
    const raw = await this.sql.first(sql.insertSubmitAttempt, { ...fenceValues(lease), outputPrefix });
    if (!raw) throw await this.sql.refused(lease, 'recordSubmitAttempt', ['pending']);
    const attempt = toAttemptRow(raw);
    this.logger.info(
      {
        request_id: lease.requestId,
        attempt: attempt.attempt,
        attempt_id: attempt.id,
        output_prefix: outputPrefix,
        fence: lease.fence,
      },
      'submit attempt recorded',
    );
    return attempt;
  }

  /**
   * Veo accepted the submit. First, unconditionally, the attempt gets the operation name (`accepted`): a paid
   * operation's name is never lost, even by a stale worker. Then the request moves pending → generating (fenced);
   * FencedWriteError is thrown after the attempt is saved.
   */
  public async recordOperationAccepted(
    lease: Lease,
    attemptId: number,
    operationName: string,
    model: string | null,
  ): Promise<VideoRequestRow> {
    const rawAttempt = await this.sql.first(sql.acceptAttempt, { attemptId, operationName });
    if (!rawAttempt) {
      throw new Error(
        `Submit attempt ${attemptId} of request ${lease.requestId} does not exist (operation ${operationName})`,
      );
    }
    const attempt = toAttemptRow(rawAttempt);
    this.logger.info(
      {
        request_id: lease.requestId,
        attempt: attempt.attempt,
        attempt_id: attemptId,
        operation_name: operationName,
        model,
      },
      'Veo operation accepted and recorded',
    );
    const row = await this.sql.fenced(lease, 'recordOperationAccepted', ['pending'], sql.markGenerating, {
      operationName,
      model,
      attemptId,
    });
    this.logger.info({ ...requestLogFields(row), model: row.model }, 'request generating');
    return row;
  }

  /** Veo refused the submit (nothing billed). Only a `submitting` attempt changes; null otherwise. */
  public async recordAttemptRejected(attemptId: number, error: string): Promise<SubmitAttemptRow | null> {
    const raw = await this.sql.first(sql.rejectAttempt, { attemptId, error });
    return raw ? toAttemptRow(raw) : null;
  }

  /**
   * Veo answered 429: the attempt was refused (nothing billed) and no permit is granted for `delayMs` (the queue's
   * gate). Only a `submitting` attempt changes; null otherwise.
   */
  public async recordAttemptThrottled(
    attemptId: number,
    error: string,
    delayMs: number,
  ): Promise<SubmitAttemptRow | null> {
    const raw = await this.sql.first(sql.throttleAttempt, { attemptId, error, delayMs: Math.round(delayMs) });
    return raw ? toAttemptRow(raw) : null;
  }

  /** 429 answers of the last ten minutes, all requests together. */
  public async countRecentThrottles(): Promise<number> {
    return this.sql.count(sql.countRecentThrottles, {});
  }

  /** An ambiguous attempt showed no output within the grace period. Only a `submitting` attempt changes. */
  public async markAttemptAbandoned(attemptId: number, error?: string): Promise<SubmitAttemptRow | null> {
    const raw = await this.sql.first(sql.abandonAttempt, { attemptId, error: error ?? null });
    return raw ? toAttemptRow(raw) : null;
  }

  /** Counts one more ambiguous attempt (fenced); returns the new count. */
  public async incrementAmbiguous(lease: Lease): Promise<number> {
    const row = await this.sql.fenced(lease, 'incrementAmbiguous', [], sql.incrementAmbiguous, {});
    return row.ambiguousAttempts;
  }

  /** The request's attempts, first to last. */
  public async getAttempts(requestId: string): Promise<SubmitAttemptRow[]> {
    if (!isRequestId(requestId)) return [];
    return (await this.sql.rows(sql.getAttempts, { requestId })).map(toAttemptRow);
  }
}
