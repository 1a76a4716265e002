/**
 * What the services need from the outside world without knowing it: the progress embed a requester watches and the
 * Discord messages that tell them the result. src/discord implements these; src/app wires them in.
 */
import type { DeliveredAs, VideoRequestRow } from './request';
import type { QueueInfo } from './spend';

export type Phase = 'queued' | 'submitting' | 'generating' | 'downloading' | 'delivering';

/** Watches one request being driven (the live `/video` progress embed). */
export interface ProgressObserver {
  /** `queue`: with `queued`, where the request stands in the submit queue and about how long it will wait */
  onPhase?(phase: Phase, row: VideoRequestRow, queue?: QueueInfo): void | Promise<void>;
  /** The first frame, once the worker fetched it (`/video image:` records the request before fetching its images). */
  onThumbnail?(thumbnail: Thumbnail): void | Promise<void>;
  /**
   * This worker stopped driving the request, for whatever reason (finished, lost lease, error): show no more progress.
   * `taken`: the row as someone else left it when this worker lost it (e.g. its requester cancelled it), so the watcher
   * can show that rather than its last progress.
   */
  onEnd?(taken?: VideoRequestRow | null): void | Promise<void>;
}

/** An input image shown again as a message's thumbnail (attached, referenced as `attachment://<name>`). */
export interface Thumbnail {
  name: string;
  data: Buffer;
}

/** A finished video made ready for Discord: a temporary file to attach, or a link. */
export type PreparedVideo =
  | {
      kind: 'attachment';
      name: string;
      /** a temporary file holding the video; `release()` deletes it */
      path: string;
      size: number;
      gsUri: string;
      release(): Promise<void>;
    }
  | LinkedVideo;

export interface LinkedVideo {
  kind: 'link';
  url: string;
  size: number;
  gsUri: string;
  reason: 'too_large' | 'download_failed';
}

/** The video of a completed request, and the way to turn it into a link when Discord refuses the attachment. */
export interface VideoDelivery {
  video: PreparedVideo;
  asLink(reason: 'too_large'): Promise<LinkedVideo>;
}

export interface AnnouncementResult {
  messageId: string;
  path: 'interaction' | 'channel';
  deliveredAs?: DeliveredAs;
  /** true when an earlier attempt's message was found and reused instead of posting again */
  deduplicated: boolean;
}

/**
 * Tells a requester how their request ended. Throws DeliveryError (permanent or passing) when Discord refuses.
 * Safe to call again after a crash: it finds and reuses its earlier message.
 */
export interface Notifier {
  announce(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video?: VideoDelivery,
    thumbnail?: Thumbnail,
  ): Promise<AnnouncementResult>;
  /** R5: a message in the request's channel that mentions only the requester. */
  sendChannelMessage(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video?: VideoDelivery,
    thumbnail?: Thumbnail,
  ): Promise<AnnouncementResult>;
}
