// Checks recorded Vertex AI and Cloud Storage traffic against Google's discovery documents (pinned in specs/google/):
// the path matches a method's template and parameter patterns, the HTTP method is that method's, every query
// parameter is declared (globally or by the method) and of its type, and the JSON body validates against the
// method's request schema with unknown fields refused (Google answers those with 400 "Invalid JSON payload received.
// Unknown name …"). Cloud Storage media uploads (media, multipart, resumable) and downloads (alt=media) are checked
// by the discovery document's mediaUpload / supportsMediaDownload rules. GOOGLE_QUIRKS and README.md say where the
// documents are silent or differ from the service, with sources. Over 400 lines: two discovery documents, each with
// its path, query, body and media rules, read the same way.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestRecord } from '../emulators/google';
import { isPlainObject, SchemaSet, type Issue } from './schema';
import type { Quirk, Violation } from './types';

const SPECS = join(__dirname, 'specs', 'google');
const GCS_DOCS = 'https://cloud.google.com/storage/docs';

export const GOOGLE_QUIRKS: Quirk[] = [
  {
    id: 'google/unknown-fields',
    what: 'fields a request schema does not declare are violations',
    why:
      'Discovery schemas declare no additionalProperties, but Google refuses undeclared fields with 400 "Invalid JSON ' +
      'payload received. Unknown name …". The check treats every declared object as closed (maps declared with ' +
      'additionalProperties stay open).',
    source: 'https://protobuf.dev/programming-guides/json/ (parsers reject unknown fields unless told otherwise)',
  },
  {
    id: 'google/required-fields',
    what: 'required request fields come from "Required." descriptions (Vertex) and annotations.required (Storage)',
    why:
      'Discovery documents have no `required` list. Vertex renders the proto field_behavior REQUIRED as a description ' +
      'starting "Required."; Cloud Storage lists the method ids a field is required for in annotations.required.',
    source: 'https://google.aip.dev/203',
  },
  {
    id: 'google/proto3-json',
    what: 'Vertex request JSON may use proto3 JSON spellings: int64 as a number, int32 as text, snake_case field names',
    why:
      'Vertex parses requests with the proto3 JSON mapping, which accepts int64/uint64 as a JSON number or a decimal ' +
      'string, 32-bit integers as a number or a string, and the original proto field name as well as the lowerCamelCase ' +
      'one. The discovery document names only the canonical spellings. Not applied to Cloud Storage.',
    source: 'https://protobuf.dev/programming-guides/json/',
  },
  {
    id: 'google/veo-payload-is-any',
    what: '`instances[]` and `parameters` of predictLongRunning are `any` in the discovery document',
    why:
      "Their schema is the model's (Veo's) own, published only as prose; the discovery document cannot check the " +
      'Veo fields. The Google emulator checks them against the Veo reference (KNOWN_PARAMETERS and validateSubmit) ' +
      'and answers an unknown parameter with Google\'s 400 "Unknown name".',
    source: 'https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation',
  },
  {
    id: 'google/storage-media-download',
    what: '`alt=media` on objects.get, on /storage/v1/… or /download/storage/v1/…',
    why:
      'The global `alt` parameter lists only "json"; objects.get has supportsMediaDownload (alt=media allowed) and ' +
      'useMediaDownloadService (the /download/ prefix). Cloud Storage documents alt=media on the plain path too, ' +
      'which is what @google-cloud/storage uses.',
    source: `${GCS_DOCS}/json_api/v1/objects/get and ${GCS_DOCS}/json_api#media`,
  },
  {
    id: 'google/storage-resumable',
    what: 'resumable uploads on /upload/storage/v1/b/{bucket}/o?uploadType=resumable, continued by PUT/DELETE with upload_id',
    why:
      'The discovery document names a resumable path /resumable/upload/storage/v1/…; Cloud Storage documents (and ' +
      '@google-cloud/storage uses) /upload/storage/v1/…?uploadType=resumable, then PUT chunks (Content-Range ' +
      '"bytes a-b/N", "bytes a-b/*" or "bytes */N") to the session URI, whose upload_id parameter the document does ' +
      'not declare, and DELETE to cancel. Both paths accepted; upload_id only on the session requests.',
    source: `${GCS_DOCS}/performing-resumable-uploads and ${GCS_DOCS}/json_api/v1/how-tos/resumable-upload`,
  },
  {
    id: 'google/storage-auth-on-emulator',
    what: 'Cloud Storage requests are not checked for an Authorization header',
    why:
      '@google-cloud/storage sends no credentials to a custom apiEndpoint (how the bot is pointed at the emulator, see ' +
      'StorageService.create), so their absence here says nothing about production. Vertex requests are checked: ' +
      'they must carry `Authorization: Bearer …`.',
    source: 'https://github.com/googleapis/nodejs-storage/blob/main/src/storage.ts (customEndpoint)',
  },
  {
    id: 'google/xml-api-urls',
    what: 'signed and public object URLs (GET /{bucket}/{object}) are not checked here',
    why:
      'They are the XML API, which has no discovery document; the emulator itself verifies V4 signatures, expiry and ' +
      'public access.',
    source: `${GCS_DOCS}/access-control/signed-urls`,
  },
];

