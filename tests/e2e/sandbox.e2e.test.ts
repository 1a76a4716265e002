import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assertConformingReport } from '../conformance';

jest.setTimeout(150_000);

const ROOT = join(__dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the sandbox exactly as the `sandbox` npm script does, in a shell environment plus `env`. */
function runSandbox(env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', '-r', './sandbox/register.js', 'sandbox/run.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 140_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run sandbox (emulators + the real bot on its embedded database, no settings)', () => {
  it('plays the story: killed mid-generation, resumed, Bob told once with his video, admin status, a Reroll after a restart, clean exit', async () => {
    // A shell that has a database and Redis configured (CI does) must not pull the sandbox off its embedded defaults.
    const reportDir = mkdtempSync(join(tmpdir(), 'veobot-sandbox-conformance-'));
    const report = join(reportDir, 'conformance.json');
    const run = await runSandbox({
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/not-a-database',
      REDIS_URL: 'redis://127.0.0.1:1',
      VEOBOT_CONFORMANCE_REPORT: report,
    });
    const out = run.stdout;
    if (run.code !== 0) throw new Error(`sandbox exited ${run.code}\nstdout:\n${out}\nstderr:\n${run.stderr}`);
    // What the bot sent during the story, against Discord's and Google's published specs (tests/conformance).
    try {
      assertConformingReport(report);
    } finally {
      rmSync(reportDir, { recursive: true, force: true });
    }

    // In the order a user would see it.
    const steps = [
      'Bob runs /video prompt:"a red fox running through fresh snow at dawn" length:4',
      "veobot replied to Bob's /video: “veobot is thinking…”",
      'Status: Generating',
      '💥 SIGKILL veobot #1',
      'took over a stale DATA_DIR lock left by a process that is gone',
      '✅ Your video is ready',
      'Resumed after bot restart',
      '📎 sample_0.mp4 (1.5 MiB, video/mp4)',
      'Alice runs /resume status',
      "veobot replied to Alice's /resume status: “veobot is thinking…” (only Alice can see it)",
      'Unfinished video requests in this server',
      'veobot #2 stopped on SIGTERM (exit code 0)',
      'veobot #3 is online',
      'Bob presses Reroll under his video (a message of veobot #2)',
      "veobot replied to Bob's press of “Reroll”: “veobot is thinking…”",
      '[Cancel]',
      '✅ Your video is ready',
      '[Reroll] [Extend] [Edit prompt]',
      'veobot #3 made Bob a new take: the same prompt and settings with seed',
      'veobot #3 stopped on SIGTERM (exit code 0)',
      'sandbox story complete',
    ];
    let at = 0;
    for (const step of steps) {
      const found = out.indexOf(step, at);
      if (found < 0) throw new Error(`expected "${step}" after position ${at} in:\n${out}`);
      at = found + step.length;
    }
    // The restarted bot resumes as soon as it holds the database (its first heartbeat finds the dead process's work),
    // which may be before or after its gateway is READY: either way it is online before the admin's command.
    const online = out.indexOf('veobot #2 is online');
    expect(online).toBeGreaterThan(out.indexOf('took over a stale DATA_DIR lock'));
    expect(online).toBeLessThan(out.indexOf('Alice runs /resume status'));
    expect(out).toMatch(/while Veo is still generating/);
    expect(out).toMatch(/Summary: Veo submits: 2 · .*messages to Bob: 2 \(channel message, interaction reply\)/);
    expect(out).toMatch(/pings: @Bob/); // the resumed result notifies him, and only him
    expect(out).toMatch(/@Bob your video is ready\./); // mentions rendered by name, not as <@id>
    expect(out).not.toMatch(/<@!?\d+>/);
    expect(out).not.toContain('✘');
    expect(out).not.toContain('\x1b['); // no colours when stdout is not a terminal
    expect(out).toContain('DATA_DIR=');
    expect(out).not.toMatch(/opening PostgreSQL database|scheduled tasks on Redis/);

    // Its temporary folder (embedded database, key file) is gone.
    const dataDir = /DATA_DIR=(\S+)/.exec(out)![1]!;
    expect(existsSync(dirname(dataDir))).toBe(false);
  });

  it('fails with a clear message, non-zero, and leaves no bot or folder behind when the story cannot finish in time', async () => {
    const run = await runSandbox({ SANDBOX_TIMEOUT_MS: '2500' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('sandbox story FAILED: timed out after 2.5 s');
    expect(run.stdout).not.toContain('sandbox story complete');
    const pids = [...run.stderr.matchAll(/veobot #\d \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    const dataDir = /DATA_DIR=(\S+)/.exec(run.stdout)![1]!;
    expect(existsSync(dirname(dataDir))).toBe(false);
  });
});
