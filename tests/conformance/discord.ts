// Checks recorded Discord REST traffic against Discord's own OpenAPI 3.1 document (discord/discord-api-spec, pinned in
// specs/discord/): the route and method exist, path and query parameters are of the declared types, the JSON body
// (or a multipart body's payload_json) validates against the operation's request schema, with unknown fields refused,
// and registered application commands follow the documented naming and ordering rules. Where the document is wrong
// or silent against Discord's documentation, QUIRKS below says so, with a source; README.md lists them too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedCall } from '../emulators/discord';
import { absolutiseRefs, isPlainObject, joinPath, SchemaSet, UNKNOWN_FIELD, type Issue } from './schema';
import type { Quirk, Violation } from './types';

const SPEC_ID = 'https://conformance.invalid/discord/openapi.json';
const SPEC_FILE = join(__dirname, 'specs', 'discord', 'openapi.json');
const DOCS = 'https://discord.com/developers/docs';

/** Where the pinned document is wrong or silent against Discord's documentation or wire behaviour. */
export const DISCORD_QUIRKS: Quirk[] = [
  {
    id: 'discord/permissions-as-strings',
    what: '`default_member_permissions` (commands) and `permissions`/`allow`/`deny` (roles, overwrites) may be a string of decimal digits',
    why:
      'The OpenAPI document types these bit sets as integers, but they exceed 2^53 and Discord documents them as strings ' +
      '("default_member_permissions ?string"); discord.js sends strings. Accepted: an integer, or a string of digits.',
    source: `${DOCS}/interactions/application-commands#application-command-object-application-command-structure and ${DOCS}/topics/permissions`,
  },
  {
    id: 'discord/attachment-index-ids',
    what: '`attachments[].id` may be a small integer: the index n of an uploaded `files[n]`',
    why:
      'The document types attachment ids as snowflake strings; for files uploaded in the same request Discord documents ' +
      'the id as the index of the `files[n]` part (its example sends `"id": 0`), and discord.js sends the number. ' +
      'Accepted only when that files[n] part is in the same request; a dangling index is a violation.',
    source: `${DOCS}/reference#uploading-files`,
  },
  {
    id: 'discord/payload-json',
    what: 'multipart/form-data bodies carry their JSON in a `payload_json` field',
    why:
      'The document describes multipart bodies as the JSON schema plus `files[n]` parts; Discord documents that the JSON ' +
      'travels as the `payload_json` form field. The emulator records payload_json merged with the other text fields; ' +
      'the check validates that against the application/json schema, and file part names against the declared `files[n]`.',
    source: `${DOCS}/reference#uploading-files`,
  },
  {
    id: 'discord/nonce-int-or-string',
    what: '`nonce` is an integer or a string of at most 25 characters',
    why: 'Encoded by the document itself (oneOf int64 | string maxLength 25); listed because the emulator dedupes on it.',
    source: `${DOCS}/resources/message#create-message-jsonform-params`,
  },
  {
    id: 'discord/query-strings',
    what: 'query parameters arrive as text and are read by their declared type',
    why:
      'OpenAPI `in: query` parameters with `schema.type` boolean or integer are sent as `true`/`false` and decimal text ' +
      '(OpenAPI 3.1 style: form); the check converts only those exact spellings before validating.',
    source: 'https://spec.openapis.org/oas/v3.1.0#style-values',
  },
  {
    id: 'discord/djs-false-defaults',
    what: '`tts: false` and `enforce_nonce: false` where the route does not declare them (edits, component updates)',
    why:
      'discord.js (MessagePayload.resolveBody) writes `tts: Boolean(options.tts)` and `enforce_nonce: ' +
      'Boolean(options.enforceNonce)` into every message payload, edits included, and the bot cannot stop it short of ' +
      'bypassing discord.js. Discord ignores the undeclared field, and false is the default, so nothing is lost. ' +
      'Only the value false is accepted: `true` there would be a feature that silently does not happen.',
    source:
      'https://github.com/discordjs/discord.js/blob/14.x/packages/discord.js/src/structures/MessagePayload.js and ' +
      `${DOCS}/resources/webhook#edit-webhook-message-jsonform-params`,
  },
  {
    id: 'discord/unknown-fields',
    what: 'fields the document does not declare are violations',
    why:
      'Discord ignores most unknown JSON fields silently, so a misspelt or misplaced field is a feature that quietly does ' +
      'not happen. The document declares no additionalProperties; the check treats every declared object as closed.',
    source: `${DOCS}/reference`,
  },
];

