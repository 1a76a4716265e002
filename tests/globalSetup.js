// End-to-end tests run the compiled entry point (dist/index.js), exactly what `npm start` runs: build it first.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async () => {
  // For quick runs of unit tests only; end-to-end tests need a fresh build.
  if (process.env.VEOBOT_SKIP_BUILD === '1') return;
  execFileSync(
    process.execPath,
    [join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: join(__dirname, '..'),
      stdio: 'inherit',
    },
  );
};
