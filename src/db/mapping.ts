/**
 * Database rows (snake_case, as pg returns them) → the domain's camelCase rows. One table per row type names every
 * column once; TypeScript refuses a row type field without its column here.
 */
import type { SubmitAttemptRow, VideoRequestRow } from '../domain/request';
import type { GuildSettingsRow } from '../domain/spend';

export type Raw = Record<string, unknown>;

/** How a column's value becomes a field's: bigint and numeric strings become numbers (all fit in a double). */
type Kind = 'value' | 'number' | 'numberOrNull' | 'date' | 'dateOrNull';

function convert(kind: Kind, v: unknown): unknown {
  switch (kind) {
    case 'value':
      return v ?? null;
    case 'number':
      return v === null || v === undefined ? 0 : Number(v);
    case 'numberOrNull':
      return v === null || v === undefined ? null : Number(v);
    case 'date':
    case 'dateOrNull':
      if (v === null || v === undefined) return null;
      return v instanceof Date ? v : new Date(String(v));
  }
}

function mapper<Row>(columns: { [K in keyof Row]-?: [column: string, kind: Kind] }): (raw: Raw) => Row {
  const entries = Object.entries(columns) as [string, [string, Kind]][];
  return (raw) => {
    const row: Record<string, unknown> = {};
    for (const [field, [column, kind]] of entries) row[field] = convert(kind, raw[column]);
    return row as Row;
  };
}

/** snake_case `video_requests` row → VideoRequestRow */
export const toRequestRow = mapper<VideoRequestRow>({
  id: ['id', 'value'],
  userId: ['user_id', 'value'],
  guildId: ['guild_id', 'value'],
  channelId: ['channel_id', 'value'],
  prompt: ['prompt', 'value'],
  durationSeconds: ['duration_seconds', 'numberOrNull'],
  aspectRatio: ['aspect_ratio', 'value'],
  resolution: ['resolution', 'value'],
  generateAudio: ['generate_audio', 'value'],
  status: ['status', 'value'],
  operationName: ['operation_name', 'value'],
  createdAt: ['created_at', 'date'],
  startedAt: ['started_at', 'dateOrNull'],
  completedAt: ['completed_at', 'dateOrNull'],
  durationMs: ['duration_ms', 'numberOrNull'],
  gcsPrefix: ['gcs_prefix', 'value'],
  videoUrls: ['video_urls', 'value'],
  errorMessage: ['error_message', 'value'],
  requestType: ['request_type', 'value'],
  model: ['model', 'value'],
  negativePrompt: ['negative_prompt', 'value'],
  seed: ['seed', 'numberOrNull'],
  attachmentSizeLimit: ['attachment_size_limit', 'numberOrNull'],
  applicationId: ['application_id', 'value'],
  interactionToken: ['interaction_token', 'value'],
  interactionExpiresAt: ['interaction_expires_at', 'dateOrNull'],
  interactionId: ['interaction_id', 'value'],
  processingErrors: ['processing_errors', 'number'],
  leaseOwner: ['lease_owner', 'value'],
  leaseExpiresAt: ['lease_expires_at', 'dateOrNull'],
  fence: ['fence', 'number'],
  announcement: ['announcement', 'value'],
  notifiedAt: ['notified_at', 'dateOrNull'],
  notificationMessageId: ['notification_message_id', 'value'],
  notificationError: ['notification_error', 'value'],
  notificationAttempts: ['notification_attempts', 'number'],
  videoSizeBytes: ['video_size_bytes', 'numberOrNull'],
  deliveredAs: ['delivered_as', 'value'],
  expiredBy: ['expired_by', 'value'],
  failureKind: ['failure_kind', 'value'],
  failureReason: ['failure_reason', 'value'],
  submitAttempts: ['submit_attempts', 'number'],
  ambiguousAttempts: ['ambiguous_attempts', 'number'],
  updatedAt: ['updated_at', 'dateOrNull'],
  imageUri: ['image_uri', 'value'],
  imageMimeType: ['image_mime_type', 'value'],
  lastFrameUri: ['last_frame_uri', 'value'],
  lastFrameMimeType: ['last_frame_mime_type', 'value'],
  sourceVideoUri: ['source_video_uri', 'value'],
  sourceVideoSeconds: ['source_video_seconds', 'numberOrNull'],
  parentRequestId: ['parent_request_id', 'value'],
  origin: ['origin', 'value'],
  originSeq: ['origin_seq', 'numberOrNull'],
  replyMessageId: ['reply_message_id', 'value'],
  imageSourceUrl: ['image_source_url', 'value'],
  imageSourceName: ['image_source_name', 'value'],
  imageSourceType: ['image_source_type', 'value'],
  lastFrameSourceUrl: ['last_frame_source_url', 'value'],
  lastFrameSourceName: ['last_frame_source_name', 'value'],
  lastFrameSourceType: ['last_frame_source_type', 'value'],
});

/** snake_case `video_request_attempts` row → SubmitAttemptRow */
export const toAttemptRow = mapper<SubmitAttemptRow>({
  id: ['id', 'number'],
  requestId: ['request_id', 'value'],
  attempt: ['attempt', 'number'],
  outputPrefix: ['output_prefix', 'value'],
  state: ['state', 'value'],
  operationName: ['operation_name', 'value'],
  error: ['error', 'value'],
  createdAt: ['created_at', 'date'],
  acceptedAt: ['accepted_at', 'dateOrNull'],
  answeredAt: ['answered_at', 'dateOrNull'],
  throttledUntil: ['throttled_until', 'dateOrNull'],
});

/** snake_case `guild_settings` row → GuildSettingsRow */
export const toGuildSettingsRow = mapper<GuildSettingsRow>({
  guildId: ['guild_id', 'value'],
  allowedChannelIds: ['allowed_channel_ids', 'value'],
  memberDailyQuota: ['member_daily_quota', 'numberOrNull'],
  dailyVideoSeconds: ['daily_video_seconds', 'numberOrNull'],
  allowHd: ['allow_hd', 'value'],
  allowAudio: ['allow_audio', 'value'],
  maxLengthSeconds: ['max_length_seconds', 'numberOrNull'],
  updatedAt: ['updated_at', 'dateOrNull'],
  updatedBy: ['updated_by', 'value'],
});

export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}
