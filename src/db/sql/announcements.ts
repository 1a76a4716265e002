/** The announcement outbox on the request row (R6): attempts counted before sending, then sent or given up. */
import { FENCE_NAMES, statement, type FenceValues } from './statement';
import { FENCED, REQUESTS } from './tables';

/** due → sent (fenced). `deliveredAs` null keeps the stored value. */
export const announcementSent = statement<FenceValues & { messageId: string; deliveredAs: string | null }>(
  [...FENCE_NAMES, 'messageId', 'deliveredAs'],
  `UPDATE ${REQUESTS}
    SET announcement = 'sent', notified_at = now(), notification_message_id = $messageId,
      delivered_as = COALESCE($deliveredAs, delivered_as), updated_at = now()
    WHERE ${FENCED} AND announcement = 'due'
    RETURNING *`,
);

/**
 * Write-ahead of an announcement (fenced, while due): counted before the message is sent, so a bot that dies after
 * sending knows on restart that it must look for its earlier message.
 */
export const announcementAttempt = statement<FenceValues>(
  FENCE_NAMES,
  `UPDATE ${REQUESTS}
    SET notification_attempts = notification_attempts + 1, updated_at = now()
    WHERE ${FENCED} AND announcement = 'due'
    RETURNING *`,
);

/** A failed announcement (fenced, while due): the error, and with `giveUp` → gave_up. */
export const announcementFailed = statement<FenceValues & { error: string; giveUp: boolean }>(
  [...FENCE_NAMES, 'error', 'giveUp'],
  `UPDATE ${REQUESTS}
    SET notification_error = $error,
      announcement = CASE WHEN $giveUp::boolean THEN 'gave_up' ELSE announcement END, updated_at = now()
    WHERE ${FENCED} AND announcement = 'due'
    RETURNING *`,
);
