import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Mapping of `video_requests` (schema owned by the migrations in ../migrations; never synchronised).
 * Services use the SQL in ../plans.ts and the camelCase `VideoRequestRow` of RequestTrackingService; this entity
 * documents the columns and lets TypeORM tooling see the table.
 */
@Entity({ name: 'video_requests', synchronize: false })
export class VideoRequest {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' }) id!: string;
  @Column({ name: 'user_id', type: 'text' }) userId!: string;
  @Column({ name: 'guild_id', type: 'text' }) guildId!: string;
  @Column({ name: 'channel_id', type: 'text' }) channelId!: string;
  @Column({ type: 'text' }) prompt!: string;
  @Column({ name: 'duration_seconds', type: 'integer', nullable: true }) durationSeconds!: number | null;
  @Column({ name: 'aspect_ratio', type: 'text' }) aspectRatio!: string;
  @Column({ type: 'text', nullable: true }) resolution!: string | null;
  @Column({ name: 'generate_audio', type: 'boolean', nullable: true, default: true }) generateAudio!: boolean | null;
  @Column({ type: 'text' }) status!: string;
  @Column({ name: 'operation_name', type: 'text', nullable: true }) operationName!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true }) completedAt!: Date | null;
  @Column({ name: 'duration_ms', type: 'integer', nullable: true }) durationMs!: number | null;
  @Column({ name: 'gcs_prefix', type: 'text', nullable: true }) gcsPrefix!: string | null;
  @Column({ name: 'video_urls', type: 'text', array: true, nullable: true }) videoUrls!: string[] | null;
  @Column({ name: 'error_message', type: 'text', nullable: true }) errorMessage!: string | null;
  @Column({ name: 'request_type', type: 'varchar', length: 20, default: 'veo' }) requestType!: string;

  @Column({ type: 'text', nullable: true }) model!: string | null;
  @Column({ name: 'negative_prompt', type: 'text', nullable: true }) negativePrompt!: string | null;
  @Column({ type: 'bigint', nullable: true }) seed!: string | null;
  @Column({ name: 'attachment_size_limit', type: 'bigint', nullable: true }) attachmentSizeLimit!: string | null;
  @Column({ name: 'application_id', type: 'text', nullable: true }) applicationId!: string | null;
  /** Secret: never log. */
  @Column({ name: 'interaction_token', type: 'text', nullable: true }) interactionToken!: string | null;
  @Column({ name: 'interaction_expires_at', type: 'timestamptz', nullable: true }) interactionExpiresAt!: Date | null;
  @Column({ name: 'interaction_id', type: 'text', nullable: true }) interactionId!: string | null;
  @Column({ name: 'processing_errors', type: 'integer', default: 0 }) processingErrors!: number;
  @Column({ name: 'lease_owner', type: 'text', nullable: true }) leaseOwner!: string | null;
  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true }) leaseExpiresAt!: Date | null;
  @Column({ type: 'bigint', default: 0 }) fence!: string;
  @Column({ type: 'text', nullable: true }) announcement!: string | null;
  @Column({ name: 'notified_at', type: 'timestamptz', nullable: true }) notifiedAt!: Date | null;
  @Column({ name: 'notification_message_id', type: 'text', nullable: true }) notificationMessageId!: string | null;
  @Column({ name: 'notification_error', type: 'text', nullable: true }) notificationError!: string | null;
  @Column({ name: 'notification_attempts', type: 'integer', default: 0 }) notificationAttempts!: number;
  @Column({ name: 'video_size_bytes', type: 'bigint', nullable: true }) videoSizeBytes!: string | null;
  @Column({ name: 'delivered_as', type: 'text', nullable: true }) deliveredAs!: string | null;
  @Column({ name: 'expired_by', type: 'text', nullable: true }) expiredBy!: string | null;
  @Column({ name: 'failure_kind', type: 'text', nullable: true }) failureKind!: string | null;
  @Column({ name: 'failure_reason', type: 'text', nullable: true }) failureReason!: string | null;
  @Column({ name: 'submit_attempts', type: 'integer', default: 0 }) submitAttempts!: number;
  @Column({ name: 'ambiguous_attempts', type: 'integer', default: 0 }) ambiguousAttempts!: number;
  @Column({ name: 'updated_at', type: 'timestamptz', nullable: true, default: () => 'now()' }) updatedAt!: Date | null;
  @Column({ name: 'image_uri', type: 'text', nullable: true }) imageUri!: string | null;
  @Column({ name: 'image_mime_type', type: 'text', nullable: true }) imageMimeType!: string | null;
  @Column({ name: 'last_frame_uri', type: 'text', nullable: true }) lastFrameUri!: string | null;
  @Column({ name: 'last_frame_mime_type', type: 'text', nullable: true }) lastFrameMimeType!: string | null;
  @Column({ name: 'source_video_uri', type: 'text', nullable: true }) sourceVideoUri!: string | null;
  @Column({ name: 'source_video_seconds', type: 'integer', nullable: true }) sourceVideoSeconds!: number | null;
  @Column({ name: 'parent_request_id', type: 'uuid', nullable: true }) parentRequestId!: string | null;
  @Column({ type: 'text', nullable: true }) origin!: string | null;
  @Column({ name: 'origin_seq', type: 'integer', nullable: true }) originSeq!: number | null;
  @Column({ name: 'reply_message_id', type: 'text', nullable: true }) replyMessageId!: string | null;
  /** Secret (Discord's signed CDN URL of the user's file): never log. */
  @Column({ name: 'image_source_url', type: 'text', nullable: true }) imageSourceUrl!: string | null;
  @Column({ name: 'image_source_name', type: 'text', nullable: true }) imageSourceName!: string | null;
  @Column({ name: 'image_source_type', type: 'text', nullable: true }) imageSourceType!: string | null;
  /** Secret, as image_source_url. */
  @Column({ name: 'last_frame_source_url', type: 'text', nullable: true }) lastFrameSourceUrl!: string | null;
  @Column({ name: 'last_frame_source_name', type: 'text', nullable: true }) lastFrameSourceName!: string | null;
  @Column({ name: 'last_frame_source_type', type: 'text', nullable: true }) lastFrameSourceType!: string | null;
}
