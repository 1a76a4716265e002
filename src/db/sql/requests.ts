/** Requests: creation, reads, the terminal transitions, expiry and the quota. Shared pieces in ./tables. */
import type { CreateRequestInput } from '../../domain/request';
import { FENCE_NAMES, statement, type FenceValues } from './statement';
import { ATTEMPTS, countsAgainstQuota, DURATION_MS, FENCED, HOURS, leaseFree, MS, REQUESTS } from './tables';

/**
 * Insert a new request, `pending` and already leased by its creator (fence 1). Nothing when its interaction is known,
 * or when its parent, origin and press already made a request (both unique keys: ON CONFLICT without a target).
 */
/** The values of a new row: the request as created (every field bound, null when not given), and its first lease. */
export type InsertRequestValues = {
  [K in Exclude<keyof CreateRequestInput, 'id' | ImageSourceField>]-?: NonNullable<CreateRequestInput[K]> | null;
} & { id: string | null; owner: string; leaseMs: number } & SourceColumns;

type ImageSourceField = 'imageSource' | 'lastFrameSource';
/** The images still to be fetched, one column per field (the URL is secret: never logged). */
export interface SourceColumns {
  imageSourceUrl: string | null;
  imageSourceName: string | null;
  imageSourceType: string | null;
  lastFrameSourceUrl: string | null;
  lastFrameSourceName: string | null;
  lastFrameSourceType: string | null;
}

export const insertRequest = statement<InsertRequestValues>(
  [
    'id',
    'userId',
    'guildId',
    'channelId',
    'prompt',
    'durationSeconds',
    'aspectRatio',
    'resolution',
    'generateAudio',
    'requestType',
    'model',
    'negativePrompt',
    'seed',
    'attachmentSizeLimit',
    'applicationId',
    'interactionToken',
    'interactionExpiresAt',
    'owner',
    'leaseMs',
    'interactionId',
    'imageUri',
    'imageMimeType',
    'lastFrameUri',
    'lastFrameMimeType',
    'sourceVideoUri',
    'sourceVideoSeconds',
    'parentRequestId',
    'origin',
    'originSeq',
    'imageSourceUrl',
    'imageSourceName',
    'imageSourceType',
    'lastFrameSourceUrl',
    'lastFrameSourceName',
    'lastFrameSourceType',
  ],
  `INSERT INTO ${REQUESTS} (
      id, user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, generate_audio,
      request_type, model, negative_prompt, seed, attachment_size_limit, application_id, interaction_token,
      interaction_expires_at, status, lease_owner, lease_expires_at, fence, updated_at, interaction_id,
      image_uri, image_mime_type, last_frame_uri, last_frame_mime_type, source_video_uri, source_video_seconds,
      parent_request_id, origin, origin_seq,
      image_source_url, image_source_name, image_source_type,
      last_frame_source_url, last_frame_source_name, last_frame_source_type)
    VALUES (COALESCE($id::uuid, gen_random_uuid()), $userId, $guildId, $channelId, $prompt, $durationSeconds,
      $aspectRatio, $resolution, $generateAudio,
      $requestType, $model, $negativePrompt, $seed, $attachmentSizeLimit, $applicationId, $interactionToken,
      $interactionExpiresAt, 'pending', $owner, now() + $leaseMs::bigint ${MS}, 1, now(), $interactionId,
      $imageUri, $imageMimeType, $lastFrameUri, $lastFrameMimeType, $sourceVideoUri, $sourceVideoSeconds,
      $parentRequestId::uuid, $origin, $originSeq,
      $imageSourceUrl, $imageSourceName, $imageSourceType,
      $lastFrameSourceUrl, $lastFrameSourceName, $lastFrameSourceType)
    ON CONFLICT DO NOTHING
    RETURNING *`,
);

export const getById = statement<{ id: string }>(['id'], `SELECT * FROM ${REQUESTS} WHERE id = $id::uuid`);

