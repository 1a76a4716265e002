import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { PreparedVideo } from '../domain/ports';
import type { StorageService } from './StorageService';

/** Discord's default per-file upload limit since September 2026; boosts raise it per interaction. */
export const DEFAULT_ATTACHMENT_LIMIT_BYTES = 20 * 1024 * 1024;

/**
 * Decides how a finished video reaches Discord: attached when it fits the limit Discord gave the original
 * interaction (stored with the request, so a resumed delivery uses the same limit), otherwise a link.
 */
export class VideoAttachmentService {
  public constructor(
    private readonly storage: StorageService,
    private readonly logger: Logger,
  ) {}

  public limitFor(attachmentSizeLimit: number | string | null | undefined): number {
    const limit = Number(attachmentSizeLimit);
    return Number.isFinite(limit) && limit > 0 ? limit : DEFAULT_ATTACHMENT_LIMIT_BYTES;
  }

  public async prepare(
    gsUri: string,
    attachmentSizeLimit: number | string | null | undefined,
    knownSize?: number | null,
  ): Promise<PreparedVideo> {
    const size = knownSize ?? (await this.storage.getSize(gsUri));
    const name = gsUri.split('/').pop() || 'video.mp4';
    if (size > this.limitFor(attachmentSizeLimit)) {
      return { kind: 'link', url: await this.storage.getLink(gsUri), size, gsUri, reason: 'too_large' };
    }
    try {
      const path = await this.downloadToFile(gsUri, name, size);
      return {
        kind: 'attachment',
        name,
        path,
        size,
        gsUri,
        release: () => rm(join(path, '..'), { recursive: true, force: true }),
      };
    } catch (error) {
      this.logger.warn({ err: error, gs_uri: gsUri }, 'could not download the video; posting a link instead');
      return { kind: 'link', url: await this.storage.getLink(gsUri), size, gsUri, reason: 'download_failed' };
    }
  }

  public async linkFor(gsUri: string): Promise<string> {
    return this.storage.getLink(gsUri);
  }

  /**
   * Streams the object (checksum-validated) into a temporary file: the upload then streams from disk, so no copy of
   * the video is held in memory, however large it is or however many are delivered at once.
   */
  private async downloadToFile(gsUri: string, name: string, expectedSize: number): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'veobot-video-'));
    const path = join(dir, name);
    try {
      await pipeline(this.storage.createReadStream(gsUri), createWriteStream(path));
      const { size } = await stat(path);
      if (size !== expectedSize)
        throw new Error(`object ${gsUri} has ${size} bytes, its metadata said ${expectedSize}`);
      return path;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }
}
