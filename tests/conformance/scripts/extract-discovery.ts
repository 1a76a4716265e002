// Makes the committed extract of a Google discovery document: only the methods the bot calls, and the schemas they
// reference (transitively). The aiplatform v1 document is about 3.8 MB; the extract is a few KB and is all the
// conformance check reads.
//
//   node -r ./sandbox/register.js tests/conformance/scripts/extract-discovery.ts \
//     <full aiplatform.v1.json> tests/conformance/specs/google/aiplatform.v1.extract.json \
//     aiplatform.projects.locations.publishers.models.predictLongRunning \
//     aiplatform.projects.locations.publishers.models.fetchPredictOperation
//
// The output keeps the document's own top-level fields (revision, rootUrl, global parameters, …) and adds one field,
// `x-veobot-extract`, naming the source's sha256 and size and the methods kept, so a reviewer can re-make it.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

interface DiscoveryMethod {
  id: string;
  request?: { $ref: string };
  response?: { $ref: string };
  [key: string]: unknown;
}
interface DiscoveryResource {
  methods?: Record<string, DiscoveryMethod>;
  resources?: Record<string, DiscoveryResource>;
}
interface DiscoveryDoc extends DiscoveryResource {
  revision: string;
  schemas: Record<string, unknown>;
  [key: string]: unknown;
}

/** Every `$ref` value anywhere inside `node`. */
function refsIn(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) node.forEach((n) => refsIn(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.add(v);
      else refsIn(v, out);
    }
  }
}

/** The resource tree pruned to the methods in `keep` (by method id); undefined when nothing is left. */
function prune(
  resource: DiscoveryResource,
  keep: Set<string>,
  found: DiscoveryMethod[],
): DiscoveryResource | undefined {
  const out: DiscoveryResource = {};
  for (const [name, m] of Object.entries(resource.methods ?? {})) {
    if (!keep.has(m.id)) continue;
    (out.methods ??= {})[name] = m;
    found.push(m);
  }
  for (const [name, child] of Object.entries(resource.resources ?? {})) {
    const kept = prune(child, keep, found);
    if (kept) (out.resources ??= {})[name] = kept;
  }
  return out.methods || out.resources ? out : undefined;
}

export function extract(
  text: string,
  methodIds: string[],
  source: string,
): { doc: Record<string, unknown>; sha256: string } {
  const full = JSON.parse(text) as DiscoveryDoc;
  const found: DiscoveryMethod[] = [];
  const resources = prune(full, new Set(methodIds), found);
  const missing = methodIds.filter((id) => !found.some((m) => m.id === id));
  if (missing.length) throw new Error(`methods not in the document: ${missing.join(', ')}`);

  const schemas: Record<string, unknown> = {};
  const queue = new Set<string>();
  refsIn(found, queue);
  for (const name of queue) {
    if (schemas[name]) continue;
    const schema = full.schemas[name];
    if (!schema) throw new Error(`schema ${name} is referenced but not defined`);
    schemas[name] = schema;
    refsIn(schema, queue); // a Set iterates over what is added while iterating
  }

  const sha256 = createHash('sha256').update(text).digest('hex');
  const doc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(full)) {
    if (k === 'resources') doc.resources = resources?.resources ?? {};
    else if (k === 'schemas')
      doc.schemas = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
    else if (k !== 'methods') doc[k] = v;
  }
  doc['x-veobot-extract'] = {
    source,
    sha256,
    bytes: Buffer.byteLength(text),
    revision: full.revision,
    methods: methodIds,
    script: 'tests/conformance/scripts/extract-discovery.ts',
  };
  return { doc, sha256 };
}

if (require.main === module) {
  const [input, output, ...methods] = process.argv.slice(2);
  if (!input || !output || methods.length === 0) {
    console.error('usage: extract-discovery.ts <full discovery json> <output json> <method id>...');
    process.exit(2);
  }
  const text = readFileSync(input, 'utf8');
  const { doc, sha256 } = extract(text, methods, process.env.EXTRACT_SOURCE ?? basename(input));
  writeFileSync(output, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`${output}: revision ${String(doc.revision)}, source sha256 ${sha256}`);
}
