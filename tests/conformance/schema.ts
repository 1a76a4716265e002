// JSON Schema 2020-12 validation (ajv) with errors a person can act on: every problem is named by the JSON path of
// the field that has it. Ajv alone answers a failed `anyOf` of seven message shapes with seven branches' worth of
// errors; `explain` walks the schema next to the data instead, follows the one alternative the data meant (by its
// `type` discriminator, else by its JSON type, else the closest one) and reports only that alternative's problems.
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

export interface Issue {
  /** `data.attachments[0].id`; '' for the value as a whole. */
  path: string;
  message: string;
  /** The value found at `path` (absent for a missing field). */
  sent?: unknown;
}

type Schema = boolean | Record<string, any>;

export const UNKNOWN_FIELD = 'unknown field (not in the schema)';

/** Keywords that constrain the value itself (not its members), checked by a shallow ajv schema. */
const LOCAL_KEYWORDS = [
  'type',
  'enum',
  'const',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'not',
];

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const safe = /^[A-Za-z_$@][\w$@.-]*$/.test(key) && !key.includes('.') ? key : JSON.stringify(key);
  return base ? `${base}.${safe}` : safe;
}

/** Short, bounded rendering of a sent value for a report. */
export function preview(v: unknown, max = 120): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * A set of schema documents registered by absolute id (every `$ref` in them must be absolute: `<id>#/pointer`), so
 * any sub-schema object taken out of them can be compiled on its own.
 */
export class SchemaSet {
  private readonly ajv: Ajv2020;
  private readonly roots = new Map<string, unknown>();
  private readonly compiled = new WeakMap<object, ValidateFunction>();
  private readonly shallow = new Map<string, ValidateFunction>();

  constructor(formats: Record<string, true | RegExp | ((s: string) => boolean)> = {}) {
    // strict: false because OpenAPI and discovery documents carry keywords JSON Schema does not know (x-*, example…).
    this.ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
    addFormats(this.ajv);
    for (const [name, f] of Object.entries(formats)) this.ajv.addFormat(name, f);
  }

  add(id: string, doc: object): void {
    this.roots.set(id, doc);
    this.ajv.addSchema(doc, id);
  }