export const getByInteractionId = statement<{ interactionId: string }>(
  ['interactionId'],
  `SELECT * FROM ${REQUESTS} WHERE interaction_id = $interactionId`,
);

/** The request a press of a result button already made (parent, button, press). */
export const getByOrigin = statement<{ parentRequestId: string; origin: string; originSeq: number }>(
  ['parentRequestId', 'origin', 'originSeq'],
  `SELECT * FROM ${REQUESTS}
    WHERE parent_request_id = $parentRequestId::uuid AND origin = $origin AND origin_seq = $originSeq`,
);

/**
 * The input images of `/video image:`, fetched and checked by the worker before any submit, are in the bucket: their
 * `gs://` locations are stored and Discord's URLs cleared, in one fenced UPDATE, only while nothing was submitted (a
 * request never reaches Veo without its images; a Cancel or an admin expiry in the meantime wins).
 */
export const storeInputImages = statement<
  FenceValues & {
    imageUri: string | null;
    imageMimeType: string | null;
    lastFrameUri: string | null;
    lastFrameMimeType: string | null;
  }
>(
  [...FENCE_NAMES, 'imageUri', 'imageMimeType', 'lastFrameUri', 'lastFrameMimeType'],
  `UPDATE ${REQUESTS}
    SET image_uri = COALESCE($imageUri, image_uri), image_mime_type = COALESCE($imageMimeType, image_mime_type),
      last_frame_uri = COALESCE($lastFrameUri, last_frame_uri),
      last_frame_mime_type = COALESCE($lastFrameMimeType, last_frame_mime_type),
      image_source_url = NULL, image_source_name = NULL, image_source_type = NULL,
      last_frame_source_url = NULL, last_frame_source_name = NULL, last_frame_source_type = NULL,
      updated_at = now()
    WHERE ${FENCED} AND status = 'pending' AND submit_attempts = 0
    RETURNING *`,
);

/**
 * The message the requester watches, recorded once known (unfenced, first value kept: a fact about the request, not a
 * state change; whoever holds the lease may be busy submitting).
 */
export const setReplyMessage = statement<{ id: string; messageId: string }>(
  ['id', 'messageId'],
  `UPDATE ${REQUESTS} SET reply_message_id = COALESCE(reply_message_id, $messageId)
    WHERE id = $id::uuid
    RETURNING id`,
);

/**
 * The requester's Cancel: pending → failed ('cancelled'), only while no submit attempt was recorded (`submit_attempts`
 * is raised by the same UPDATE that records an attempt, insertSubmitAttempt, so whichever of the two commits first
 * wins: a concurrent one re-reads this row and finds the condition false). The fence is bumped (a worker's later
 * writes are refused) and the lease taken by the canceller, which tells the requester; the announcement is due in the
 * same UPDATE, so a canceller that dies before telling leaves it to the sweep. Scoped to the requester and the guild.
 */
export const cancelRequest = statement<{
  id: string;
  userId: string;
  guildId: string;
  message: string;
  owner: string;
  leaseMs: number;
}>(
  ['id', 'userId', 'guildId', 'message', 'owner', 'leaseMs'],
  `UPDATE ${REQUESTS}
    SET status = 'failed', error_message = $message, failure_kind = 'cancelled', failure_reason = 'cancelled',
      completed_at = now(), duration_ms = ${DURATION_MS}, announcement = 'due',
      fence = fence + 1, lease_owner = $owner, lease_expires_at = now() + $leaseMs::bigint ${MS}, updated_at = now()
    WHERE id = $id::uuid AND user_id = $userId AND guild_id = $guildId
      AND status = 'pending' AND submit_attempts = 0
    RETURNING *`,
);

/** R1: pending and generating requests created within the last `maxAgeHours`, oldest first. */
export const getIncompleteRequests = statement<{ maxAgeHours: number }>(
  ['maxAgeHours'],
  `SELECT * FROM ${REQUESTS}
    WHERE status IN ('pending', 'generating')
      AND created_at >= now() - $maxAgeHours::double precision ${HOURS}
    ORDER BY created_at ASC`,
);

