/**
 * The video request: its row, its states and the values that travel with it (docs/architecture.md, "The request row
 * and its states"). Plain types only; the database mapping lives in src/db.
 */

export type RequestStatus = 'pending' | 'generating' | 'completed' | 'failed' | 'timeout';
export type AspectRatio = '16:9' | '9:16' | '1:1' | '4:3' | '3:4';
export type Resolution = '720p' | '1080p';
export type AnnouncementState = 'due' | 'sent' | 'gave_up';
/**
 * Why a request failed. Only user-caused kinds count against the quota (see policy.QUOTA_COUNTED_FAILURE_KINDS).
 * `input`: an input image turned out unusable (not an image Veo takes, or no longer on Discord) before any submit.
 */
export type FailureKind = 'filtered' | 'google' | 'bot' | 'expired' | 'admin' | 'invalid' | 'cancelled' | 'input';
export type DeliveredAs = 'attachment' | 'link';
/** `returned`: a permit given back unused (recorded, but this process knows it never called Veo). */
export type AttemptState = 'submitting' | 'accepted' | 'rejected' | 'abandoned' | 'returned';
/**
 * What ended a request without a video, as a code (policy.classify): users are told in plain words chosen by it, while
 * `errorMessage` keeps the detail (Google's own text included) for logs and admins.
 */
export type FailureReason =
  | 'submit_attempts_exhausted'
  | 'unsupported_ratio'
  | 'unusable_row'
  | 'veo_refused'
  | 'veo_busy'
  | 'model_unavailable'
  | 'veo_failed'
  | 'filtered'
  | 'operation_gone'
  | 'deadline'
  | 'no_operation'
  | 'no_video'
  | 'processing_errors'
  | 'expired'
  | 'admin'
  | 'cancelled'
  | 'image_refused'
  | 'image_gone';

/** How a request came from an earlier one: a button on its result (or the Edit prompt modal). */
export type RequestOrigin = 'reroll' | 'extend' | 'edit' | 'retry';
/** The image types Veo takes as a first or last frame (checked by their bytes, not their declared type). */
export type ImageMimeType = 'image/png' | 'image/jpeg' | 'image/webp';

/** An input image copied into the bucket: where it is, and what it is. */
export interface StoredImage {
  /** gs://bucket/object */
  uri: string;
  mimeType: ImageMimeType;
}

/**
 * An input image recorded before it was fetched (`/video image:` writes the row before acknowledging, within Discord's
 * 3 seconds): where Discord serves it and what Discord declared. The worker fetches, checks and stores it before any
 * submit (ImageIntake), then clears it.
 */
export interface ImageSource {
  /** Discord's signed CDN URL of the attachment, valid about a day. Secret (it opens the user's file): never log it. */
  url: string;
  filename: string;
  /** the type Discord declared (the bytes decide) */
  contentType: string | null;
}

/** Statuses a worker drives (R1): submitted or polled until they end. */
export const UNFINISHED_STATUSES = ['pending', 'generating'] as const satisfies readonly RequestStatus[];
export const FINAL_STATUSES = ['completed', 'failed', 'timeout'] as const satisfies readonly RequestStatus[];
/** Every status this version knows; rows with any other are never touched (reported at start). */
export const KNOWN_STATUSES: readonly RequestStatus[] = [...UNFINISHED_STATUSES, ...FINAL_STATUSES];

export function isUnfinished(status: RequestStatus): status is 'pending' | 'generating' {
  return status === 'pending' || status === 'generating';
}

export function isFinal(status: RequestStatus): status is 'completed' | 'failed' | 'timeout' {
  return status === 'completed' || status === 'failed' || status === 'timeout';
}

