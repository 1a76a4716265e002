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
import type { ImageSource, StoredImage, VideoRequestRow } from '../domain/request';
import type { StorageService } from './StorageService';

/** An image of a request still to be fetched: which option it came from (also the stored file's name), and where. */
export interface ImageToFetch {
  option: 'image' | 'last_frame';
  source: ImageSource;
}

/** Where a request's inputs are stored: its requester, and the interaction that asked (the same for every instance). */
export interface InputLocation {
  guildId: string;
  channelId: string;
  userId: string;
  interactionId: string;
  /** for the log lines, once the request is recorded */
  requestId?: string;
}

export type ImageIntake =
  | { ok: true; image: StoredImage; bytes: Buffer }
  /**
   * `refused`: the user's file is not something Veo takes (`reason` says why, in plain words); `gone`: Discord no
   * longer serves it (its signed link expired); `unavailable`: Discord or the bucket did not answer (passing).
   */
  | { ok: false; reason: string; kind: 'refused' | 'gone' | 'unavailable' };

/**
 * Discord's CDN answers an expired or tampered signed link with 404 "This content is no longer available." (the
 * emulator's README has the source). A 403 is not read as gone: Discord's CDN also answers it to clients it blocks
 * for a while (discord-api-docs#4651), which a later sweep may get past; the link's expiry then ends it as gone.
 */
const GONE_STATUSES = [404, 410];

class DownloadRefused extends Error {
  public constructor(public readonly status: number) {
    super(`Discord answered ${status} for the attachment`);
  }
}

export interface ImageInputServiceDeps {
  storage: StorageService;
  logger: Logger;
  /** how long a download may take (default 30 s) */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Input images: checked as Discord declares them (before the request is recorded), then, by the worker before any
 * submit (generation/ImageIntake), downloaded, checked by their bytes and copied into the bucket, because Discord's
 * attachment URLs expire (they are signed with an expiry,
 * https://discord.com/developers/docs/reference#signed-attachment-cdn-urls) and a resume may come hours later.
 * The URL opens the user's file: it is never logged.
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
  public async fetchAndStore({ option, source }: ImageToFetch, at: InputLocation): Promise<ImageIntake> {
    const log = this.deps.logger.child({ request_id: at.requestId, guild_id: at.guildId, user_id: at.userId, option });
    let bytes: Buffer;
    try {
      const downloaded = await this.download(source.url);
      if (downloaded === 'too_large') {
        return { ok: false, kind: 'refused', reason: `The ${option} (${source.filename}) is larger than 20.0 MB.` };
      }
      bytes = downloaded;
    } catch (error) {
      if (error instanceof DownloadRefused && GONE_STATUSES.includes(error.status)) {
        log.warn({ status: error.status }, 'Discord no longer serves an input image');
        return { ok: false, kind: 'gone', reason: `The ${option} could no longer be fetched from Discord.` };
      }
      log.warn({ err: error }, 'could not download an input image from Discord');
      return { ok: false, kind: 'unavailable', reason: `The bot could not fetch the ${option} from Discord.` };
    }
    const verdict = checkImageBytes({ option, filename: source.filename }, bytes);
    if (!verdict.ok) return { ok: false, kind: 'refused', reason: verdict.problem };
    try {
      const name = this.deps.storage.inputObjectName(
        { guildId: at.guildId, channelId: at.channelId, userId: at.userId },
        at.interactionId,
        `${option}.${IMAGE_EXTENSIONS[verdict.mimeType]}`,
      );
      const uri = await this.deps.storage.saveObject(name, bytes, verdict.mimeType);
      log.info({ gs_uri: uri, bytes: bytes.length, mime_type: verdict.mimeType }, 'input image stored');
      return { ok: true, image: { uri, mimeType: verdict.mimeType }, bytes };
    } catch (error) {
      log.warn({ err: error }, 'could not store an input image in the bucket');
      return { ok: false, kind: 'unavailable', reason: `The bot could not store the ${option} in the bucket.` };
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
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw new DownloadRefused(response.status);
    }
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