  resolve(ref: string): Schema {
    const hash = ref.indexOf('#');
    const root = this.roots.get(hash < 0 ? ref : ref.slice(0, hash));
    if (root === undefined) throw new Error(`unresolvable $ref ${ref}`);
    let node: any = root;
    const pointer = hash < 0 ? '' : ref.slice(hash + 1);
    for (const raw of pointer.split('/').slice(1)) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      node = node?.[key];
      if (node === undefined) throw new Error(`unresolvable $ref ${ref}`);
    }
    return node as Schema;
  }

  /** Follows `$ref`-only schemas to what they point at. */
  deref(schema: Schema): Schema {
    let s = schema;
    for (let i = 0; i < 50 && typeof s === 'object' && typeof s.$ref === 'string' && Object.keys(s).length === 1; i++)
      s = this.resolve(s.$ref);
    return s;
  }

  validate(schema: Schema, data: unknown): boolean {
    if (typeof schema === 'boolean') return schema;
    let v = this.compiled.get(schema);
    if (!v) {
      v = this.ajv.compile(schema);
      this.compiled.set(schema, v);
    }
    return v(data) as boolean;
  }

  private shallowErrors(local: Record<string, unknown>, data: unknown): ErrorObject[] {
    const key = JSON.stringify(local);
    let v = this.shallow.get(key);
    if (!v) {
      v = this.ajv.compile(local);
      this.shallow.set(key, v);
    }
    return v(data) ? [] : (v.errors ?? []);
  }

  /** Problems of `data` against `schema`, each at the path of the field that has it; [] when it validates. */
  explain(schema: Schema, data: unknown, path = '', depth = 0): Issue[] {
    if (this.validate(schema, data)) return [];
    if (schema === false) return [{ path, message: 'no value is allowed here', sent: data }];
    if (typeof schema !== 'object' || depth > 60) return [{ path, message: 'does not match the schema', sent: data }];
    const s = schema;
    const issues: Issue[] = [];

    if (typeof s.$ref === 'string') issues.push(...this.explain(this.resolve(s.$ref), data, path, depth + 1));
    for (const sub of (s.allOf ?? []) as Schema[]) issues.push(...this.explain(sub, data, path, depth + 1));
    if (s.oneOf || s.anyOf) issues.push(...this.explainUnion(s.oneOf ?? s.anyOf, !!s.oneOf, data, path, depth));

    if (isPlainObject(data)) {
      for (const name of (s.required ?? []) as string[])
        if (!(name in data)) issues.push({ path: joinPath(path, name), message: 'required field is missing' });
      for (const [name, value] of Object.entries(data)) {
        const at = joinPath(path, name);
        if (s.properties && name in s.properties)
          issues.push(...this.explain(s.properties[name], value, at, depth + 1));
        else if (s.additionalProperties === false || s.unevaluatedProperties === false)
          issues.push({ path: at, message: UNKNOWN_FIELD, sent: value });
        else if (isPlainObject(s.additionalProperties))
          issues.push(...this.explain(s.additionalProperties, value, at, depth + 1));
      }
    }
    if (Array.isArray(data) && s.items !== undefined && typeof s.items !== 'boolean') {
      data.forEach((item, i) => issues.push(...this.explain(s.items, item, joinPath(path, i), depth + 1)));
    }

    const local: Record<string, unknown> = {};
    for (const k of LOCAL_KEYWORDS) if (k in s) local[k] = s[k];
    if (Object.keys(local).length) {
      const messages: string[] = [];
      for (const e of this.shallowErrors(local, data)) {
        const detail =
          e.keyword === 'enum'
            ? `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`
            : e.keyword === 'const'
              ? `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
              : (e.message ?? e.keyword);
        if (!messages.includes(detail)) messages.push(detail);
      }
      if (messages.length) issues.push({ path, message: messages.join('; '), sent: data });
    }
    const unique = dedupe(issues);
    return unique.length ? unique : [{ path, message: 'does not match the schema', sent: data }];
  }

  private explainUnion(branches: Schema[], exactlyOne: boolean, data: unknown, path: string, depth: number): Issue[] {
    const passing = branches.filter((b) => this.validate(b, data));
    if (passing.length === 1 || (!exactlyOne && passing.length > 1)) return [];
    if (passing.length > 1)
      return [{ path, message: `matches ${passing.length} alternatives of a oneOf (exactly one allowed)`, sent: data }];

    // An enumeration written as a oneOf of consts (Discord's style): name the allowed values.
    const consts = branches.map((b) => this.deref(b));
    if (consts.every((b) => typeof b === 'object' && 'const' in b))
      return [{ path, message: `must be one of ${JSON.stringify(consts.map((b) => (b as any).const))}`, sent: data }];

    // A message component, command option or callback says which alternative it is by its `type`.
    if (isPlainObject(data) && 'type' in data) {
      const tagged = branches.filter((b) => this.discriminator(b) !== undefined);
      if (tagged.length > 0) {
        const meant = tagged.filter((b) => this.discriminator(b)!.includes(data.type));
        if (meant.length === 1) return this.explain(meant[0]!, data, path, depth + 1);
        if (meant.length === 0) {
          const allowed = [...new Set(tagged.flatMap((b) => this.discriminator(b)!))];
          return [
            { path: joinPath(path, 'type'), message: `must be one of ${JSON.stringify(allowed)}`, sent: data.type },
          ];
        }
      }
    }
    const typed = branches.filter((b) => this.admits(b, data));
    if (typed.length === 0) {
      const types = [...new Set(branches.flatMap((b) => this.types(b) ?? []))];
      return [{ path, message: `must be ${types.join(' or ') || 'something else'}`, sent: data }];
    }
    if (typed.length === 1) return this.explain(typed[0]!, data, path, depth + 1);
    let best: Issue[] | undefined;
    for (const b of typed) {
      const found = this.explain(b, data, path, depth + 1);
      if (!best || found.length < best.length) best = found;
    }
    return best!;
  }

  /** The JSON types a schema allows, or undefined when it does not say. */
  private types(schema: Schema): string[] | undefined {
    const s = this.deref(schema);
    if (typeof s !== 'object') return undefined;
    if (s.type !== undefined) return Array.isArray(s.type) ? s.type : [s.type];
    if (s.const !== undefined) return [jsonType(s.const)];
    for (const sub of (s.allOf ?? []) as Schema[]) {
      const t = this.types(sub);
      if (t) return t;
    }
    const alts = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (alts) {
      const all = alts.map((a) => this.types(a));
      if (all.every((t) => t)) return [...new Set(all.flat() as string[])];
    }
    return undefined;
  }

  private admits(schema: Schema, data: unknown): boolean {
    const t = this.types(schema);
    if (!t) return true;
    const actual = jsonType(data);
    return t.includes(actual) || (actual === 'integer' && t.includes('number'));
  }

  /** The values of `properties.type` an object alternative requires (enum or const), if it names any. */
  private discriminator(schema: Schema): unknown[] | undefined {
    const s = this.deref(schema);
    if (typeof s !== 'object') return undefined;
    const t = s.properties?.type;
    if (t === undefined) {
      for (const sub of (s.allOf ?? []) as Schema[]) {
        const d = this.discriminator(sub);
        if (d) return d;
      }
      return undefined;
    }
    const ts = this.deref(t);
    if (typeof ts !== 'object') return undefined;
    if (ts.const !== undefined) return [ts.const];
    if (Array.isArray(ts.enum)) return ts.enum;
    return undefined;
  }
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Rewrites every `$ref: "#/…"` in `doc` (in place) to `<id>#/…`, so sub-schemas can be compiled on their own. */
export function absolutiseRefs(doc: unknown, id: string): void {
  if (Array.isArray(doc)) doc.forEach((d) => absolutiseRefs(d, id));
  else if (isPlainObject(doc)) {
    for (const [k, v] of Object.entries(doc)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#')) doc[k] = `${id}${v}`;
      else absolutiseRefs(v, id);
    }
  }
}