/** One `video_requests` row, camelCase. bigint columns are numbers (all fit in a double). */
export interface VideoRequestRow {
  id: string;
  userId: string;
  guildId: string;
  channelId: string;
  prompt: string;
  durationSeconds: number | null;
  aspectRatio: AspectRatio;
  resolution: Resolution | null;
  generateAudio: boolean | null;
  status: RequestStatus;
  operationName: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  gcsPrefix: string | null;
  videoUrls: string[] | null;
  errorMessage: string | null;
  requestType: string;
  model: string | null;
  negativePrompt: string | null;
  seed: number | null;
  attachmentSizeLimit: number | null;
  applicationId: string | null;
  /** Secret: never log it. */
  interactionToken: string | null;
  interactionExpiresAt: Date | null;
  /** The Discord interaction that made this request (unique), null for rows made otherwise. */
  interactionId: string | null;
  /** unexpected errors while driving it; at policy.MAX_PROCESSING_ERRORS it fails with the reason */
  processingErrors: number;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  fence: number;
  announcement: AnnouncementState | null;
  notifiedAt: Date | null;
  notificationMessageId: string | null;
  notificationError: string | null;
  notificationAttempts: number;
  videoSizeBytes: number | null;
  deliveredAs: DeliveredAs | null;
  expiredBy: string | null;
  failureKind: FailureKind | null;
  /** null on rows finished before it was recorded, and on completed rows */
  failureReason: FailureReason | null;
  submitAttempts: number;
  ambiguousAttempts: number;
  updatedAt: Date | null;
  /**
   * The first frame (gs://), copied into the bucket before any submit; null for text-to-video, and while the image is
   * still to be fetched (imageSourceUrl).
   */
  imageUri: string | null;
  imageMimeType: ImageMimeType | null;
  /** The last frame (gs://); only with a first frame. */
  lastFrameUri: string | null;
  lastFrameMimeType: ImageMimeType | null;
  /** The first frame still to be fetched from Discord (ImageSource); null once stored, and for rows made otherwise. */
  imageSourceUrl: string | null;
  imageSourceName: string | null;
  imageSourceType: string | null;
  /** The last frame still to be fetched from Discord. */
  lastFrameSourceUrl: string | null;
  lastFrameSourceName: string | null;
  lastFrameSourceType: string | null;
  /** Video extension: the earlier Veo output (gs://) this request continues, and how long that video is. */
  sourceVideoUri: string | null;
  sourceVideoSeconds: number | null;
  /** The request whose result button made this one, how, and which press of that button (origin_seq). */
  parentRequestId: string | null;
  origin: RequestOrigin | null;
  originSeq: number | null;
  /** The message the requester watches (the interaction reply), once known: /history links to it before a result. */
  replyMessageId: string | null;
}

/** A held claim on a row. Every write made under it is refused once someone else claimed the row (fence moved). */
export interface Lease {
  requestId: string;
  fence: number;
  owner: string;
}

/** A row together with the lease its worker holds on it. */
export interface LeasedRequest {
  row: VideoRequestRow;
  lease: Lease;
}

export interface Claim extends LeasedRequest {
  /** The previous lease had an owner and ran out (that instance presumably died). */
  takeover: boolean;
  previousOwner: string | null;
}

/** One paid submit to Veo (the write-ahead log of R3), recorded before the call. */
export interface SubmitAttemptRow {
  /** bigserial, as a number */
  id: number;
  requestId: string;
  attempt: number;
  outputPrefix: string;
  state: AttemptState;
  operationName: string | null;
  error: string | null;
  createdAt: Date;
  acceptedAt: Date | null;
  /** when Veo's answer (acceptance or refusal) arrived; null while `submitting` */
  answeredAt: Date | null;
  /** Veo answered 429 (quota exhausted): no submit before this time (a refusal: nothing billed) */
  throttledUntil: Date | null;
}

