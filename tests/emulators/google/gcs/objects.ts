// Cloud Storage objects in memory: generations, the hashes the client validates (crc32c, md5Hash:
// /work/shared/reference/veo-vertex.md §3.2), synthetic objects too large to hold, and the object resource the JSON API
// answers with.
import { createHash, randomBytes } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';

export interface StoredObject {
  bucket: string;
  name: string;
  data: Buffer;
  contentType: string;
  metadata?: Record<string, string>;
  generation: string;
  metageneration: number;
  md5Hash: string;
  crc32c: string;
  timeCreated: string;
  updated: string;
  /**
   * An object too large to hold in memory, generated as it is read: `size` is what its metadata says, `served` how many
   * bytes a download really streams (more than `size`: an object that changed under its metadata; a download tool
   * must not trust the metadata), optionally at `bytesPerSecond`. `servedBytes` counts what downloads really sent.
   */
  synthetic?: { size: number; served: number; bytesPerSecond?: number; servedBytes: number };
}

/** What a synthetic object's bytes are made of. */
export const SYNTHETIC_CHUNK = Buffer.alloc(64 * 1024, 0x2a);

export interface SyntheticObjectOptions {
  size: number;
  served?: number;
  bytesPerSecond?: number;
}

export function crc32cOf(buf: Buffer): string {
  const c = new CRC32C();
  c.update(buf);
  return c.toString();
}

export function md5Of(buf: Buffer): string {
  return createHash('md5').update(buf).digest('base64');
}

/**
 * Bytes that look like an MP4 to a sniffer: an `ftyp` box, then an `mdat` box padding the file to exactly `size` bytes
 * (random payload, so two videos never compare equal by accident).
 */
export function fakeMp4(size: number): Buffer {
  const n = Math.max(0, Math.floor(size));
  const ftyp = Buffer.alloc(32);
  ftyp.writeUInt32BE(32, 0);
  ftyp.write('ftyp', 4, 'latin1');
  ftyp.write('isom', 8, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('isomiso2avc1mp41', 16, 'latin1');
  if (n <= 32) return ftyp.subarray(0, n);
  const rest = n - 32;
  if (rest < 8) return Buffer.concat([ftyp, Buffer.alloc(rest)]);
  const mdatHeader = Buffer.alloc(8);
  mdatHeader.writeUInt32BE(rest, 0);
  mdatHeader.write('mdat', 4, 'latin1');
  return Buffer.concat([ftyp, mdatHeader, randomBytes(rest - 8)]);
}

/** The objects of every bucket, by bucket and name. */
export class ObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private generationCounter = 0;

  private key(bucket: string, name: string): string {
    return `${bucket}\u0000${name}`;
  }

  public put(
    bucket: string,
    name: string,
    data: Buffer,
    contentType = 'application/octet-stream',
    metadata?: Record<string, string>,
  ): StoredObject {
    const now = new Date().toISOString();
    const prev = this.objects.get(this.key(bucket, name));
    const obj: StoredObject = {
      bucket,
      name,
      data: Buffer.from(data),
      contentType,
      metadata,
      generation: String(Date.now() * 1000 + (this.generationCounter++ % 1000)),
      metageneration: 1,
      md5Hash: md5Of(data),
      crc32c: crc32cOf(data),
      timeCreated: prev?.timeCreated ?? now,
      updated: now,
    };
    this.objects.set(this.key(bucket, name), obj);
    return obj;
  }

  /** See StoredObject.synthetic. Its hashes are those of no bytes: nothing can download it whole and valid. */
  public putSynthetic(
    bucket: string,
    name: string,
    options: SyntheticObjectOptions,
    contentType = 'video/mp4',
  ): StoredObject {
    const obj = this.put(bucket, name, Buffer.alloc(0), contentType);
    const served = options.served ?? options.size;
    if (served === options.size && options.size <= 64 * 1024 * 1024) {
      // Small enough to hash here: a whole download of it validates like any object's.
      const crc = new CRC32C();
      const md5 = createHash('md5');
      for (let left = options.size; left > 0; left -= SYNTHETIC_CHUNK.length) {
        const piece = left >= SYNTHETIC_CHUNK.length ? SYNTHETIC_CHUNK : SYNTHETIC_CHUNK.subarray(0, left);
        crc.update(piece);
        md5.update(piece);
      }
      obj.crc32c = crc.toString();
      obj.md5Hash = md5.digest('base64');
    }
    obj.synthetic = {
      size: options.size,
      served,
      bytesPerSecond: options.bytesPerSecond,
      servedBytes: 0,
    };
    return obj;
  }

  public get(bucket: string, name: string): StoredObject | undefined {
    return this.objects.get(this.key(bucket, name));
  }

  public delete(bucket: string, name: string): boolean {
    return this.objects.delete(this.key(bucket, name));
  }

  public list(bucket: string, prefix = ''): StoredObject[] {
    return [...this.objects.values()]
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

/** The object resource of the JSON API (`storage#object`), with links on the emulator's own address. */
export function objectResource(o: StoredObject, base: string): Record<string, unknown> {
  const enc = encodeURIComponent(o.name);
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${o.bucket}/o/${enc}`,
    mediaLink: `${base}/download/storage/v1/b/${o.bucket}/o/${enc}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.synthetic?.size ?? o.data.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: Buffer.from(o.generation).toString('base64'),
    timeCreated: o.timeCreated,
    updated: o.updated,
    timeStorageClassUpdated: o.timeCreated,
    ...(o.metadata ? { metadata: o.metadata } : {}),
  };
}
