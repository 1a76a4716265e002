import type { Logger } from 'pino';
import { requestLogFields, type DeliveredAs, type Lease, type VideoRequestRow } from '../../domain/request';
import * as sql from '../sql/announcements';
import type { SqlRunner } from './SqlRunner';

/** The announcement outbox on the request row (R6); services/AnnouncementService applies its rules. */
export class AnnouncementRepository {
  public constructor(
    private readonly sql: SqlRunner,
    private readonly logger: Logger,
  ) {}

  /** Counts an announcement attempt before the message is sent (fenced, while due); returns the updated row. */
  public async recordAnnouncementAttempt(lease: Lease): Promise<VideoRequestRow> {
    return this.sql.fenced(lease, 'recordAnnouncementAttempt', ['announcement:due'], sql.announcementAttempt, {});
  }

  /** due → sent, with the message id and time (fenced). */
  public async recordAnnouncementSent(
    lease: Lease,
    messageId: string,
    deliveredAs?: DeliveredAs | null,
  ): Promise<VideoRequestRow> {
    const row = await this.sql.fenced(lease, 'recordAnnouncementSent', ['announcement:due'], sql.announcementSent, {
      messageId,
      deliveredAs: deliveredAs ?? null,
    });
    this.logger.info(
      { ...requestLogFields(row), message_id: messageId, delivered_as: deliveredAs },
      'announcement sent',
    );
    return row;
  }

  /** A failed announcement: the error; `giveUp` → gave_up (fenced, while due). */
  public async recordAnnouncementFailure(lease: Lease, error: string, giveUp: boolean): Promise<VideoRequestRow> {
    const row = await this.sql.fenced(
      lease,
      'recordAnnouncementFailure',
      ['announcement:due'],
      sql.announcementFailed,
      {
        error,
        giveUp,
      },
    );
    this.logger[giveUp ? 'warn' : 'info'](
      { ...requestLogFields(row), attempts: row.notificationAttempts, error, give_up: giveUp },
      giveUp ? 'announcement given up' : 'announcement failed',
    );
    return row;
  }
}