export interface CreateRequestInput {
  /** Optional: a caller-chosen id (default: generated by the database). */
  id?: string;
  userId: string;
  guildId: string;
  channelId: string;
  prompt: string;
  /** 4, 6 or 8; 7 for a video extension */
  durationSeconds?: number | null;
  aspectRatio: AspectRatio;
  resolution?: Resolution | null;
  /** default true, as in the original bot */
  generateAudio?: boolean | null;
  /** default 'veo' */
  requestType?: string;
  model?: string | null;
  negativePrompt?: string | null;
  seed?: number | null;
  attachmentSizeLimit?: number | null;
  applicationId?: string | null;
  interactionToken?: string | null;
  interactionExpiresAt?: Date | null;
  /** Idempotency key: a second request with the same interaction id is refused with DuplicateInteractionError. */
  interactionId?: string | null;
  imageUri?: string | null;
  imageMimeType?: ImageMimeType | null;
  lastFrameUri?: string | null;
  lastFrameMimeType?: ImageMimeType | null;
  /** Images still to be fetched (instead of imageUri/lastFrameUri): the worker stores them before any submit. */
  imageSource?: ImageSource | null;
  lastFrameSource?: ImageSource | null;
  sourceVideoUri?: string | null;
  sourceVideoSeconds?: number | null;
  /**
   * With `origin` and `originSeq`: a second request for the same parent, origin and press (a double click, or the
   * same button pressed on two instances) is refused with DuplicateInteractionError.
   */
  parentRequestId?: string | null;
  origin?: RequestOrigin | null;
  originSeq?: number | null;
}

export interface CompletionInput {
  videoUrls: string[];
  /** null/undefined keeps the stored prefix */
  gcsPrefix?: string | null;
  videoSizeBytes?: number | null;
}

export interface ExpireFilter {
  guildId: string;
  /** only rows created at least this many hours ago (default 0: any age) */
  olderThanHours?: number;
  /** also expire `generating` rows (their paid operation may still finish) */
  includeGenerating?: boolean;
  /** only this request */
  requestId?: string;
}

export interface GuildSummary {
  pending: number;
  generating: number;
  awaitingAnnouncement: number;
  failed24h: number;
  timeout24h: number;
  /** sum of duration_seconds of pending + generating rows (rows without a duration count 0) */
  videoSecondsAtRisk: number;
  /** created_at of the oldest pending/generating row */
  oldestUnfinishedAt: Date | null;
}

export interface UnfinishedRow extends VideoRequestRow {
  /** a lease owner is set and its lease has not run out */
  leaseLive: boolean;
  attemptCount: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Request ids are UUIDs; anything else can name no request (and is never sent to the database as one). */
export function isRequestId(value: string): boolean {
  return UUID.test(value);
}

/** The input images of a request still to be fetched from Discord, by option (the first frame first). */
export function pendingImages(
  row: Pick<
    VideoRequestRow,
    | 'imageSourceUrl'
    | 'imageSourceName'
    | 'imageSourceType'
    | 'lastFrameSourceUrl'
    | 'lastFrameSourceName'
    | 'lastFrameSourceType'
  >,
): { option: 'image' | 'last_frame'; source: ImageSource }[] {
  const out: { option: 'image' | 'last_frame'; source: ImageSource }[] = [];
  if (row.imageSourceUrl) {
    out.push({
      option: 'image',
      source: { url: row.imageSourceUrl, filename: row.imageSourceName ?? 'image', contentType: row.imageSourceType },
    });
  }
  if (row.lastFrameSourceUrl) {
    out.push({
      option: 'last_frame',
      source: {
        url: row.lastFrameSourceUrl,
        filename: row.lastFrameSourceName ?? 'last_frame',
        contentType: row.lastFrameSourceType,
      },
    });
  }
  return out;
}

/** The fields of a request worth putting on a log line (never the prompt or the interaction token). */
export function requestLogFields(row: VideoRequestRow): Record<string, unknown> {
  return {
    request_id: row.id,
    guild_id: row.guildId,
    channel_id: row.channelId,
    status: row.status,
    fence: row.fence,
    operation_name: row.operationName ?? undefined,
  };
}
