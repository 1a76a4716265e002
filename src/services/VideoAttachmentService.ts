import type { Logger } from 'pino';
import type { StorageService } from './StorageService';

/** Discord's default per-file upload limit since September 2026; boosts raise it per interaction. */
export const DEFAULT_ATTACHMENT_LIMIT_BYTES = 20 * 1024 * 1024;

export type PreparedVideo =
  | { kind: 'attachment'; name: string; data: Buffer; size: number; gsUri: string }
  | { kind: 'link'; url: string; size: number; gsUri: string; reason: 'too_large' | 'download_failed' };

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

  public async prepare(gsUri: string, attachmentSizeLimit: number | string | null | undefined, knownSize?: number | null): Promise<PreparedVideo> {
    const size = knownSize ?? (await this.storage.getSize(gsUri));
    const name = gsUri.split('/').pop() || 'video.mp4';
    if (size > this.limitFor(attachmentSizeLimit)) {
      return { kind: 'link', url: await this.storage.getLink(gsUri), size, gsUri, reason: 'too_large' };
    }
    try {
      return { kind: 'attachment', name, data: await this.readWhole(gsUri, size), size, gsUri };
    } catch (error) {
      this.logger.warn({ err: error, gsUri }, 'could not download the video; posting a link instead');
      return { kind: 'link', url: await this.storage.getLink(gsUri), size, gsUri, reason: 'download_failed' };
    }
  }

  public async linkFor(gsUri: string): Promise<string> {
    return this.storage.getLink(gsUri);
  }

  /**
   * Streams the object into one preallocated buffer: a single copy of the video in memory, however many chunks
   * arrive (collecting chunks and concatenating would hold two).
   */
  private async readWhole(gsUri: string, expectedSize: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(expectedSize);
    let offset = 0;
    for await (const chunk of this.storage.createReadStream(gsUri)) {
      const piece = chunk as Buffer;
      if (offset + piece.length > expectedSize) throw new Error(`object ${gsUri} is larger than its metadata said`);
      piece.copy(buffer, offset);
      offset += piece.length;
    }
    if (offset !== expectedSize) throw new Error(`object ${gsUri} ended after ${offset} of ${expectedSize} bytes`);
    return buffer;
  }
}
