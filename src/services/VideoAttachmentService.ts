import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { PreparedVideo } from '../domain/ports';
import type { StorageService } from './StorageService';

/** Discord's default per-file upload limit since September 2026; boosts raise it per interaction. */
export const DEFAULT_ATTACHMENT_LIMIT_BYTES = 20 * 1024 * 1024;
/** Temporary folders of videos on their way to Discord: `veobot-video-<pid>-<random>`. */
const TEMP_PREFIX = 'veobot-video-';
/** A temporary video folder older than this is a leftover whatever its pid says (no upload takes an hour). */
const LEFTOVER_AGE_MS = 60 * 60_000;

/** Whether a process with this pid runs here (EPERM: it does, as another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary video folders a crash left behind (a process killed mid-upload never deletes its file): at
 * start, every `veobot-video-*` folder whose process is gone, or that is older than an hour. Folders of another live
 * bot process on this host are left alone. Returns how many were removed.
 */
export async function sweepTemporaryVideos(logger: Logger, dir: string = tmpdir(), now = Date.now()): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const path = join(dir, entry);
    const pid = Number(/^veobot-video-(\d+)-/.exec(entry)?.[1]);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    const mine = pid === process.pid;
    const stale = now - info.mtimeMs > LEFTOVER_AGE_MS;
    if (mine || (Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid) && !stale)) continue;
    if (!Number.isSafeInteger(pid) && !stale) continue; // the older naming, without a pid: only by age
    await rm(path, { recursive: true, force: true });
    removed++;
  }
  if (removed > 0) logger.info({ removed, dir }, 'removed temporary video folders a crash left behind');
  return removed;
}

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
   * the video is held in memory, however large it is or however many are delivered at once. The download stops at
   * the first byte past the size the metadata gave (which fits the upload limit): an object that grew under its
   * metadata can never fill the disk.
   */
  private async downloadToFile(gsUri: string, name: string, expectedSize: number): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
    const path = join(dir, name);
    let received = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > expectedSize)
          done(
            new Error(`object ${gsUri} sent more than the ${expectedSize} bytes its metadata said; download stopped`),
          );
        else done(null, chunk);
      },
    });
    try {
      await pipeline(this.storage.createReadStream(gsUri), limit, createWriteStream(path));
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