interface DiscoveryMethod {
  id: string;
  httpMethod: string;
  path: string;
  flatPath?: string;
  parameters?: Record<string, DiscoveryParam>;
  parameterOrder?: string[];
  request?: { $ref: string };
  supportsMediaDownload?: boolean;
  useMediaDownloadService?: boolean;
  mediaUpload?: { protocols: Record<string, { path: string; multipart?: boolean }> };
}
interface DiscoveryParam {
  type: string;
  location: 'path' | 'query';
  required?: boolean;
  repeated?: boolean;
  pattern?: string;
  enum?: string[];
  format?: string;
  minimum?: string;
  maximum?: string;
}
interface Template {
  method: DiscoveryMethod;
  /** The path template as the document writes it (mediaUpload paths are absolute). */
  path: string;
  re: RegExp;
  keys: { name: string; reserved: boolean }[];
  kind: 'plain' | 'upload' | 'resumable' | 'download';
}
type Found = { route: string; field: string; message: string; sent?: unknown };

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** One discovery document: its methods as path templates, and JSON Schemas of its request bodies. */
export class DiscoveryDoc {
  readonly doc: any;
  readonly name: string;
  private readonly templates: Template[] = [];
  private readonly schemas = new SchemaSet();
  private readonly bodies = new Map<string, unknown>();

  constructor(
    text: string,
    private readonly options: { proto3Json: boolean; requiredFromDescription: boolean },
  ) {
    this.doc = JSON.parse(text);
    this.name = this.doc.name;
    const base = `/${this.doc.servicePath ?? ''}`;
    const visit = (r: any) => {
      for (const m of Object.values((r.methods ?? {}) as Record<string, DiscoveryMethod>)) {
        this.templates.push(this.template(m, base + m.path, 'plain', m.path));
        if (m.useMediaDownloadService) this.templates.push(this.template(m, `/download${base}${m.path}`, 'download'));
        for (const [protocol, p] of Object.entries(m.mediaUpload?.protocols ?? {})) {
          this.templates.push(this.template(m, p.path, protocol === 'resumable' ? 'resumable' : 'upload'));
        }
      }
      for (const child of Object.values((r.resources ?? {}) as Record<string, any>)) visit(child);
    };
    visit(this.doc);
  }

  get revision(): string {
    return this.doc.revision;
  }

