/**
 * Publishes the newest state of something a user watches (a progress embed), never more often than `minIntervalMs`
 * and one edit at a time: Discord rate-limits edits, and nobody reads faster. States pushed meanwhile replace each
 * other; only the newest is sent.
 */
export class ThrottledEditor<T> {
  private waiting: { state: T } | undefined;
  private lastPublishedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  public constructor(
    private readonly publish: (state: T) => Promise<unknown>,
    private readonly minIntervalMs: number,
    private readonly onError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  public push(state: T): void {
    if (this.stopped) return;
    this.waiting = { state };
    this.pump();
  }

  /** Resolves once everything pushed so far has been published (or dropped by `stop`). */
  public idle(): Promise<void> {
    if (!this.waiting && !this.sending) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Publishes nothing more; resolves when the edit in flight (if any) has ended. */
  public async stop(): Promise<void> {
    this.stopped = true;
    this.waiting = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    this.settle();
  }

  private pump(): void {
    if (this.timer || this.sending) return;
    if (!this.waiting || this.stopped) {
      this.settle();
      return;
    }
    const wait = this.lastPublishedAt + this.minIntervalMs - this.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      this.timer.unref?.();
      return;
    }
    const { state } = this.waiting;
    this.waiting = undefined;
    this.lastPublishedAt = this.now();
    this.sending = this.publish(state)
      .then(() => undefined)
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.sending = undefined;
        this.pump();
      });
  }

  private settle(): void {
    if (this.waiting && !this.stopped) return;
    if (this.sending) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
