import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The compiled bot, exactly what `npm start` runs (the bench script builds it first). */
export const BOT_ENTRY = join(__dirname, '..', '..', 'dist', 'index.js');

export interface LogLine {
  level: number;
  msg: string;
  /** Date.now() when the bench read the line */
  receivedAt: number;
  [key: string]: unknown;
}

/** The real bot as a child process; its JSON log lines are kept so phases can wait for and read them. */
export class BenchBot {
  public readonly logs: LogLine[] = [];
  public readonly startedAt = Date.now();
  public stderr = '';
  private readonly waiters = new Set<() => void>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.logs.push({ ...(JSON.parse(line) as LogLine), receivedAt: Date.now() });
        } catch {
          // not a log line
        }
      }
      for (const w of this.waiters) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const w of this.waiters) w();
    });
  }

  public static start(env: Record<string, string>): BenchBot {
    const child = spawn(process.execPath, [BOT_ENTRY], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BenchBot(child);
  }

  public get pid(): number {
    return this.child.pid!;
  }

  public get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  public waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs.find(predicate);
        if (found) return done(() => resolve(found));
        if (!this.running)
          return done(() => reject(new Error(`bot exited while waiting for ${what}\n${this.stderr}\n${this.tail()}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out waiting for ${what}\n${this.tail()}`))),
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

  public tail(n = 10): string {
    return this.logs
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }

  /** Resident and peak resident memory of the bot process, in bytes (Linux /proc). */
  public memory(): { rss: number; peakRss: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
  }

  public async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}
