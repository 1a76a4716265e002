// The record of every request the emulator answered (or dropped): what tests and the conformance checks
// (tests/conformance/google.ts) read. Never credentials: Authorization is kept as its scheme only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseMultipart } from './gcs';
import { readBody } from './http';
import type { RecordedPart, RequestRecord } from './types';

/** Headers kept in RequestRecord.headers; never credentials (Authorization is reduced to its scheme). */
const RECORDED_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'content-encoding',
  'range',
  'x-upload-content-type',
  'x-upload-content-length',
  'x-goog-hash',
  'x-goog-user-project',
  'x-goog-api-client',
];

export class RequestRecorder {
  /** In arrival order. */
  public readonly requests: RequestRecord[] = [];

  public constructor(private readonly baseUrl: () => string) {}

  public track(req: IncomingMessage, res: ServerResponse, route: RequestRecord['route'], path: string): void {
    const headers: Record<string, string> = {};
    for (const name of RECORDED_HEADERS) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    const auth = req.headers.authorization;
    if (auth) headers.authorization = auth.split(' ')[0] ?? '';
    const url = new URL(req.url ?? '/', this.baseUrl());
    const rec: RequestRecord = {
      route,
      method: req.method ?? 'GET',
      path,
      status: 0,
      query: [...url.searchParams],
      headers,
      bodyBytes: 0,
    };
    this.requests.push(rec);
    res.on('finish', () => {
      rec.status = res.statusCode;
    });
    // The body is memoised by readBody, so the handlers still get it; a body that never arrives leaves these empty.
    readBody(req).then(
      (body) => recordBody(rec, body),
      () => undefined,
    );
  }
}

/** Fills in what a conformance check needs of the body: JSON parsed, multipart split, media only counted. */
function recordBody(rec: RequestRecord, body: Buffer): void {
  rec.bodyBytes = body.length;
  if (!body.length) return;
  const type = (rec.headers['content-type'] ?? '').toLowerCase();
  const isJson = (t: string) => /^application\/(?:[\w.+-]+\+)?json\b/.test(t);
  if (isJson(type)) {
    try {
      rec.body = JSON.parse(body.toString('utf8'));
    } catch (e) {
      rec.bodyError = `invalid JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
  } else if (type.startsWith('multipart/')) {
    const parts = parseMultipart(rec.headers['content-type'] ?? '', body);
    if (!parts) {
      rec.bodyError = 'unparseable multipart body';
      return;
    }
    rec.parts = parts.map((p) => {
      const part: RecordedPart = { headers: p.headers, bytes: p.body.length };
      if (isJson((p.headers['content-type'] ?? '').toLowerCase())) {
        try {
          part.json = JSON.parse(p.body.toString('utf8'));
        } catch (e) {
          rec.bodyError = `invalid JSON in a multipart part: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
      return part;
    });
  }
}