const PERMISSION_FIELDS = new Set(['default_member_permissions', 'permissions', 'allow', 'deny']);

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: any }> };
  security?: Record<string, string[]>[];
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: any;
}
interface Route {
  template: string;
  re: RegExp;
  keys: string[];
  literals: number;
  item: Record<string, any>;
}

/** Closes every declared object (quirk discord/unknown-fields) and applies the schema-level quirks, in place. */
function patchSchemas(node: unknown, snowflakeRef: string): void {
  if (Array.isArray(node)) return node.forEach((n) => patchSchemas(n, snowflakeRef));
  if (!isPlainObject(node)) return;
  for (const v of Object.values(node)) patchSchemas(v, snowflakeRef);
  const props = node.properties;
  if (!isPlainObject(props)) return;
  const type = node.type;
  const objectish = type === undefined || type === 'object' || (Array.isArray(type) && type.includes('object'));
  if (objectish && node.additionalProperties === undefined) node.additionalProperties = false;
  for (const [name, schema] of Object.entries(props)) {
    if (!isPlainObject(schema)) continue;
    const t = schema.type;
    if (PERMISSION_FIELDS.has(name) && (t === 'integer' || (Array.isArray(t) && t.includes('integer'))))
      props[name] = { anyOf: [schema, { type: 'string', pattern: '^[0-9]{1,20}$' }], 'x-quirk': 'permissions' };
  }
  // discord/attachment-index-ids: attachment request objects (they have `id` plus filename/description).
  if (isPlainObject(props.id) && props.id.$ref === snowflakeRef && 'filename' in props && 'description' in props)
    props.id = { anyOf: [props.id, { type: 'integer', minimum: 0, maximum: 9 }], 'x-quirk': 'attachment-index' };
}

export class DiscordConformance {
  readonly spec: any;
  readonly commit: string;
  private readonly schemas: SchemaSet;
  private readonly routes: Route[] = [];

