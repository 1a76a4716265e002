// Downloads: the media of an object (whole, a byte range, or a synthetic object streamed at its own pace) with the
// headers @google-cloud/storage validates (x-goog-hash, x-goog-stored-content-encoding: veo-vertex.md §3.2), and
// `GET /{bucket}/{object}`, what a V4 signed URL or a public URL points at (§3.3; the signature check is in
// ../credentials.ts), answered with storage.googleapis.com's XML errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkV4SignedRequest } from '../credentials';
import { sendXmlError } from '../http';
import type { FakeGcs } from './FakeGcs';
import { SYNTHETIC_CHUNK, type StoredObject } from './objects';

export function sendMedia(
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
  if (obj.synthetic) return void streamSynthetic(req, res, obj, headers);
  res.writeHead(200, { ...headers, 'content-length': String(total) });
  res.end(req.method === 'HEAD' ? undefined : obj.data);
}

/** Streams a synthetic object in 64 KiB chunks, minding backpressure (so it never fills memory) and its rate. */
function streamSynthetic(
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

/**
 * `GET /{bucket}/{object}`: what a signed or public URL points at. Signed requests are checked for their validity
 * window and signature; unsigned ones are served only while `publicRead` is on.
 */
export function handleSignedOrPublicGet(
  gcs: FakeGcs,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rawPath: string,
  rawQuery: string,
): void {
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
      gcs.account,
      Date.now() + gcs.signedUrlClockOffsetMs,
    );
    if (!check.ok) return sendXmlError(res, check.status, check.code, check.message, check.details);
  } else if (!gcs.publicRead) {
    return sendXmlError(
      res,
      403,
      'AccessDenied',
      'Access denied.',
      'Anonymous caller does not have storage.objects.get access.',
    );
  }
  if (!gcs.buckets.has(bucket)) return sendXmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist.');
  const obj = name ? gcs.get(bucket, name) : undefined;
  if (!obj) return sendXmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  sendMedia(req, res, obj);
}
