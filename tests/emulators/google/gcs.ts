import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CRC32C } from '@google-cloud/storage';
import { readBody, sendGcsError, sendJson, sendXmlError } from './http';
import { checkV4SignedRequest, type FakeServiceAccount } from './credentials';

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
const SYNTHETIC_CHUNK = Buffer.alloc(64 * 1024, 0x2a);

export interface SyntheticObjectOptions {
  size: number;
  served?: number;
  bytesPerSecond?: number;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  ifGenerationMatch?: string;
  received: Buffer;
  finished?: StoredObject;
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

const GCS_ROUTE = /^(?:\/download)?(?:\/storage\/v1)?\/b\/([^/]+)\/o(?:\/(.+))?$/;
const GCS_BUCKET_ROUTE = /^(?:\/storage\/v1)?\/b\/([^/]+)$/;
const UPLOAD_ROUTE = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/;

/** In-memory Cloud Storage (JSON API subset used by @google-cloud/storage, plus signed/public URL serving). */
export class FakeGcs {
  private readonly objects = new Map<string, StoredObject>();
  private readonly sessions = new Map<string, UploadSession>();
  private generationCounter = 0;
  /** Added to the real clock when checking signed URL validity windows (lets tests expire URLs without waiting). */
  public signedUrlClockOffsetMs = 0;
  /** When false, unsigned `GET /{bucket}/{object}` is refused (bucket not public). */
  public publicRead = true;

  public constructor(
    public readonly buckets: Set<string>,
    private readonly baseUrl: () => string,
    private readonly account: FakeServiceAccount,
  ) {}

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

