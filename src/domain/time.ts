/** `42s`, `3m 05s`, `2h 07m`: durations as people read them. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const SECOND_MS = 1_000;
