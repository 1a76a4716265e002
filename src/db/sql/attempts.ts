/** Submit attempts: the write-ahead log of paid Veo submits (R3), and the move to `generating` once Veo accepted. */
import { FENCE_NAMES, statement, type FenceValues } from './statement';
import { ATTEMPTS, FENCED, MS, REQUESTS } from './tables';

/**
 * Write-ahead submit attempt, one statement (so one transaction): fenced on the request being `pending`, increments
 * `submit_attempts` and inserts attempt n+1 in state `submitting`. No row returned = refused.
 */
export const insertSubmitAttempt = statement<FenceValues & { outputPrefix: string }>(
  [...FENCE_NAMES, 'outputPrefix'],
  `WITH req AS (
      UPDATE ${REQUESTS}
        SET submit_attempts = submit_attempts + 1, updated_at = now()
      WHERE ${FENCED} AND status = 'pending'
      RETURNING id
    )
    INSERT INTO ${ATTEMPTS} (request_id, attempt, output_prefix, state)
    SELECT req.id,
      COALESCE((SELECT max(a.attempt) FROM ${ATTEMPTS} a WHERE a.request_id = req.id), 0) + 1,
      $outputPrefix, 'submitting'
    FROM req
    RETURNING *`,
);

/** Veo accepted: store the operation name on the attempt, unconditionally (a paid operation's name is never lost). */
export const acceptAttempt = statement<{ attemptId: number; operationName: string }>(
  ['attemptId', 'operationName'],
  `UPDATE ${ATTEMPTS}
    SET operation_name = $operationName, state = 'accepted', accepted_at = COALESCE(accepted_at, now()),
      answered_at = COALESCE(answered_at, now())
    WHERE id = $attemptId::bigint
    RETURNING *`,
);

/**
 * Veo accepted: the request moves pending → generating (fenced), with the operation name, the model and the attempt's
 * output folder.
 */
export const markGenerating = statement<
  FenceValues & { operationName: string; model: string | null; attemptId: number }
>(
  [...FENCE_NAMES, 'operationName', 'model', 'attemptId'],
  `UPDATE ${REQUESTS}
    SET status = 'generating', operation_name = $operationName, model = COALESCE($model, model), started_at = now(),
      gcs_prefix = COALESCE((SELECT a.output_prefix FROM ${ATTEMPTS} a WHERE a.id = $attemptId::bigint), gcs_prefix),
      updated_at = now()
    WHERE ${FENCED} AND status = 'pending'
    RETURNING *`,
);

/** Veo refused a submit. Only a `submitting` attempt changes. */
export const rejectAttempt = statement<{ attemptId: number; error: string }>(
  ['attemptId', 'error'],
  `UPDATE ${ATTEMPTS} SET state = 'rejected', error = $error, answered_at = now()
    WHERE id = $attemptId::bigint AND state = 'submitting'
    RETURNING *`,
);

/**
 * Veo answered 429 (quota exhausted): the attempt was refused (nothing billed) and no permit is granted to anyone for
 * `delayMs` (the submit queue's gate). Only a `submitting` attempt changes.
 */
export const throttleAttempt = statement<{ attemptId: number; error: string; delayMs: number }>(
  ['attemptId', 'error', 'delayMs'],
  `UPDATE ${ATTEMPTS}
    SET state = 'rejected', error = $error, answered_at = now(), throttled_until = now() + $delayMs::bigint ${MS}
    WHERE id = $attemptId::bigint AND state = 'submitting'
    RETURNING *`,
);

/**
 * A permit given back: its attempt was recorded but this process knows it never called Veo (the request stopped
 * waiting while the grant was being written). Never sent, never answered: it counts in no window and bills nothing.
 */
export const returnPermit = statement<{ attemptId: number; error: string }>(
  ['attemptId', 'error'],
  `UPDATE ${ATTEMPTS} SET state = 'returned', error = $error
    WHERE id = $attemptId::bigint AND state = 'submitting'
    RETURNING *`,
);

/** 429 answers of the last ten minutes (the backoff when Google gave no retry delay). */
export const countRecentThrottles = statement<Record<string, never>>(
  [],
  `SELECT count(*)::integer AS count FROM ${ATTEMPTS}
    WHERE throttled_until IS NOT NULL AND answered_at > now() - interval '10 minutes'`,
);

/** An ambiguous attempt produced nothing within the grace period. */
export const abandonAttempt = statement<{ attemptId: number; error: string | null }>(
  ['attemptId', 'error'],
  `UPDATE ${ATTEMPTS} SET state = 'abandoned', error = COALESCE($error, error)
    WHERE id = $attemptId::bigint AND state = 'submitting'
    RETURNING *`,
);

/** Count one more ambiguous attempt (fenced). */
export const incrementAmbiguous = statement<FenceValues>(
  FENCE_NAMES,
  `UPDATE ${REQUESTS}
    SET ambiguous_attempts = ambiguous_attempts + 1, updated_at = now()
    WHERE ${FENCED}
    RETURNING *`,
);

export const getAttempts = statement<{ requestId: string }>(
  ['requestId'],
  `SELECT * FROM ${ATTEMPTS} WHERE request_id = $requestId::uuid ORDER BY attempt ASC`,
);
