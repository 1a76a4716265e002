import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds `dist/` (what `npm start` runs) in the repository at `root` when it is missing or older than a file in src/.
 * Shared by the sandbox and the chaos run, which both start the compiled bot.
 */
export function ensureBuilt(root: string, say: (line: string) => void): void {
  const entry = join(root, 'dist', 'index.js');
  const stampFile = join(root, 'dist', '.tsbuildinfo');
  const builtAt = existsSync(stampFile) && existsSync(entry) ? statSync(stampFile).mtimeMs : 0;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
      const path = join(dir, e.name);
      return Math.max(max, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  if (builtAt > 0 && newest(join(root, 'src')) <= builtAt) return;
  say(builtAt ? 'src/ changed since the last build: building dist/ …' : 'building dist/ (first run) …');
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    { cwd: root, stdio: 'inherit' },
  );
  // An incremental build with nothing to emit leaves the build info as it was; mark the check as done.
  const now = new Date();
  if (existsSync(stampFile)) utimesSync(stampFile, now, now);
}
