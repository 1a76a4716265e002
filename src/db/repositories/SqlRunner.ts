import type { Logger } from 'pino';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { FencedWriteError } from '../../domain/errors';
import type { AnnouncementState, Lease, RequestStatus, VideoRequestRow } from '../../domain/request';
import { toRequestRow, num, type Raw } from '../mapping';
import { getFenceState } from '../sql/requests';
import type { FenceValues, Statement } from '../sql/statement';

/**
 * Runs statements for the repositories.
 *
 * - Every database error is thrown to the caller, never swallowed.
 * - No repository opens a transaction of its own except through `transaction`, and multi-step writes are single
 *   statements, so the embedded pool of one connection can never deadlock on them.
 */
export class SqlRunner {
  public constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {}

  /**
   * Runs one statement and returns its rows (for UPDATE … RETURNING too). With `manager`, on that manager's connection
   * (inside its transaction); otherwise on a pooled connection released right after.
   */
  public async rows<P extends object>(statement: Statement<P>, values: P, manager?: EntityManager): Promise<Raw[]> {
    const own = manager?.queryRunner === undefined;
    const runner: QueryRunner = manager?.queryRunner ?? this.dataSource.createQueryRunner();
    try {
      const result = await runner.query(statement.text, statement.bind(values), true);
      return (result.records ?? []) as Raw[];
    } finally {
      if (own) await runner.release();
    }
  }

  public async first<P extends object>(
    statement: Statement<P>,
    values: P,
    manager?: EntityManager,
  ): Promise<Raw | undefined> {
    return (await this.rows(statement, values, manager))[0];
  }

  public async count<P extends object>(statement: Statement<P>, values: P): Promise<number> {
    const row = await this.first(statement, values);
    return num(row?.count ?? 0);
  }

  public transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * A fenced write of the request row under `lease`: the updated row, or FencedWriteError (with what the row holds
   * now) when the write hit zero rows. `states` names what the write expected, for the error.
   */
  public async fenced<P extends object>(
    lease: Lease,
    action: string,
    states: readonly string[],
    statement: Statement<FenceValues & P>,
    values: P,
  ): Promise<VideoRequestRow> {
    const raw = await this.first(statement, { ...values, ...fenceValues(lease) } as FenceValues & P);
    if (!raw) throw await this.refused(lease, action, states);
    return toRequestRow(raw);
  }

  /** Builds the FencedWriteError of a refused write, with the row's current state for the log. */
  public async refused(lease: Lease, action: string, states: readonly string[]): Promise<FencedWriteError> {
    const current = await this.first(getFenceState, { id: lease.requestId });
    const actual = current
      ? {
          status: current.status as RequestStatus,
          fence: num(current.fence),
          leaseOwner: (current.lease_owner ?? null) as string | null,
          announcement: (current.announcement ?? null) as AnnouncementState | null,
        }
      : null;
    const error = new FencedWriteError(
      lease.requestId,
      action,
      { states, fence: lease.fence, owner: lease.owner },
      actual,
    );
    this.logger.warn(
      { request_id: lease.requestId, action, expected_fence: lease.fence, owner: lease.owner, actual },
      'fenced write refused: the request moved on',
    );
    return error;
  }
}

export function fenceValues(lease: Lease): FenceValues {
  return { id: lease.requestId, fence: lease.fence, owner: lease.owner };
}