/**
 * Counts of pending and generating requests (any age; optionally one guild), for the log line that opens a sweep:
 * a count, not the rows, since sweeps run every SWEEP_INTERVAL_MS.
 */
export const countIncompleteRequests = statement<{ guildId: string | null }>(
  ['guildId'],
  `SELECT
      count(*) FILTER (WHERE status = 'pending')::integer AS pending,
      count(*) FILTER (WHERE status = 'generating')::integer AS generating
    FROM ${REQUESTS}
    WHERE status IN ('pending', 'generating') AND ($guildId::text IS NULL OR guild_id = $guildId::text)`,
);

/** Statuses this version does not know (a hand-edited database, or a newer bot's rows), with their counts. */
export const countUnknownStatuses = statement<Record<string, never>>(
  [],
  `SELECT status, count(*)::integer AS count FROM ${REQUESTS}
    WHERE status NOT IN ('pending', 'generating', 'completed', 'failed', 'timeout')
    GROUP BY status ORDER BY status`,
);

/** Current status, fence and owner of a row (diagnostics of a refused write). */
export const getFenceState = statement<{ id: string }>(
  ['id'],
  `SELECT id, status, fence, lease_owner, lease_expires_at, announcement FROM ${REQUESTS} WHERE id = $id::uuid`,
);

/**
 * An unexpected error while driving a request (fenced): counted, lease released. At `limit` errors an unfinished
 * request fails with `message` (failure_kind 'bot', announcement due) and a finished one stops trying to announce
 * (gave_up).
 */
export const processingError = (() => {
  const giveUp = `processing_errors + 1 >= $limit`;
  const unfinished = `status IN ('pending', 'generating')`;
  return statement<FenceValues & { message: string; limit: number }>(
    [...FENCE_NAMES, 'message', 'limit'],
    `UPDATE ${REQUESTS}
    SET processing_errors = processing_errors + 1,
      status = CASE WHEN ${giveUp} AND ${unfinished} THEN 'failed' ELSE status END,
      error_message = CASE WHEN ${giveUp} AND ${unfinished} THEN $message ELSE error_message END,
      failure_kind = CASE WHEN ${giveUp} AND ${unfinished} THEN 'bot' ELSE failure_kind END,
      failure_reason = CASE WHEN ${giveUp} AND ${unfinished} THEN 'processing_errors' ELSE failure_reason END,
      completed_at = CASE WHEN ${giveUp} AND ${unfinished} THEN now() ELSE completed_at END,
      announcement = CASE
        WHEN NOT (${giveUp}) THEN announcement
        WHEN ${unfinished} THEN 'due'
        WHEN announcement = 'due' THEN 'gave_up'
        ELSE announcement END,
      notification_error = CASE WHEN ${giveUp} AND NOT ${unfinished} AND announcement = 'due' THEN $message ELSE notification_error END,
      lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE ${FENCED}
    RETURNING *`,
  );
})();

/**
 * → completed from the `from` statuses (generating, or pending when an ambiguous attempt's output showed up; timeout
 * for a late completion), announcement due in the same UPDATE.
 */
export const markCompleted = statement<
  FenceValues & { videoUrls: string[]; gcsPrefix: string | null; videoSizeBytes: number | null; from: string[] }
>(
  [...FENCE_NAMES, 'videoUrls', 'gcsPrefix', 'videoSizeBytes', 'from'],
  `UPDATE ${REQUESTS}
    SET status = 'completed', video_urls = $videoUrls::text[], gcs_prefix = COALESCE($gcsPrefix, gcs_prefix),
      video_size_bytes = $videoSizeBytes::bigint, error_message = NULL, failure_kind = NULL, failure_reason = NULL,
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', notification_error = NULL, updated_at = now()
    WHERE ${FENCED} AND status = ANY($from::text[])
    RETURNING *`,
);

