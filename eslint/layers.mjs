/**
 * The layers of src/ (docs/architecture.md, "Layers"), enforced by `npm run lint`:
 *
 *   domain    the request model, outcomes, policy, video input, ports: imports nothing else of src, no packages
 *   lib       leaf utilities (config, logger, metrics, crash points, setup)
 *   db        data source, migrations, SQL and repositories: domain, lib
 *   services  the work (generation, announcements, leases, resume, admin, Veo, storage): db, domain, lib; no discord.js
 *   discord   domain values turned into Discord messages and components: domain, lib
 *   pieces    commands, listeners, tasks, interaction-handlers (thin): discord, services, domain, lib
 *   app       the composition root: everything; imported only by the entry points (index.ts, scripts)
 *
 * A local rule rather than a plugin: it needs only relative imports resolved against the importing file.
 */
import { dirname, relative, resolve, sep } from 'node:path';

const SRC = resolve(import.meta.dirname, '..', 'src');

const PIECES = ['commands', 'listeners', 'tasks', 'interaction-handlers'];
const ALLOWED = {
  domain: ['domain'],
  lib: ['lib'],
  db: ['db', 'domain', 'lib'],
  services: ['services', 'db', 'domain', 'lib'],
  discord: ['discord', 'domain', 'lib'],
  ...Object.fromEntries(PIECES.map((p) => [p, [p, 'discord', 'services', 'domain', 'lib']])),
  app: ['app', 'db', 'discord', 'domain', 'lib', 'services', ...PIECES],
  entry: ['app', 'db', 'discord', 'domain', 'lib', 'services', ...PIECES, 'entry'],
};
/** Packages a layer must not use: the domain is plain TypeScript; services know no Discord. */
const FORBIDDEN_PACKAGES = {
  domain: /^(?!node:)/,
  services: /^(discord\.js|discord-api-types|@discordjs\/|@sapphire\/)/,
};

/** The layer of a file under src/ (index.ts and scripts are entry points), or undefined outside src/. */
function layerOf(file) {
  const rel = relative(SRC, file);
  if (rel.startsWith('..') || rel === '') return undefined;
  const [first] = rel.split(sep);
  if (first === 'index.ts' || first === 'scripts') return 'entry';
  return first in ALLOWED ? first : undefined;
}

const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the layers of src/ (docs/architecture.md)' },
    schema: [],
    messages: {
      layer: '{{from}} may not import {{to}} ({{source}}): {{from}} imports only {{allowed}}.',
      pkg: '{{from}} may not import the package {{source}}.',
    },
  },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (!from) return {};
    function check(node, source) {
      if (typeof source !== 'string') return;
      if (!source.startsWith('.')) {
        const forbidden = FORBIDDEN_PACKAGES[from];
        if (forbidden && forbidden.test(source)) context.report({ node, messageId: 'pkg', data: { from, source } });
        return;
      }
      const to = layerOf(resolve(dirname(file), source));
      if (!to || ALLOWED[from].includes(to)) return;
      context.report({ node, messageId: 'layer', data: { from, to, source, allowed: ALLOWED[from].join(', ') } });
    }
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      TSImportType: (node) => check(node, node.argument?.literal?.value ?? node.argument?.value),
      CallExpression: (node) => {
        if (
          node.callee.type === 'Identifier' &&
          node.callee.name === 'require' &&
          node.arguments[0]?.type === 'Literal'
        )
          check(node, node.arguments[0].value);
      },
    };
  },
};

export default { rules: { imports: rule } };
