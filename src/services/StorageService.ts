import type { Readable } from 'node:stream';
import { Storage } from '@google-cloud/storage';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';

export interface OutputIds {
  guildId: string;
  channelId: string;
  userId: string;
  requestId: string;
}

export interface StoredVideo {
  gsUri: string;
  name: string;
  size: number;
  contentType?: string;
}

const DISCORD_ID = /^\d{1,20}$/;
const REQUEST_ID = /^(?:\d{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const MAX_SIGNED_SECONDS = 7 * 24 * 3600;

/**
 * Cloud Storage for Veo outputs: per-attempt output folders, listing what Veo wrote, streaming downloads with
 * checksum validation, and links (V4 signed or public) for videos too large to attach.
 */
export class StorageService {
  private readonly storage: Storage;
  private readonly bucket: string;
  private readonly linkMode: 'signed' | 'public';
  private readonly signedUrlExpiryHours: number;
  private readonly logger: Logger;

  public constructor(opts: {
    storage: Storage;
    bucket: string;
    linkMode: 'signed' | 'public';
    signedUrlExpiryHours: number;
    logger: Logger;
  }) {
    if (!BUCKET.test(opts.bucket)) throw new Error(`invalid bucket name ${JSON.stringify(opts.bucket)}`);
    if (opts.linkMode !== 'signed' && opts.linkMode !== 'public')
      throw new Error(`invalid link mode ${JSON.stringify(opts.linkMode)}`);
    if (!(opts.signedUrlExpiryHours > 0) || opts.signedUrlExpiryHours * 3600 > MAX_SIGNED_SECONDS) {
      throw new Error('signedUrlExpiryHours must be more than 0 and at most 168 (V4 signed URLs last at most 7 days)');
    }
    this.storage = opts.storage;
    this.bucket = opts.bucket;
    this.linkMode = opts.linkMode;
    this.signedUrlExpiryHours = opts.signedUrlExpiryHours;
    this.logger = opts.logger;
  }

  /**
   * `apiEndpoint` = GCS_API_ENDPOINT when set (then the client sends no auth, as for any emulator). Credentials come
   * from the GOOGLE_APPLICATION_CREDENTIALS key file when set, which also lets signed URLs be signed locally; without
   * one, ADC is used and signing goes through IAM signBlob.
   */
  public static create(google: Config['google'], video: Config['video'], logger: Logger): StorageService {
    const storage = new Storage({
      projectId: google.project,
      ...(google.storageApiEndpoint ? { apiEndpoint: google.storageApiEndpoint } : {}),
      ...(google.credentialsFile ? { keyFilename: google.credentialsFile } : {}),
    });
    logger.info(
      {
        bucket: google.bucket,
        endpoint: google.storageApiEndpoint ?? 'default',
        linkMode: video.linkMode,
        credentials: google.credentialsFile ? 'key file' : 'ADC',
      },
      'Cloud Storage client ready',
    );
    return new StorageService({
      storage,
      bucket: google.bucket,
      linkMode: video.linkMode,
      signedUrlExpiryHours: video.signedUrlExpiryHours,
      logger,
    });
  }

  /** `<guild>/<channel>/<user>/<request>/<attempt>/`: only digits and UUIDs, so no id can climb out of its folder. */
  public outputPrefix(ids: OutputIds, attempt: number): string {
    const problems: string[] = [];
    for (const key of ['guildId', 'channelId', 'userId'] as const) {
      if (typeof ids?.[key] !== 'string' || !DISCORD_ID.test(ids[key]))
        problems.push(`${key} ${JSON.stringify(ids?.[key])} is not a Discord id`);
    }
    if (typeof ids?.requestId !== 'string' || !REQUEST_ID.test(ids.requestId))
      problems.push(`requestId ${JSON.stringify(ids?.requestId)} is not a number or UUID`);
    if (!Number.isSafeInteger(attempt) || attempt < 1)
      problems.push(`attempt ${JSON.stringify(attempt)} is not a positive whole number`);
    if (problems.length > 0) throw new Error(`cannot build an output folder: ${problems.join('; ')}`);
    return `${ids.guildId}/${ids.channelId}/${ids.userId}/${ids.requestId.toLowerCase()}/${attempt}/`;
  }

  /**
   * Where an input image of a request goes: `<guild>/<channel>/<user>/inputs/<key>/<file>` (`key`: the Discord
   * interaction that asked, so instances that all receive it write the same object). Digits only, like outputPrefix.
   */
  public inputObjectName(ids: Omit<OutputIds, 'requestId'>, key: string, file: string): string {
    const problems: string[] = [];
    for (const [name, value] of [...Object.entries(ids), ['key', key]] as [string, string][]) {
      if (typeof value !== 'string' || !DISCORD_ID.test(value))
        problems.push(`${name} ${JSON.stringify(value)} is not a Discord id`);
    }
    if (!/^[a-z_]{1,32}\.(png|jpg|webp)$/.test(file))
      problems.push(`file ${JSON.stringify(file)} is not an image name`);
    if (problems.length > 0) throw new Error(`cannot name an input object: ${problems.join('; ')}`);
    return `${ids.guildId}/${ids.channelId}/${ids.userId}/inputs/${key}/${file}`;
  }

  /** Stores `data` as object `name` of the bucket (one request, checksum-validated); returns its gs:// URI. */
  public async saveObject(name: string, data: Buffer, contentType: string): Promise<string> {
    assertPrefix(`${name}/`);
    await this.storage
      .bucket(this.bucket)
      .file(name)
      .save(data, { resumable: false, contentType, validation: 'crc32c' });
    this.logger.debug({ object: name, bytes: data.length }, 'stored an input object');
    return `gs://${this.bucket}/${name}`;
  }

  /** The object's bytes when it has at most `maxBytes` (null when larger): small inputs shown again, e.g. thumbnails. */
  public async readObject(gsUri: string, maxBytes: number): Promise<Buffer | null> {
    if ((await this.getSize(gsUri)) > maxBytes) return null;
    const [data] = await this.file(gsUri).download({ validation: 'crc32c' });
    return data;
  }

  /** `gs://<bucket>/<prefix>` for Veo's storageUri. */
  public outputUri(prefix: string): string {
    assertPrefix(prefix);
    return `gs://${this.bucket}/${prefix}`;
  }

  /** The .mp4 objects under `prefix` (Veo writes `<prefix><numeric folder>/sample_N.mp4`), in name order. */
  public async listOutputs(prefix: string): Promise<StoredVideo[]> {
    assertPrefix(prefix);
    const [files] = await this.storage.bucket(this.bucket).getFiles({ prefix, autoPaginate: true });
    const videos = files
      .filter((f) => f.name.toLowerCase().endsWith('.mp4'))
      .map((f) => {
        const contentType = typeof f.metadata.contentType === 'string' ? f.metadata.contentType : undefined;
        const video: StoredVideo = {
          gsUri: `gs://${this.bucket}/${f.name}`,
          name: f.name,
          size: Number(f.metadata.size ?? 0),
        };
        if (contentType) video.contentType = contentType;
        return video;
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.logger.debug({ prefix, found: videos.length }, 'listed output folder');
    return videos;
  }

  public parseGsUri(uri: string): { bucket: string; name: string } {
    const m = typeof uri === 'string' ? /^gs:\/\/([^/]+)\/(.+)$/.exec(uri) : null;
    if (!m || !BUCKET.test(m[1]!) || m[2]!.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`not a Cloud Storage object URI: ${JSON.stringify(uri)}`);
    }
    return { bucket: m[1]!, name: m[2]! };
  }

  public async getSize(gsUri: string): Promise<number> {
    const [metadata] = await this.file(gsUri).getMetadata();
    const size = Number(metadata.size);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`Cloud Storage reported no usable size for ${gsUri}`);
    return size;
  }

  /** Streams the object; the stream errors if the bytes do not match the CRC32C Cloud Storage stored. */
  public createReadStream(gsUri: string): Readable {
    return this.file(gsUri).createReadStream({ validation: 'crc32c' });
  }

  /** A V4 signed read URL valid for SIGNED_URL_EXPIRY_HOURS, or the object's public https URL. Never logged. */
  public async getLink(gsUri: string): Promise<string> {
    const file = this.file(gsUri);
    if (this.linkMode === 'public') return file.publicUrl();
    const [url] = await file.getSignedUrl({
      version: 'v4',
      action: 'read',
      expires: Date.now() + this.signedUrlExpiryHours * 3600 * 1000,
    });
    this.logger.debug({ gs_uri: gsUri, expires_in_hours: this.signedUrlExpiryHours }, 'signed a download link');
    return url;
  }

  private file(gsUri: string) {
    const { bucket, name } = this.parseGsUri(gsUri);
    return this.storage.bucket(bucket).file(name);
  }
}

function assertPrefix(prefix: string): void {
  if (
    typeof prefix !== 'string' ||
    prefix === '' ||
    !prefix.endsWith('/') ||
    prefix.startsWith('/') ||
    prefix.includes('//') ||
    prefix.split('/').some((part) => part === '..' || part === '.') ||
    /[\s\\]/.test(prefix)
  ) {
    throw new Error(`invalid output folder ${JSON.stringify(prefix)}`);
  }
}