  private template(method: DiscoveryMethod, path: string, kind: Template['kind'], shown = path): Template {
    const keys: Template['keys'] = [];
    const re = path.replace(/\{(\+?)(\w+)\}|([^{]+)/g, (_, plus: string, name: string, literal: string) => {
      if (literal !== undefined) return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      keys.push({ name, reserved: plus === '+' });
      return plus ? '(.+)' : '([^/]+)';
    });
    return { method, path: shown, re: new RegExp(`^${re}$`), keys, kind };
  }

  /** Templates whose path matches, best first: the HTTP method and every parameter pattern agreeing wins. */
  match(httpMethod: string, rawPath: string): { t: Template; params: Record<string, string> }[] {
    const hits: { t: Template; params: Record<string, string>; score: number }[] = [];
    for (const t of this.templates) {
      const m = t.re.exec(rawPath);
      if (!m) continue;
      const params: Record<string, string> = {};
      t.keys.forEach((k, i) => {
        const raw = m[i + 1]!;
        params[k.name] = k.reserved ? raw : safeDecode(raw);
      });
      let score = t.method.httpMethod === httpMethod ? 2 : 0;
      const patterns = t.keys.every((k) => {
        const p = t.method.parameters?.[k.name]?.pattern;
        return !p || new RegExp(p).test(params[k.name]!);
      });
      if (patterns) score += 1;
      hits.push({ t, params, score });
    }
    return hits.sort((a, b) => b.score - a.score);
  }

  /** JSON Schema of a method's request body (required fields depend on the method: annotations.required). */
  requestSchema(method: DiscoveryMethod): unknown {
    const ref = method.request?.$ref;
    if (!ref) return undefined;
    const id = `https://conformance.invalid/google/${this.name}/${method.id}.json`;
    if (!this.bodies.has(id)) {
      const defs: Record<string, unknown> = {};
      for (const [name, s] of Object.entries(this.doc.schemas as Record<string, any>))
        defs[name] = this.convert(s, id, method.id);
      this.schemas.add(id, { $defs: defs });
      this.bodies.set(id, { $ref: `${id}#/$defs/${ref}` });
    }
    return this.bodies.get(id);
  }

  explain(schema: unknown, data: unknown, path = ''): Issue[] {
    return this.schemas.explain(schema as object, data, path);
  }

  /** Discovery schema → JSON Schema 2020-12 (quirks google/unknown-fields, google/required-fields, google/proto3-json). */
  private convert(s: any, id: string, methodId: string): any {
    if (!isPlainObject(s)) return {};
    if (typeof s.$ref === 'string') return { $ref: `${id}#/$defs/${s.$ref}` };
    const out: any = {};
    const p3 = this.options.proto3Json;
    switch (s.type) {
      case 'any':
      case undefined:
        if (!s.properties) return {};
        break;
      case 'object':
        break;
      case 'array':
        return { type: 'array', items: this.convert(s.items, id, methodId) };
      case 'boolean':
        return { type: 'boolean' };
      case 'number':
        return p3
          ? { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^-?[0-9.eE+-]+$' }] }
          : { type: 'number' };
      case 'integer': {
        const range =
          s.format === 'uint32' ? { minimum: 0, maximum: 4294967295 } : { minimum: -2147483648, maximum: 2147483647 };
        const n = { type: 'integer', ...range };
        return p3 ? { anyOf: [n, { type: 'string', pattern: '^-?[0-9]+$' }] } : n;
      }
      case 'string': {
        if (s.enum) return { type: 'string', enum: s.enum };
        if (s.format === 'int64' || s.format === 'uint64') {
          const str = { type: 'string', pattern: s.format === 'uint64' ? '^[0-9]+$' : '^-?[0-9]+$' };
          return p3 ? { anyOf: [str, { type: 'integer' }] } : str;
        }
        if (s.format === 'date-time' || s.format === 'google-datetime') return { type: 'string', format: 'date-time' };
        if (s.format === 'date') return { type: 'string', format: 'date' };
        if (s.format === 'byte') return { type: 'string', pattern: '^[A-Za-z0-9+/_-]*={0,2}$' };
        if (s.format === 'google-duration') return { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$' };
        return { type: 'string' };
      }
      default:
        return {};
    }
    out.type = 'object';
    if (s.properties) {
      out.properties = {};
      const required: string[] = [];
      const eitherName: unknown[] = [];
      for (const [name, prop] of Object.entries(s.properties as Record<string, any>)) {
        out.properties[name] = this.convert(prop, id, methodId);
        const alias = p3 && snake(name) !== name ? snake(name) : undefined;
        if (alias) out.properties[alias] = out.properties[name];
        const byAnnotation = Array.isArray(prop?.annotations?.required) && prop.annotations.required.includes(methodId);
        const byDescription =
          this.options.requiredFromDescription &&
          typeof prop?.description === 'string' &&
          /^Required\./.test(prop.description);
        if (!byAnnotation && !byDescription) continue;
        if (alias) eitherName.push({ anyOf: [{ required: [name] }, { required: [alias] }] });
        else required.push(name);
      }
      if (required.length) out.required = required;
      if (eitherName.length) out.allOf = eitherName;
    }
    out.additionalProperties = s.additionalProperties ? this.convert(s.additionalProperties, id, methodId) : false;
    return out;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class GoogleConformance {
  readonly aiplatform: DiscoveryDoc;
  readonly storage: DiscoveryDoc;

  constructor(
    aiplatformText = readFileSync(join(SPECS, 'aiplatform.v1.extract.json'), 'utf8'),
    storageText = readFileSync(join(SPECS, 'storage.v1.json'), 'utf8'),
  ) {
    this.aiplatform = new DiscoveryDoc(aiplatformText, { proto3Json: true, requiredFromDescription: true });
    this.storage = new DiscoveryDoc(storageText, { proto3Json: false, requiredFromDescription: false });
  }

  check(
    records: readonly RequestRecord[],
    testOf: (r: RequestRecord) => string | undefined = () => undefined,
  ): Violation[] {
    const out: Violation[] = [];
    for (const r of records) {
      if (r.route === 'url') continue; // quirk google/xml-api-urls
      const service = r.route === 'storage' ? 'storage' : r.route === 'other' ? 'google' : 'vertex';
      for (const f of this.checkRequest(r))
        out.push({ service, request: `${r.method} ${r.path}`, test: testOf(r), ...f });
    }
    return out;
  }

  checkRequest(r: RequestRecord): Found[] {
    const docs =
      r.route === 'storage'
        ? [this.storage]
        : r.route === 'other'
          ? [this.aiplatform, this.storage]
          : [this.aiplatform];
    for (const doc of docs) {
      const hits = doc.match(r.method, r.path);
      if (hits.length) return this.checkMatched(doc, r, hits[0]!.t, hits[0]!.params);
    }
    return [
      {
        route: r.path,
        field: '',
        message:
          `no method of ${docs.map((d) => `${d.name} v1`).join(' or ')} has this path` +
          (docs.includes(this.aiplatform)
            ? ' (the aiplatform extract holds only the methods the bot uses: re-run scripts/extract-discovery.ts to add one)'
            : ''),
      },
    ];
  }

  private checkMatched(doc: DiscoveryDoc, r: RequestRecord, t: Template, pathParams: Record<string, string>): Found[] {
    const m = t.method;
    const route = `${m.httpMethod} ${t.path} [${m.id}]`;
    const found: Found[] = [];
    const add = (issues: Issue[], prefix = '') =>
      issues.forEach((i) => found.push({ route, field: prefix + i.path, message: i.message, sent: i.sent }));
    const query = new Map<string, string[]>();
    for (const [k, v] of r.query) query.set(k, [...(query.get(k) ?? []), v]);
    const uploadId = query.has('upload_id');
    const upload = t.kind === 'upload' || t.kind === 'resumable';
    const resumableSession = upload && uploadId && (r.method === 'PUT' || r.method === 'DELETE' || r.method === 'POST');

    if (r.method !== m.httpMethod && !resumableSession) {
      found.push({ route, field: '', message: `HTTP method ${r.method}; this method is ${m.httpMethod}` });
      return found;
    }

    for (const [name, value] of Object.entries(pathParams)) {
      const p = m.parameters?.[name];
      if (p?.pattern && !new RegExp(p.pattern).test(value))
        found.push({ route, field: `{${name}}`, message: `must match ${p.pattern}`, sent: value });
      if (!value) found.push({ route, field: `{${name}}`, message: 'path parameter is empty' });
    }

    // Query parameters: the document's global ones and the method's own (location: query).
    const declared = (name: string): DiscoveryParam | undefined => {
      const own = m.parameters?.[name];
      if (own?.location === 'query') return own;
      const global = doc.doc.parameters?.[name] as DiscoveryParam | undefined;
      return global?.location === 'query' ? global : undefined;
    };
    for (const [name, values] of query) {
      if (name === 'upload_id' && upload) continue; // quirk google/storage-resumable
      const p = declared(name);
      if (!p) {
        found.push({ route, field: `?${name}`, message: 'unknown query parameter', sent: values[0] });
        continue;
      }
      if (values.length > 1 && !p.repeated)
        found.push({ route, field: `?${name}`, message: 'given more than once but not repeated', sent: values });
      for (const v of values) {
        const problem = this.paramProblem(name, p, v, m, t);
        if (problem) found.push({ route, field: `?${name}`, message: problem, sent: v });
      }
    }
    for (const [name, p] of Object.entries(m.parameters ?? {}))
      if (p.location === 'query' && p.required && !query.has(name))
        found.push({ route, field: `?${name}`, message: 'required query parameter is missing' });

    // Vertex needs OAuth; Storage is exempt against the emulator (quirk google/storage-auth-on-emulator).
    if (doc === this.aiplatform && r.headers.authorization !== 'Bearer')
      found.push({
        route,
        field: '<authorization>',
        message: 'must be `Bearer <OAuth 2.0 access token>`',
        sent: r.headers.authorization ?? '(none)',
      });

    if (r.bodyError) found.push({ route, field: '(body)', message: r.bodyError });
    if (upload) return [...found, ...this.checkUpload(doc, r, t, query, route, resumableSession)];
    if (t.kind === 'download' && !query.has('alt'))
      found.push({ route, field: '?alt', message: 'the media download path needs alt=media' });

    const schema = doc.requestSchema(m);
    if (!schema) {
      if (r.bodyBytes > 0) found.push({ route, field: '(body)', message: 'this method takes no request body' });
      return found;
    }
    if (r.bodyBytes === 0) {
      found.push({ route, field: '(body)', message: `request body (${m.request!.$ref}) is missing` });
      return found;
    }
    if (!/^application\/json\b/i.test(r.headers['content-type'] ?? ''))
      found.push({
        route,
        field: '<content-type>',
        message: 'a JSON request body needs Content-Type: application/json',
        sent: r.headers['content-type'],
      });
    if (r.body !== undefined) add(doc.explain(schema, r.body));
    return found;
  }

  private paramProblem(
    name: string,
    p: DiscoveryParam,
    v: string,
    m: DiscoveryMethod,
    t: Template,
  ): string | undefined {
    if (name === 'alt' && v === 'media' && m.supportsMediaDownload) return undefined; // quirk google/storage-media-download
    if (name === 'alt' && t.kind === 'download')
      return v === 'media' ? undefined : 'must be "media" on the download path';
    if (p.enum && !p.enum.includes(v)) return `must be one of ${JSON.stringify(p.enum)}`;
    if (p.type === 'boolean' && v !== 'true' && v !== 'false') return 'must be true or false';
    if (p.type === 'integer' && !/^-?[0-9]+$/.test(v)) return 'must be an integer';
    if (p.type === 'integer' && p.minimum !== undefined && Number(v) < Number(p.minimum))
      return `must be at least ${p.minimum}`;
    if (p.type === 'integer' && p.maximum !== undefined && Number(v) > Number(p.maximum))
      return `must be at most ${p.maximum}`;
    if (p.type === 'string' && (p.format === 'int64' || p.format === 'uint64') && !/^-?[0-9]+$/.test(v))
      return `must be an ${p.format} in decimal`;
    if (p.pattern && !new RegExp(p.pattern).test(v)) return `must match ${p.pattern}`;
    return undefined;
  }

  /** Media upload rules of objects.insert (mediaUpload), and the resumable session protocol. */
  private checkUpload(
    doc: DiscoveryDoc,
    r: RequestRecord,
    t: Template,
    query: Map<string, string[]>,
    route: string,
    session: boolean,
  ): Found[] {
    const found: Found[] = [];
    const type = (r.headers['content-type'] ?? '').toLowerCase();
    const uploadType = query.get('uploadType')?.[0];
    const schema = doc.requestSchema(t.method);
    const nameInQuery = query.has('name');
    const metadata = (meta: unknown, prefix: string) => {
      if (schema && meta !== undefined) {
        doc
          .explain(schema, meta, prefix)
          .forEach((i) => found.push({ route, field: i.path, message: i.message, sent: i.sent }));
      }
      if (!nameInQuery && !(isPlainObject(meta) && typeof meta.name === 'string' && meta.name))
        found.push({ route, field: '?name', message: 'the object name is in neither the query nor the metadata' });
    };
    if (session) {
      if (r.method === 'DELETE') return found;
      const range = r.headers['content-range'];
      if (range !== undefined && !/^bytes (\*\/(\d+|\*)|\d+-(\d+|\*)\/(\d+|\*))$/.test(range))
        found.push({
          route,
          field: '<content-range>',
          message: 'not "bytes a-b/N", "bytes a-b/*" or "bytes */N"',
          sent: range,
        });
      return found;
    }
    const allowed = t.kind === 'resumable' ? ['resumable'] : ['media', 'multipart', 'resumable'];
    if (!uploadType || !allowed.includes(uploadType)) {
      found.push({
        route,
        field: '?uploadType',
        message: `must be one of ${JSON.stringify(allowed)}`,
        sent: uploadType,
      });
      return found;
    }
    if (uploadType === 'media') {
      if (!nameInQuery) found.push({ route, field: '?name', message: 'a media upload names the object in the query' });
      if (!type) found.push({ route, field: '<content-type>', message: 'a media upload needs the media Content-Type' });
    } else if (uploadType === 'multipart') {
      if (!type.startsWith('multipart/related'))
        found.push({
          route,
          field: '<content-type>',
          message: 'must be multipart/related',
          sent: r.headers['content-type'],
        });
      const parts = r.parts ?? [];
      if (parts.length !== 2)
        found.push({
          route,
          field: '(body)',
          message: `a multipart upload has 2 parts (metadata, media); got ${parts.length}`,
        });
      const meta = parts[0];
      if (meta && !/^application\/json\b/i.test(meta.headers['content-type'] ?? ''))
        found.push({
          route,
          field: '(part 1)',
          message: 'the metadata part must be application/json',
          sent: meta.headers['content-type'],
        });
      metadata(meta?.json, '');
    } else {
      if (r.bodyBytes > 0 && !/^application\/json\b/.test(type))
        found.push({
          route,
          field: '<content-type>',
          message: 'resumable metadata must be application/json',
          sent: r.headers['content-type'],
        });
      metadata(r.body, '');
    }
    return found;
  }
}
