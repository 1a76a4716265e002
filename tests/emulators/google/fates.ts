// Which fate an accepted Veo operation gets (a prompt rule, the scripted queue, the default), and when it is due.
import type { Fate, OperationRecord } from './types';

export class FateBook {
  private readonly queue: Fate[] = [];
  private readonly promptRules: { substring: string; fate: Fate }[] = [];

  public constructor(private defaultFate: Fate) {}

  public setDefault(fate: Fate): void {
    this.defaultFate = fate;
  }

  /** Queues a fate for the next accepted submit (FIFO; one entry per submit). */
  public scriptNext(fate: Fate): void {
    this.queue.push(fate);
  }

  /** Every prompt containing `substring` gets `fate`; setting it again for the same substring replaces it. */
  public forPrompt(substring: string, fate: Fate): void {
    const rule = this.promptRules.find((r) => r.substring === substring);
    if (rule) rule.fate = fate;
    else this.promptRules.push({ substring, fate });
  }

  /** A prompt rule first, then the queue, then the default. */
  public pick(prompt: string | undefined): Fate {
    const rule = prompt === undefined ? undefined : this.promptRules.find((r) => prompt.includes(r.substring));
    if (rule) return rule.fate;
    return this.queue.shift() ?? this.defaultFate;
  }
}

/** Poll-driven check, called after the poll counter went up. */
export function dueAtPoll(op: OperationRecord): boolean {
  const f = op.fate;
  if (f.kind === 'never') return false;
  const pollsOk = f.afterPolls === undefined || op.polls > f.afterPolls;
  const timeOk = f.afterMs === undefined || Date.now() - op.submittedAt >= f.afterMs;
  return pollsOk && timeOk;
}

/** Time-driven check: a running operation without a poll condition whose time has come, polled or not. */
export function dueByTime(op: OperationRecord, now: number): boolean {
  const f = op.fate;
  if (op.state !== 'running' || f.kind === 'never' || f.afterPolls !== undefined) return false;
  return now - op.submittedAt >= (f.afterMs ?? 0);
}