  constructor(specText = readFileSync(SPEC_FILE, 'utf8'), commit = 'pinned') {
    this.commit = commit;
    this.spec = JSON.parse(specText);
    absolutiseRefs(this.spec, SPEC_ID);
    patchSchemas(this.spec.components, `${SPEC_ID}#/components/schemas/SnowflakeType`);
    patchSchemas(this.spec.paths, `${SPEC_ID}#/components/schemas/SnowflakeType`);
    // Discord's own format names; `snowflake` and `nonce` are also given as patterns/maxLength next to them.
    this.schemas = new SchemaSet({ snowflake: /^(0|[1-9][0-9]*)$/, nonce: true });
    this.schemas.add(SPEC_ID, this.spec);
    for (const [template, item] of Object.entries(this.spec.paths as Record<string, any>)) {
      const keys: string[] = [];
      const segments = template.split('/');
      const re = new RegExp(
        `^${segments
          .map((seg) =>
            /^\{\w+\}$/.test(seg)
              ? (keys.push(seg.slice(1, -1)), '([^/]+)')
              : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
          )
          .join('/')}/?$`,
      );
      this.routes.push({ template, re, keys, literals: segments.filter((s) => !s.startsWith('{')).length, item });
    }
    // A literal segment beats a parameter: /messages/@original before /messages/{message_id}.
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  /** Every violation in `calls`, in order. `test` names the test a call came from, when known. */
  check(
    calls: readonly RecordedCall[],
    testOf: (c: RecordedCall) => string | undefined = () => undefined,
  ): Violation[] {
    const out: Violation[] = [];
    for (const call of calls) {
      const request = `${call.method} ${call.path}`;
      for (const issue of this.checkCall(call)) {
        out.push({ service: 'discord', request, test: testOf(call), ...issue });
      }
    }
    return out;
  }

  /** The problems of one call, each with the route template it was matched to. */
  checkCall(call: RecordedCall): { route: string; field: string; message: string; sent?: unknown }[] {
    const found: { route: string; field: string; message: string; sent?: unknown }[] = [];
    const matched = this.routes.map((r) => ({ r, m: r.re.exec(call.path) })).filter((x) => x.m);
    if (matched.length === 0) {
      return [{ route: call.path, field: '', message: 'no such route in the Discord OpenAPI document' }];
    }
    const hit = matched.find((x) => x.r.item[call.method.toLowerCase()]) ?? matched[0]!;
    const route = `${call.method} ${hit.r.template}`;
    const op = hit.r.item[call.method.toLowerCase()] as Operation | undefined;
    if (!op) {
      const allowed = Object.keys(hit.r.item)
        .filter((k) => k !== 'parameters')
        .map((k) => k.toUpperCase());
      return [
        { route, field: '', message: `method not in the document for this route (it has ${allowed.join(', ')})` },
      ];
    }
    const add = (issues: Issue[], prefix = '') =>
      issues.forEach((i) => found.push({ route, field: prefix + i.path, message: i.message, sent: i.sent }));

    const params = new Map<string, Parameter>();
    for (const p of [...((hit.r.item.parameters ?? []) as Parameter[]), ...(op.parameters ?? [])])
      params.set(`${p.in}:${p.name}`, p);

    hit.r.keys.forEach((key, i) => {
      const p = params.get(`path:${key}`);
      if (p) add(this.schemas.explain(p.schema, hit.m![i + 1], `{${key}}`));
    });

    for (const [name, raw] of Object.entries(call.query ?? {})) {
      const p = params.get(`query:${name}`);
      if (!p) {
        found.push({ route, field: `?${name}`, message: 'unknown query parameter', sent: raw });
        continue;
      }
      add(this.schemas.explain(p.schema, this.fromQuery(p.schema, raw), `?${name}`));
    }
    for (const p of params.values())
      if (p.in === 'query' && p.required && !(p.name in (call.query ?? {})))
        found.push({ route, field: `?${p.name}`, message: 'required query parameter is missing' });

    // Everything the bot sends carries its bot token, except where the operation also allows no auth (webhooks and
    // interaction callbacks).
    const security = op.security ?? this.spec.security;
    if (Array.isArray(security) && !security.some((s) => Object.keys(s).length === 0) && !call.authorized)
      found.push({ route, field: '', message: 'sent without a valid `Authorization: Bot <token>` header' });

    const body = call.body;
    const files = call.files ?? [];
    if (!op.requestBody) {
      if (body !== undefined && !(isPlainObject(body) && Object.keys(body).length === 0))
        found.push({ route, field: '(body)', message: 'this operation takes no request body', sent: body });
      if (files.length) found.push({ route, field: '(files)', message: 'this operation takes no files' });
      return found;
    }
    if (body === undefined) {
      if (op.requestBody.required && files.length === 0)
        found.push({ route, field: '(body)', message: 'request body is required' });
    } else {
      const json = op.requestBody.content['application/json'] ?? Object.values(op.requestBody.content)[0]!;
      add(this.schemas.explain(json.schema, body, '').filter((i) => !djsFalseDefault(i)));
    }

    const multipart = op.requestBody.content['multipart/form-data'];
    if (files.length) {
      if (!multipart) found.push({ route, field: '(files)', message: 'this operation takes no multipart files' });
      else {
        const declared = this.fileFields(multipart.schema);
        for (const f of files)
          if (!declared.has(f.field))
            found.push({
              route,
              field: `(files) ${f.field}`,
              message: `not a declared file part (${[...declared].slice(0, 3).join(', ')}…)`,
              sent: f.name,
            });
      }
    }
    for (const ref of this.attachmentIndexes(body, ''))
      if (!files.some((f) => f.field === `files[${String(ref.value)}]`))
        found.push({
          route,
          field: ref.path,
          message: `attachment index ${String(ref.value)} has no files[${String(ref.value)}] part in this request`,
          sent: ref.value,
        });

    if (/\/commands$/.test(hit.r.template) && (call.method === 'PUT' || call.method === 'POST')) {
      const list = call.method === 'PUT' ? (Array.isArray(body) ? body : []) : [body];
      list.forEach((cmd, i) => add(commandRuleIssues(cmd, call.method === 'PUT' ? `[${i}]` : '')));
    }
    return found;
  }

  /** Query text read as the declared type (quirk discord/query-strings); anything else stays text and fails. */
  private fromQuery(schema: any, raw: string): unknown {
    const s = this.schemas.deref(schema) as any;
    const t = s?.type;
    const has = (x: string) => t === x || (Array.isArray(t) && t.includes(x));
    if (has('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
    if (has('integer') && /^-?(0|[1-9][0-9]*)$/.test(raw)) return Number(raw);
    return raw;
  }

  private fileFields(schema: any): Set<string> {
    const names = new Set<string>();
    const visit = (s: any) => {
      if (!isPlainObject(s)) return;
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, any>))
        if (v?.contentEncoding === 'binary') names.add(k);
      for (const sub of (s.allOf ?? []) as any[]) visit(sub);
    };
    visit(schema);
    return names;
  }

  /** Integer attachment ids (quirk discord/attachment-index-ids) anywhere in a message body. */
  private attachmentIndexes(body: unknown, path: string): { path: string; value: number }[] {
    const out: { path: string; value: number }[] = [];
    if (Array.isArray(body)) body.forEach((b, i) => out.push(...this.attachmentIndexes(b, joinPath(path, i))));
    else if (isPlainObject(body)) {
      for (const [k, v] of Object.entries(body)) {
        if (k === 'attachments' && Array.isArray(v))
          v.forEach((a, i) => {
            if (isPlainObject(a) && typeof a.id === 'number')
              out.push({ path: joinPath(joinPath(joinPath(path, k), i), 'id'), value: a.id });
          });
        else out.push(...this.attachmentIndexes(v, joinPath(path, k)));
      }
    }
    return out;
  }
}

/** Quirk discord/djs-false-defaults: an undeclared `tts` or `enforce_nonce` whose value is false. */
function djsFalseDefault(i: Issue): boolean {
  return i.message === UNKNOWN_FIELD && i.sent === false && /(^|\.)(tts|enforce_nonce)$/.test(i.path);
}

// Application command rules from Discord's documentation that the OpenAPI document cannot express.
const COMMAND_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const NAMING = `${DOCS}/interactions/application-commands#application-command-object-application-command-naming`;

/** Naming, description, option order and size rules of one application command (create/overwrite body). */
export function commandRuleIssues(cmd: unknown, path = ''): Issue[] {
  if (!isPlainObject(cmd)) return [];
  const issues: Issue[] = [];
  const chatInput = cmd.type === undefined || cmd.type === null || cmd.type === 1;
  let chars = 0;
  const named = (o: Record<string, unknown>, at: string, lowercase: boolean) => {
    const name = o.name;
    if (typeof name === 'string') {
      chars += name.length;
      if (lowercase && !COMMAND_NAME.test(name))
        issues.push({
          path: joinPath(at, 'name'),
          message: `must match ${COMMAND_NAME.source} (${NAMING})`,
          sent: name,
        });
      else if (lowercase && name !== name.toLowerCase())
        issues.push({ path: joinPath(at, 'name'), message: `must be lower case (${NAMING})`, sent: name });
    }
    if (typeof o.description === 'string') chars += o.description.length;
  };
  named(cmd, path, chatInput);
  if (chatInput && (typeof cmd.description !== 'string' || cmd.description.length < 1 || cmd.description.length > 100))
    issues.push({
      path: joinPath(path, 'description'),
      message: `a CHAT_INPUT command needs a description of 1-100 characters (${DOCS}/interactions/application-commands#application-command-object-application-command-structure)`,
      sent: cmd.description,
    });
  const options = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    let sawOptional = false;
    const names = new Set<string>();
    list.forEach((o, i) => {
      if (!isPlainObject(o)) return;
      const here = joinPath(at, i);
      named(o, here, true);
      if (typeof o.name === 'string') {
        if (names.has(o.name))
          issues.push({ path: joinPath(here, 'name'), message: 'duplicate option name at this level', sent: o.name });
        names.add(o.name);
      }
      for (const c of Array.isArray(o.choices) ? o.choices : []) {
        if (isPlainObject(c)) chars += String(c.name ?? '').length + String(c.value ?? '').length;
      }
      const sub = o.type === 1 || o.type === 2;
      if (!sub) {
        if (o.required === true && sawOptional)
          issues.push({
            path: joinPath(here, 'required'),
            message: `required options must be listed before optional ones (${DOCS}/interactions/application-commands#application-command-object-application-command-option-structure)`,
            sent: true,
          });
        if (o.required !== true) sawOptional = true;
      }
      options(o.options, joinPath(here, 'options'));
    });
  };
  options(cmd.options, joinPath(path, 'options'));
  if (chars > 4000)
    issues.push({
      path,
      message: `names, descriptions and choice values add up to ${chars} characters; at most 4000 (${DOCS}/interactions/application-commands#registering-a-command)`,
    });
  return issues;
}
