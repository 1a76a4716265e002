// Cloud Storage uploads (/work/shared/reference/veo-vertex.md §3.2): `uploadType=media`, `multipart` (a JSON metadata
// part, then the media) and `resumable` (a session URL, then the data in one or more `Content-Range` chunks answered
// 308 until the last, and status queries), with `ifGenerationMatch` and the crc32c/md5 check of what arrived.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendGcsError, sendJson } from '../http';
import type { FakeGcs } from './FakeGcs';
import { parseMultipart } from './multipart';
import { crc32cOf, md5Of, type StoredObject } from './objects';

export const UPLOAD_ROUTE = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/;

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

export class Uploads {
  private readonly sessions = new Map<string, UploadSession>();

  public constructor(private readonly gcs: FakeGcs) {}

  public async handle(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    const body = await readBody(req);
    if (!this.gcs.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
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
      const location = `${this.gcs.baseUrl()}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
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
    if (s.finished) return sendJson(res, 200, this.gcs.resource(s.finished));
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
    const existing = this.gcs.get(u.bucket, u.name);
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
    const obj = this.gcs.put(u.bucket, u.name, u.data, u.contentType, u.metadata);
    sendJson(res, 200, this.gcs.resource(obj));
    return obj;
  }
}