  public resource(o: StoredObject): Record<string, unknown> {
    const base = this.baseUrl();
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

  /** JSON API + upload routes. Returns false when the path is not a storage route. */
  public isApiRoute(path: string): boolean {
    return GCS_ROUTE.test(path) || GCS_BUCKET_ROUTE.test(path) || UPLOAD_ROUTE.test(path);
  }

  public async handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const up = UPLOAD_ROUTE.exec(path);
    if (up) return this.handleUpload(req, res, url, decodeURIComponent(up[1]!));

    const bm = GCS_BUCKET_ROUTE.exec(path);
    if (bm) {
      const bucket = decodeURIComponent(bm[1]!);
      if (!this.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
      return sendJson(res, 200, {
        kind: 'storage#bucket',
        id: bucket,
        name: bucket,
        location: 'US-CENTRAL1',
        storageClass: 'STANDARD',
      });
    }

    const m = GCS_ROUTE.exec(path)!;
    const bucket = decodeURIComponent(m[1]!);
    if (!this.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
    const rawName = m[2];
    if (rawName === undefined) {
      if (method !== 'GET') return sendGcsError(res, 400, `Method ${method} not supported here`);
      return this.handleList(res, url, bucket);
    }
    const name = decodeURIComponent(rawName);
    const obj = this.get(bucket, name);
    const generation = url.searchParams.get('generation');
    if (!obj || (generation && generation !== obj.generation)) {
      await readBody(req);
      return sendGcsError(res, 404, `No such object: ${bucket}/${name}`);
    }
    if (method === 'DELETE') {
      this.delete(bucket, name);
      res.writeHead(204);
      return void res.end();
    }
    if (method === 'PATCH' || method === 'PUT') {
      const body = await readBody(req);
      let patch: { contentType?: string; metadata?: Record<string, string | null> } = {};
      try {
        patch = body.length ? (JSON.parse(body.toString('utf8')) as typeof patch) : {};
      } catch {
        return sendGcsError(res, 400, 'Invalid JSON payload received.');
      }
      if (typeof patch.contentType === 'string') obj.contentType = patch.contentType;
      if (patch.metadata) {
        const md: Record<string, string> = { ...(obj.metadata ?? {}) };
        for (const [k, v] of Object.entries(patch.metadata)) {
          if (v === null) delete md[k];
          else md[k] = String(v);
        }
        obj.metadata = md;
      }
      obj.metageneration += 1;
      obj.updated = new Date().toISOString();
      return sendJson(res, 200, this.resource(obj));
    }
    if (method !== 'GET' && method !== 'HEAD')
      return sendGcsError(res, 405 as number, `Method ${method} not supported`);
    if (url.searchParams.get('alt') === 'media') return this.sendMedia(req, res, obj);
    return sendJson(res, 200, this.resource(obj));
  }

  private handleList(res: ServerResponse, url: URL, bucket: string): void {
    const prefix = url.searchParams.get('prefix') ?? '';
    const delimiter = url.searchParams.get('delimiter') ?? '';
    const maxResults = Math.min(1000, Math.max(1, Number(url.searchParams.get('maxResults') ?? 1000) || 1000));
    const pageToken = url.searchParams.get('pageToken');
    const after = pageToken ? Buffer.from(pageToken, 'base64url').toString('utf8') : null;
    // Entries are objects and (with a delimiter) prefixes, in name order; a page holds up to maxResults entries.
    const entries: { key: string; obj?: StoredObject }[] = [];
    const seenPrefixes = new Set<string>();
    for (const o of this.list(bucket, prefix)) {
      if (delimiter) {
        const i = o.name.indexOf(delimiter, prefix.length);
        if (i >= 0) {
          const p = o.name.slice(0, i + delimiter.length);
          if (!seenPrefixes.has(p)) {
            seenPrefixes.add(p);
            entries.push({ key: p });
          }
          continue;
        }
      }
      entries.push({ key: o.name, obj: o });
    }
    const remaining = after === null ? entries : entries.filter((e) => e.key > after);
    const page = remaining.slice(0, maxResults);
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    const items = page.filter((e) => e.obj).map((e) => this.resource(e.obj!));
    const prefixes = page.filter((e) => !e.obj).map((e) => e.key);
    if (items.length) body.items = items;
    if (prefixes.length) body.prefixes = prefixes;
    if (remaining.length > page.length)
      body.nextPageToken = Buffer.from(page[page.length - 1]!.key).toString('base64url');
    sendJson(res, 200, body);
  }

  private sendMedia(
    req: IncomingMessage,
    res: ServerResponse,
    obj: StoredObject,
    extra: Record<string, string> = {},
  ): void {
    const total = obj.data.length;
    const headers: Record<string, string> = {
      'content-type': obj.contentType,
      'x-goog-hash': `crc32c=${obj.crc32c},md5=${obj.md5Hash}`,
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(total),
      'x-goog-generation': obj.generation,
      'x-goog-metageneration': String(obj.metageneration),
      'x-goog-storage-class': 'STANDARD',
      etag: Buffer.from(obj.generation).toString('base64'),
      'last-modified': new Date(obj.updated).toUTCString(),
      'accept-ranges': 'bytes',
      ...extra,
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && (range[1] || range[2])) {
      let start: number;
      let end: number;
      if (range[1] === '') {
        start = Math.max(0, total - Number(range[2]));
        end = total - 1;
      } else {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
      }
      if (start >= total || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${total}` });
        return void res.end();
      }
      const slice = obj.data.subarray(start, end + 1);
      res.writeHead(206, {
        ...headers,
        'content-length': String(slice.length),
        'content-range': `bytes ${start}-${end}/${total}`,
      });
      return void res.end(req.method === 'HEAD' ? undefined : slice);
    }
    if (obj.synthetic) return void this.streamSynthetic(req, res, obj, headers);
    res.writeHead(200, { ...headers, 'content-length': String(total) });
    res.end(req.method === 'HEAD' ? undefined : obj.data);
  }

  /** Streams a synthetic object in 64 KiB chunks, minding backpressure (so it never fills memory) and its rate. */
  private streamSynthetic(
    req: IncomingMessage,
    res: ServerResponse,
    obj: StoredObject,
    headers: Record<string, string>,
  ): void {
    const s = obj.synthetic!;
    res.writeHead(200, { ...headers, 'x-goog-stored-content-length': String(s.size) });
    if (req.method === 'HEAD') return void res.end();
    const chunk = SYNTHETIC_CHUNK;
    let sent = 0;
    const started = Date.now();
    const pump = (): void => {
      while (sent < s.served && !res.destroyed) {
        if (s.bytesPerSecond && sent > ((Date.now() - started) / 1000) * s.bytesPerSecond) {
          setTimeout(pump, 20);
          return;
        }
        const n = Math.min(chunk.length, s.served - sent);
        sent += n;
        s.servedBytes += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  private async handleUpload(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    const body = await readBody(req);
    if (!this.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
    const uploadType = url.searchParams.get('uploadType');
    const uploadId = url.searchParams.get('upload_id');
    if (uploadId) return this.handleResumableData(req, res, uploadId, body);

    if (uploadType === 'media') {
      const name = url.searchParams.get('name');
      if (!name) return sendGcsError(res, 400, 'Required parameter: name');
      return void this.finishUpload(res, url.searchParams.get('ifGenerationMatch') ?? undefined, {
        bucket,
        name,
        contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
        data: body,
        hashHeader: req.headers['x-goog-hash'],
      });
    }
    if (uploadType === 'multipart') {
      const parts = parseMultipart(String(req.headers['content-type'] ?? ''), body);
      if (!parts || parts.length < 2) return sendGcsError(res, 400, 'Invalid multipart request');
      let meta: {
        name?: string;
        contentType?: string;
        metadata?: Record<string, string>;
        crc32c?: string;
        md5Hash?: string;
      } = {};
      try {
        meta = JSON.parse(parts[0]!.body.toString('utf8')) as typeof meta;
      } catch {
        return sendGcsError(res, 400, 'Invalid JSON payload received.');
      }
      const name = url.searchParams.get('name') ?? meta.name;
      if (!name) return sendGcsError(res, 400, 'Required parameter: name');
      const media = parts[1]!;
      const hashes = [meta.crc32c ? `crc32c=${meta.crc32c}` : '', meta.md5Hash ? `md5=${meta.md5Hash}` : '']
        .filter(Boolean)
        .join(',');
      return void this.finishUpload(res, url.searchParams.get('ifGenerationMatch') ?? undefined, {
        bucket,
        name,
        contentType: meta.contentType ?? media.headers['content-type'] ?? 'application/octet-stream',
        metadata: meta.metadata,
        data: media.body,
        hashHeader: hashes || undefined,
      });
    }
    if (uploadType === 'resumable') {
      let meta: { name?: string; contentType?: string; metadata?: Record<string, string> } = {};
      try {
        meta = body.length ? (JSON.parse(body.toString('utf8')) as typeof meta) : {};
      } catch {
        return sendGcsError(res, 400, 'Invalid JSON payload received.');
      }
      const name = url.searchParams.get('name') ?? meta.name;
      if (!name) return sendGcsError(res, 400, 'Required parameter: name');
      const id = randomBytes(16).toString('hex');
      this.sessions.set(id, {
        id,
        bucket,
        name,
        contentType: meta.contentType ?? String(req.headers['x-upload-content-type'] ?? 'application/octet-stream'),
        metadata: meta.metadata,
        ifGenerationMatch: url.searchParams.get('ifGenerationMatch') ?? undefined,
        received: Buffer.alloc(0),
      });
      const location = `${this.baseUrl()}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
      res.writeHead(200, { location, 'x-guploader-uploadid': id, 'content-length': '0' });
      return void res.end();
    }
    return sendGcsError(res, 400, `Invalid uploadType: ${String(uploadType)}`);
  }

  private handleResumableData(req: IncomingMessage, res: ServerResponse, id: string, body: Buffer): void {
    const s = this.sessions.get(id);
    if (!s) return sendGcsError(res, 404, 'No such upload session');
    if (req.method === 'DELETE') {
      this.sessions.delete(id);
      res.writeHead(499);
      return void res.end();
    }
    if (s.finished) return sendJson(res, 200, this.resource(s.finished));
    const cr = String(req.headers['content-range'] ?? '');
    const incomplete = (): void => {
      const headers: Record<string, string> = { 'content-length': '0' };
      if (s.received.length > 0) headers.range = `bytes=0-${s.received.length - 1}`;
      res.writeHead(308, headers);
      res.end();
    };
    // Status query: "bytes */*" or "bytes */N".
    let m = /^bytes \*\/(\*|\d+)$/.exec(cr);
    if (m) {
      if (m[1] !== '*' && Number(m[1]) === s.received.length)
        return this.completeSession(res, s, req.headers['x-goog-hash']);
      return incomplete();
    }
    // Data: "bytes a-b/N", "bytes a-b/*", "bytes a-*/N", "bytes a-*/*" (or no header: whole object in one shot).
    let start = 0;
    let total: number | null = body.length;
    if (cr) {
      m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(cr);
      if (!m) return sendGcsError(res, 400, `Invalid Content-Range: ${cr}`);
      start = Number(m[1]);
      const lastIsStar = m[2] === '*';
      total = m[3] === '*' ? (lastIsStar ? start + body.length : null) : Number(m[3]);
    }
    if (start > s.received.length) return incomplete();
    s.received = Buffer.concat([s.received.subarray(0, start), body]);
    if (total !== null && s.received.length >= total) {
      s.received = s.received.subarray(0, total);
      return this.completeSession(res, s, req.headers['x-goog-hash']);
    }
    return incomplete();
  }

  private completeSession(res: ServerResponse, s: UploadSession, hashHeader: string | string[] | undefined): void {
    const obj = this.finishUpload(res, s.ifGenerationMatch, {
      bucket: s.bucket,
      name: s.name,
      contentType: s.contentType,
      metadata: s.metadata,
      data: s.received,
      hashHeader,
    });
    if (obj) s.finished = obj;
  }

  private finishUpload(
    res: ServerResponse,
    ifGenerationMatch: string | undefined,
    u: {
      bucket: string;
      name: string;
      contentType: string;
      metadata?: Record<string, string>;
      data: Buffer;
      hashHeader?: string | string[];
    },
  ): StoredObject | undefined {
    const existing = this.get(u.bucket, u.name);
    if (ifGenerationMatch !== undefined) {
      const want = ifGenerationMatch;
      if ((want === '0' && existing) || (want !== '0' && existing?.generation !== want)) {
        sendGcsError(res, 412, 'At least one of the pre-conditions you specified did not hold.');
        return undefined;
      }
    }
    const hashes = String(u.hashHeader ?? '');
    const crc = /crc32c=([^,]+)/.exec(hashes)?.[1];
    const md5 = /md5=([^,]+)/.exec(hashes)?.[1];
    if ((crc && crc !== crc32cOf(u.data)) || (md5 && md5 !== md5Of(u.data))) {
      sendGcsError(res, 400, 'Provided CRC32C or MD5 does not match the uploaded data.');
      return undefined;
    }
    const obj = this.put(u.bucket, u.name, u.data, u.contentType, u.metadata);
    sendJson(res, 200, this.resource(obj));
    return obj;
  }

  /**
   * `GET /{bucket}/{object}`: what a signed or public URL points at. Signed requests are checked for their validity
   * window and signature; unsigned ones are served only while `publicRead` is on.
   */
  public handleXmlGet(req: IncomingMessage, res: ServerResponse, url: URL, rawPath: string, rawQuery: string): void {
    const method = req.method ?? 'GET';
    const parts = rawPath.split('/').filter((_, i) => i > 0);
    const bucket = decodeURIComponent(parts[0] ?? '');
    const name = decodeURIComponent(parts.slice(1).join('/'));
    if (method !== 'GET' && method !== 'HEAD') return sendXmlError(res, 405, 'MethodNotAllowed', 'Method not allowed.');
    if (url.searchParams.has('X-Goog-Signature')) {
      const check = checkV4SignedRequest(
        method,
        rawPath,
        rawQuery,
        req.headers,
        this.account,
        Date.now() + this.signedUrlClockOffsetMs,
      );
      if (!check.ok) return sendXmlError(res, check.status, check.code, check.message, check.details);
    } else if (!this.publicRead) {
      return sendXmlError(
        res,
        403,
        'AccessDenied',
        'Access denied.',
        'Anonymous caller does not have storage.objects.get access.',
      );
    }
    if (!this.buckets.has(bucket))
      return sendXmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist.');
    const obj = name ? this.get(bucket, name) : undefined;
    if (!obj) return sendXmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    this.sendMedia(req, res, obj);
  }
}

export function parseMultipart(
  contentType: string,
  body: Buffer,
): { headers: Record<string, string>; body: Buffer }[] | null {
  const bm = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!bm) return null;
  const delim = Buffer.from(`--${bm[1]}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return null;
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const next = body.indexOf(delim, pos);
    if (next < 0) return null;
    let chunk = body.subarray(pos, next);
    if (chunk.subarray(chunk.length - 2).toString() === '\r\n') chunk = chunk.subarray(0, chunk.length - 2);
    const sep = chunk.indexOf('\r\n\r\n');
    const headerText = sep >= 0 ? chunk.subarray(0, sep).toString('utf8') : '';
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: sep >= 0 ? chunk.subarray(sep + 4) : chunk });
    pos = next;
  }
  return parts;
}
