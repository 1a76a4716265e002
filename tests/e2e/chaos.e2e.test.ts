/**
 * A short run of `npm run chaos` (issue #7, part 6), run exactly as the npm script runs it: two real bot instances
 * killed and restarted at random for 25 seconds while `/video` requests flow, then drained. The runner counts from
 * the emulators what users and the bill saw and exits non-zero on any lost request, second submit or second message.
 */
import { testRedisUrl } from '../helpers/redis';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertConformingReport } from '../conformance';

jest.setTimeout(300_000);

const ROOT = join(__dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChaos(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--enable-source-maps', '-r', './sandbox/register.js', 'chaos/run.ts', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, CHAOS_REDIS_URL: process.env.CHAOS_REDIS_URL || testRedisUrl(8), ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // SIGINT lets the runner kill the bots it started; SIGKILL only if it does not exit after that.
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, 270_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run chaos (short run)', () => {
  it('25 s of random kills and restarts of two instances: nothing lost, submitted twice or announced twice', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'veobot-chaos-conformance-'));
    const report = join(reportDir, 'conformance.json');
    const run = await runChaos(['--seconds', '25', '--instances', '2', '--rate', '2'], {
      VEOBOT_CONFORMANCE_REPORT: report,
    });
    const line = run.stdout.split('\n').find((l) => l.startsWith('CHAOS_RESULT '));
    if (run.code !== 0 || !line)
      throw new Error(`chaos exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    // What the bots sent during the run, against Discord's and Google's published specs (tests/conformance).
    try {
      assertConformingReport(report);
    } finally {
      rmSync(reportDir, { recursive: true, force: true });
    }
    const result = JSON.parse(line.slice('CHAOS_RESULT '.length)) as Record<string, number> & { problems: string[] };

    expect(result).toMatchObject({ lost: 0, duplicateMessages: 0, problems: [] });
    // A second submit only where the first operation failed and its name was lost (it left no output to find).
    expect(result.duplicateSubmits).toBe(result.resubmitsAfterLostFailure);
    // The run really did something: requests were recorded and finished, and instances died and came back.
    expect(result.accepted).toBeGreaterThan(10);
    expect(result.finished).toBe(result.accepted);
    expect(result.sigkills + result.crashPointDeaths).toBeGreaterThanOrEqual(2);
    expect(result.starts).toBeGreaterThanOrEqual(3);
    // The table a person reads.
    for (const label of ['requests sent', 'lost', 'duplicate submits', 'duplicate messages', 'ambiguous attempts'])
      expect(run.stdout).toContain(`| ${label}`);
  });
});
