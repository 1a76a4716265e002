import type { Logger } from 'pino';
import type { AnnouncementRepository } from '../db/repositories';
import { DeliveryError, FencedWriteError } from '../domain/errors';
import { outcomeOf, type GenerationOutcome } from '../domain/outcomes';
import { giveUpAnnouncement } from '../domain/policy';
import { MESSAGE_REQUEST_MAX_BYTES } from '../domain/policy';
import type { Notifier, Thumbnail, VideoDelivery } from '../domain/ports';
import type { Lease, VideoRequestRow } from '../domain/request';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import type { ImageInputService } from './ImageInputService';
import type { LeaseManager } from './LeaseManager';
import type { VideoAttachmentService } from './VideoAttachmentService';

export interface AnnouncementServiceDeps {
  announcements: AnnouncementRepository;
  notifier: Notifier;
  attachments: VideoAttachmentService;
  leases: LeaseManager;
  metrics: Metrics;
  crashPoints: CrashPoints;
  /** the first frame shown as the result's thumbnail (absent: no thumbnails) */
  images?: ImageInputService;
}

/**
 * Tells a requester how their finished request ended, exactly once (R6): the attempt is counted on the row before the
 * message is sent (so after a crash the notifier looks for its earlier message first), the message id is recorded,
 * and a failure is either retried by a later sweep or, when permanent or repeated, given up with the reason.
 */
export class AnnouncementService {
  public constructor(private readonly deps: AnnouncementServiceDeps) {}

  public async announce(
    row: VideoRequestRow,
    lease: Lease,
    context: { resumed: boolean },
    log: Logger,
  ): Promise<GenerationOutcome> {
    const { announcements, notifier, crashPoints } = this.deps;
    const attemptsBefore = row.notificationAttempts;
    await announcements.recordAnnouncementAttempt(lease);
    let video: VideoDelivery | undefined;
    try {
      video = await this.prepareVideo(row);
      const result = await notifier.announce(row, context, video, await this.thumbnail(row, video));
      crashPoints.reach('after-message-sent');
      await announcements.recordAnnouncementSent(lease, result.messageId, result.deliveredAs ?? null);
      log.info(
        { path: result.path, delivered_as: result.deliveredAs, deduplicated: result.deduplicated, status: row.status },
        'requester told',
      );
      return outcomeOf(row);
    } catch (error) {
      if (error instanceof FencedWriteError) throw error;
      const permanent = error instanceof DeliveryError ? error.permanent : false;
      const message = error instanceof Error ? error.message : String(error);
      const giveUp = giveUpAnnouncement(permanent, attemptsBefore);
      log.warn({ err: error, give_up: giveUp }, 'could not tell the requester');
      await announcements.recordAnnouncementFailure(lease, message, giveUp);
      if (!giveUp) await this.deps.leases.release(lease);
      return 'announce_failed';
    } finally {
      if (video?.video.kind === 'attachment') await video.video.release().catch(() => undefined);
    }
  }

  /** The first frame as a thumbnail, when the message can carry it beside the video (MESSAGE_REQUEST_MAX_BYTES). */
  private async thumbnail(row: VideoRequestRow, video: VideoDelivery | undefined): Promise<Thumbnail | undefined> {
    const thumbnail = await this.deps.images?.thumbnailFor(row);
    if (!thumbnail) return undefined;
    const attached = video?.video.kind === 'attachment' ? video.video.size : 0;
    // A megabyte of room for the JSON payload and multipart framing.
    return attached + thumbnail.data.length <= MESSAGE_REQUEST_MAX_BYTES - 1024 * 1024 ? thumbnail : undefined;
  }

  /** A completed request's video, attached when it fits the interaction's upload limit, else as a link. */
  private async prepareVideo(row: VideoRequestRow): Promise<VideoDelivery | undefined> {
    const gsUri = row.status === 'completed' ? row.videoUrls?.[0] : undefined;
    if (!gsUri) return undefined;
    const { attachments, metrics } = this.deps;
    const video = await attachments.prepare(gsUri, row.attachmentSizeLimit, row.videoSizeBytes);
    if (video.kind === 'link') metrics.uploadFallbacks.inc({ reason: video.reason });
    return {
      video,
      asLink: async (reason) => {
        metrics.uploadFallbacks.inc({ reason });
        return { kind: 'link', url: await attachments.linkFor(gsUri), size: video.size, gsUri, reason };
      },
    };
  }
}