/** → failed or timeout from the `from` statuses, with the message and why, announcement due. */
export const markFinishedUnsuccessfully = statement<
  FenceValues & {
    status: 'failed' | 'timeout';
    message: string;
    failureKind: string;
    from: string[];
    reason: string | null;
  }
>(
  [...FENCE_NAMES, 'status', 'message', 'failureKind', 'from', 'reason'],
  `UPDATE ${REQUESTS}
    SET status = $status, error_message = $message, failure_kind = $failureKind, failure_reason = $reason,
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', updated_at = now()
    WHERE ${FENCED} AND status = ANY($from::text[])
    RETURNING *`,
);

/**
 * Stale pending rows → timeout ('expired'), announcement due, lease cleared and fence bumped (a former owner's later
 * writes are refused). Skips leased rows and rows with a `submitting` attempt (an ambiguous paid submit: the resume
 * reconciles it first). `guildId` null = all guilds.
 */
export const expireStalePending = statement<{ maxAgeHours: number; message: string; guildId: string | null }>(
  ['maxAgeHours', 'message', 'guildId'],
  `UPDATE ${REQUESTS} r
    SET status = 'timeout', error_message = $message, failure_kind = 'expired', failure_reason = 'expired',
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', fence = r.fence + 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE r.status = 'pending'
      AND r.created_at < now() - $maxAgeHours::double precision ${HOURS}
      AND ${leaseFree('r')}
      AND NOT EXISTS (SELECT 1 FROM ${ATTEMPTS} a WHERE a.request_id = r.id AND a.state = 'submitting')
      AND ($guildId::text IS NULL OR r.guild_id = $guildId::text)
    RETURNING r.*`,
);

/** The filters of the admin expiry (shared by expire and count). */
export interface ExpirableValues {
  guildId: string;
  olderThanHours: number;
  includeGenerating: boolean;
  requestId: string | null;
}
const EXPIRABLE_NAMES = ['guildId', 'olderThanHours', 'includeGenerating', 'requestId'] as const;
const EXPIRABLE = `guild_id = $guildId
      AND (status = 'pending' OR ($includeGenerating::boolean AND status = 'generating'))
      AND created_at <= now() - $olderThanHours::double precision ${HOURS}
      AND ($requestId::text IS NULL OR id::text = $requestId::text)`;

/**
 * Admin expiry → timeout ('admin'), `expired_by`, announcement due, fence bumped and lease cleared so a live worker's
 * later writes are refused. Idempotent: a finished row no longer matches.
 */
export const expireRequests = statement<ExpirableValues & { adminId: string; message: string }>(
  [...EXPIRABLE_NAMES, 'adminId', 'message'],
  `UPDATE ${REQUESTS}
    SET status = 'timeout', error_message = $message, expired_by = $adminId, failure_kind = 'admin',
      failure_reason = 'admin',
      completed_at = now(), duration_ms = ${DURATION_MS},
      announcement = 'due', fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE ${EXPIRABLE}
    RETURNING *`,
);

/** How many rows expireRequests would change with the same filters. */
export const countExpirable = statement<ExpirableValues>(
  EXPIRABLE_NAMES,
  `SELECT count(*)::integer AS count FROM ${REQUESTS} WHERE ${EXPIRABLE}`,
);

/** Requests that count against the user's quota since `since` (policy.countsAgainstQuota). */
export const countQuotaUsage = statement<{ userId: string; since: Date; requestType: string }>(
  ['userId', 'since', 'requestType'],
  `SELECT count(*)::integer AS count
    FROM ${REQUESTS} r
    WHERE r.user_id = $userId AND r.request_type = $requestType AND r.created_at >= $since::timestamptz
      AND ${countsAgainstQuota('r')}`,
);

/** Serialises quota checks of one user until the end of the transaction. */
export const lockUserQuota = statement<{ userId: string }>(
  ['userId'],
  `SELECT pg_advisory_xact_lock(hashtext('veobot:quota:' || $userId::text))`,
);
