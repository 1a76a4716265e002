// The Cloud Storage JSON API routes @google-cloud/storage calls (/work/shared/reference/veo-vertex.md §3.1-3.2): bucket
// metadata, object metadata, media download (alt=media), metadata patch, delete and list, with and without the
// `/storage/v1` prefix (STORAGE_EMULATOR_HOST leaves it out).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendGcsError, sendJson } from '../http';
import type { FakeGcs } from './FakeGcs';
import { sendMedia } from './media';
import type { StoredObject } from './objects';

const GCS_ROUTE = /^(?:\/download)?(?:\/storage\/v1)?\/b\/([^/]+)\/o(?:\/(.+))?$/;
const GCS_BUCKET_ROUTE = /^(?:\/storage\/v1)?\/b\/([^/]+)$/;

export function isJsonApiRoute(path: string): boolean {
  return GCS_ROUTE.test(path) || GCS_BUCKET_ROUTE.test(path);
}

export async function handleJsonApi(gcs: FakeGcs, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  const method = req.method ?? 'GET';

  const bm = GCS_BUCKET_ROUTE.exec(path);
  if (bm) {
    const bucket = decodeURIComponent(bm[1]!);
    if (!gcs.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
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
  if (!gcs.buckets.has(bucket)) return sendGcsError(res, 404, 'The specified bucket does not exist.');
  const rawName = m[2];
  if (rawName === undefined) {
    if (method !== 'GET') return sendGcsError(res, 400, `Method ${method} not supported here`);
    return handleList(gcs, res, url, bucket);
  }
  const name = decodeURIComponent(rawName);
  const obj = gcs.get(bucket, name);
  const generation = url.searchParams.get('generation');
  if (!obj || (generation && generation !== obj.generation)) {
    await readBody(req);
    return sendGcsError(res, 404, `No such object: ${bucket}/${name}`);
  }
  if (method === 'DELETE') {
    gcs.delete(bucket, name);
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
    return sendJson(res, 200, gcs.resource(obj));
  }
  if (method !== 'GET' && method !== 'HEAD') return sendGcsError(res, 405 as number, `Method ${method} not supported`);
  if (url.searchParams.get('alt') === 'media') return sendMedia(req, res, obj);
  return sendJson(res, 200, gcs.resource(obj));
}

function handleList(gcs: FakeGcs, res: ServerResponse, url: URL, bucket: string): void {
  const prefix = url.searchParams.get('prefix') ?? '';
  const delimiter = url.searchParams.get('delimiter') ?? '';
  const maxResults = Math.min(1000, Math.max(1, Number(url.searchParams.get('maxResults') ?? 1000) || 1000));
  const pageToken = url.searchParams.get('pageToken');
  const after = pageToken ? Buffer.from(pageToken, 'base64url').toString('utf8') : null;
  // Entries are objects and (with a delimiter) prefixes, in name order; a page holds up to maxResults entries.
  const entries: { key: string; obj?: StoredObject }[] = [];
  const seenPrefixes = new Set<string>();
  for (const o of gcs.list(bucket, prefix)) {
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
  const items = page.filter((e) => e.obj).map((e) => gcs.resource(e.obj!));
  const prefixes = page.filter((e) => !e.obj).map((e) => e.key);
  if (items.length) body.items = items;
  if (prefixes.length) body.prefixes = prefixes;
  if (remaining.length > page.length)
    body.nextPageToken = Buffer.from(page[page.length - 1]!.key).toString('base64url');
  sendJson(res, 200, body);
}
