/** The table `npm run bench` prints: one row per figure, beside its target. */

export interface Figure {
  name: string;
  value: string;
  target: string;
  met: boolean | null;
}

export function table(figures: Figure[]): string {
  const rows = [
    ['figure', 'measured', 'target', 'met'],
    ...figures.map((f) => [f.name, f.value, f.target, f.met === null ? '-' : f.met ? 'yes' : 'NO']),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
