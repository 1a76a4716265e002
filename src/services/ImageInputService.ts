import type { Logger } from 'pino';
import {
  checkDeclaredImage,
  checkImageBytes,
  IMAGE_EXTENSIONS,
  IMAGE_MAX_BYTES,
  type DeclaredImage,
} from '../domain/images';
import { THUMBNAIL_MAX_BYTES } from '../domain/policy';
import type { Thumbnail } from '../domain/ports';
import type { StoredImage, VideoRequestRow } from '../domain/request';
import type { StorageService } from './StorageService';

/** An image a user gave `/video`, as Discord described it. */
export interface ImageSource extends DeclaredImage {
  /** the option's name, also the stored file's (`image`, `last_frame`) */
  option: 'image' | 'last_frame';
  /** Discord's (signed, expiring) CDN URL of the attachment */
  url: string;
}

/** Where a request's inputs are stored: its requester, and the interaction that asked (the same for every instance). */
export interface InputLocation {
  guildId: string;
  channelId: string;
  userId: string;
  interactionId: string;
}

export type ImageIntake =
  | { ok: true; image: StoredImage; bytes: Buffer }
  /** `refused`: the user's file is not something Veo takes; `unavailable`: Discord or the bucket did not answer. */
  | { ok: false; reason: string; kind: 'refused' | 'unavailable' };

export interface ImageInputServiceDeps {
  storage: StorageService;
  logger: Logger;
  /** how long a download may take (default 30 s) */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Input images: checked as Discord declares them (before anything is fetched), then downloaded, checked by their
 * bytes and copied into the bucket at once, because Discord's attachment URLs expire (they are signed with an expiry,
 * https://discord.com/developers/docs/reference#signed-attachment-cdn-urls) and a resume may come hours later.
 */
export class ImageInputService {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  public constructor(private readonly deps: ImageInputServiceDeps) {
    this.fetch = deps.fetch ?? fetch;
    this.timeoutMs = deps.timeoutMs ?? 30_000;
  }

  /** Problems visible before the download (declared type and size), in plain words. */
  public checkDeclared(images: DeclaredImage[]): string[] {
    return images.flatMap((image) => checkDeclaredImage(image));
  }

  /** Downloads, checks and stores one image; never throws for the user's file or a passing outage. */
  public async fetchAndStore(source: ImageSource, at: InputLocation): Promise<ImageIntake> {
    const log = this.deps.logger.child({ guild_id: at.guildId, user_id: at.userId, option: source.option });
    let bytes: Buffer;
    try {
      const downloaded = await this.download(source.url);
      if (downloaded === 'too_large') {
        return {
          ok: false,
          kind: 'refused',
          reason: `The ${source.option} (${source.filename}) is larger than 20.0 MB.`,
        };
      }
      bytes = downloaded;
    } catch (error) {
      log.warn({ err: error }, 'could not download an input image from Discord');
      return {
        ok: false,
        kind: 'unavailable',
        reason: `The bot could not fetch your ${source.option} from Discord, so nothing was started. Try again.`,
      };
    }
    const verdict = checkImageBytes(source, bytes);
    if (!verdict.ok) return { ok: false, kind: 'refused', reason: verdict.problem };
    try {
      const name = this.deps.storage.inputObjectName(
        { guildId: at.guildId, channelId: at.channelId, userId: at.userId },
        at.interactionId,
        `${source.option}.${IMAGE_EXTENSIONS[verdict.mimeType]}`,
      );
      const uri = await this.deps.storage.saveObject(name, bytes, verdict.mimeType);
      log.info({ gs_uri: uri, bytes: bytes.length, mime_type: verdict.mimeType }, 'input image stored');
      return { ok: true, image: { uri, mimeType: verdict.mimeType }, bytes };
    } catch (error) {
      log.warn({ err: error }, 'could not store an input image in the bucket');
      return {
        ok: false,
        kind: 'unavailable',
        reason: `The bot could not store your ${source.option}, so nothing was started. Try again in a minute.`,
      };
    }
  }

  /**
   * The request's first frame, to show as a thumbnail (attached to the message: see policy.THUMBNAIL_MAX_BYTES), or
   * undefined (no image, too large, or the bucket did not answer: a message without a thumbnail is still sent).
   */
  public async thumbnailFor(
    row: Pick<VideoRequestRow, 'id' | 'imageUri' | 'imageMimeType'>,
  ): Promise<Thumbnail | undefined> {
    if (!row.imageUri || !row.imageMimeType) return undefined;
    try {
      const data = await this.deps.storage.readObject(row.imageUri, THUMBNAIL_MAX_BYTES);
      return data ? { name: `first_frame.${IMAGE_EXTENSIONS[row.imageMimeType]}`, data } : undefined;
    } catch (error) {
      this.deps.logger.debug({ err: error, request_id: row.id }, 'could not read the first frame for a thumbnail');
      return undefined;
    }
  }

  /** The body, read no further than Veo's limit. */
  private async download(url: string): Promise<Buffer | 'too_large'> {
    const response = await this.fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!response.ok || !response.body) throw new Error(`Discord answered ${response.status} for the attachment`);
    if (Number(response.headers.get('content-length') ?? 0) > IMAGE_MAX_BYTES) {
      await response.body.cancel();
      return 'too_large';
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += chunk.length;
      if (total > IMAGE_MAX_BYTES) return 'too_large';
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  }
}
