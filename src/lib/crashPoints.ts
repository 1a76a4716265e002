/**
 * Named places where a test can make the bot die abruptly (SIGKILL to itself), to prove that every request still
 * ends finished, paid for once and announced once. Read once at start; when unset, `reach` is a no-op.
 */
export const CRASH_POINTS = [
  'after-claim',
  // a live request is recorded and its requester sees the progress embed (with Cancel); the worker has not started
  'before-run',
  'after-attempt-recorded',
  'after-veo-accepted',
  'while-polling',
  'after-output-ready',
  'after-completed',
  'after-message-sent',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export class CrashPoints {
  private readonly armed: CrashPoint | undefined;

  public constructor(setting: string | undefined) {
    if (setting && !(CRASH_POINTS as readonly string[]).includes(setting)) {
      throw new Error(`CRASH_POINT=${setting} is not one of ${CRASH_POINTS.join(', ')}`);
    }
    this.armed = setting as CrashPoint | undefined;
  }

  public reach(point: CrashPoint): void {
    if (this.armed !== point) return;
    // Only ever armed by tests: die the way a power cut or OOM kill would, with no cleanup.
    process.stderr.write(`CRASH_POINT ${point} reached: killing process ${process.pid}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
