// The end of a chaos run: the table it prints and the rule it passes by (nothing lost, no submit twice but the
// resubmits after a failed operation whose name was lost, no message twice, no other problem).

export interface ChaosResult {
  seconds: number;
  instances: number;
  requests: number;
  notAnswered: number;
  refused: number;
  accepted: number;
  /** recorded, then the instance died before acknowledging: resumed and announced in the channel */
  acceptedWithoutAck: number;
  finished: number;
  completed: number;
  failed: number;
  timeout: number;
  lost: number;
  duplicateSubmits: number;
  /** part of duplicateSubmits: the earlier operation failed or was filtered and its name was lost */
  resubmitsAfterLostFailure: number;
  duplicateMessages: number;
  ambiguousAttempts: number;
  ambiguousResubmitted: number;
  starts: number;
  sigkills: number;
  sigterms: number;
  crashPointDeaths: number;
  crashPointsReached: Record<string, number>;
  drainMs: number;
  problems: string[];
}

export function passed(result: ChaosResult): boolean {
  return (
    result.lost === 0 &&
    result.duplicateSubmits === result.resubmitsAfterLostFailure &&
    result.duplicateMessages === 0 &&
    result.problems.length === 0
  );
}

export function printTable(r: ChaosResult): void {
  const points = Object.entries(r.crashPointsReached)
    .map(([p, n]) => `${p} ×${n}`)
    .join(', ');
  const rows: [string, string | number][] = [
    ['run', `${r.seconds} s, ${r.instances} instance(s)`],
    ['instance starts', r.starts],
    ['SIGKILL / SIGTERM from outside', `${r.sigkills} / ${r.sigterms}`],
    ['died at a crash point', `${r.crashPointDeaths}${points ? ` (${points})` : ''}`],
    ['requests sent', r.requests],
    ['  not answered (died before the ack)', r.notAnswered],
    ['  refused with a reason', r.refused],
    [
      '  accepted (request recorded)',
      `${r.accepted} (of which the instance died before the ack: ${r.acceptedWithoutAck})`,
    ],
    ['finished and announced', `${r.finished} (completed ${r.completed}, failed ${r.failed}, timeout ${r.timeout})`],
    ['lost', r.lost],
    [
      'duplicate submits',
      `${r.duplicateSubmits} (after a failed operation whose name was lost: ${r.resubmitsAfterLostFailure})`,
    ],
    ['duplicate messages', r.duplicateMessages],
    ['ambiguous attempts', `${r.ambiguousAttempts} (resubmitted after the grace period: ${r.ambiguousResubmitted})`],
    ['drain', `${(r.drainMs / 1000).toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v)}`).join('\n')}\n\n`);
}
