import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The compiled bot, exactly what `npm start` runs: `dist/index.js` of the repository this file belongs to. Found by
 * walking up to the nearest package.json rather than a fixed `../..`, because the bench compiles this file into
 * `dist-bench/tests/helpers/`.
 */
export const BOT_ENTRY = join(repositoryRoot(__dirname), 'dist', 'index.js');

function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The real bot entry point (`node dist/index.js`) as a child process with the environment an operator would set.
 * Its JSON log lines are parsed so tests can wait for and assert on them.
 */
export class BotProcess {
  public readonly logs: LogLine[] = [];
  /** Date.now() just after the process was spawned. */
  public readonly startedAt = Date.now();
  public stderr = '';
  public stdout = '';
  public readonly exited: Promise<ExitInfo>;
  private readonly waiters = new Set<() => void>();
  /** Date.now() when each log line was read (kept apart so the lines stay exactly what the bot wrote). */
  private readonly readAt = new WeakMap<LogLine, number>();

  private constructor(
    private readonly child: ChildProcess,
    public readonly env: Record<string, string>,
  ) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          continue; // not a log line
        }
        if (typeof parsed === 'object' && parsed !== null) this.readAt.set(parsed, Date.now());
        this.logs.push(parsed);
      }
      this.notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      if (process.env.BOT_DEBUG) process.stderr.write(chunk);
      this.notify();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.notify());
  }

  /** When this process read a log line (Date.now()). */
  public receivedAt(line: LogLine): number {
    const at = this.readAt.get(line);
    if (at === undefined) throw new Error('not a log line of this bot');
    return at;
  }

  public get pid(): number {
    return this.child.pid!;
  }

  public get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the bot; resolves once it logged "gateway ready" unless `waitForReady` is false. `cwd` is where it looks
   * for a `.env` file (default: this process's working directory); `entry` is the script to run (default BOT_ENTRY).
   */
  public static async start(
    env: Record<string, string>,
    options: { waitForReady?: boolean; timeoutMs?: number; cwd?: string; entry?: string } = {},
  ): Promise<BotProcess> {
    const child = spawn(process.execPath, [options.entry ?? BOT_ENTRY], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const bot = new BotProcess(child, env);
    if (options.waitForReady ?? true) {
      await bot.waitForLog((l) => l.msg === 'gateway ready', options.timeoutMs ?? 30_000);
    }
    return bot;
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Waits until a log line matches; fails early if the process exits first. `what` names it in the error. */
  public waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 30_000, what = 'a log line'): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs.find(predicate);
        if (found) return done(() => resolve(found));
        if (!this.running)
          return done(() =>
            reject(
              new Error(`bot exited while waiting for ${what}.\nstderr:\n${this.stderr}\nlast logs:\n${this.tail()}`),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(new Error(`timed out waiting for ${what}.\nstderr:\n${this.stderr}\nlast logs:\n${this.tail()}`)),
          ),
        timeoutMs,
      );
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  public tail(n = 15): string {
    return this.logs
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }

  /** SIGKILL: no cleanup, like a power cut or an OOM kill. */
  public async kill(): Promise<ExitInfo> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM: graceful shutdown. */
  public async stop(timeoutMs = 20_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }
}
