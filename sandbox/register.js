/* global require, module */
// `node -r ./sandbox/register.js sandbox/run.ts`: runs the sandbox's TypeScript (and the test emulators it imports)
// without ts-node or tsx. Each .ts file outside node_modules is transpiled to CommonJS by the TypeScript compiler the
// project already installs. No type check here: `npm run typecheck` covers these files.
/* eslint-disable @typescript-eslint/no-require-imports */
const { readFileSync } = require('node:fs');
const { sep } = require('node:path');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  experimentalDecorators: true,
  inlineSourceMap: true,
};

require.extensions['.ts'] = (mod, filename) => {
  if (filename.includes(`${sep}node_modules${sep}`)) {
    throw new Error(`sandbox/register.js does not compile TypeScript inside node_modules: ${filename}`);
  }
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), { compilerOptions, fileName: filename });
  mod._compile(outputText, filename);
};

module.exports = {};
