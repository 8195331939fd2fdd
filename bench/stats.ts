/** Small statistics and number formatting for the benchmark's table. */

/** The q-quantile (0..1) of the values, nearest-rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** `1234567` → `1,234,567`. */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en');
}

/** Seconds with one decimal (two below 10 s); minutes from 10 minutes on. */
export function seconds(millis: number): string {
  const s = millis / 1000;
  if (s >= 600) return `${(s / 60).toFixed(1)} min`;
  return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

/** Milliseconds, rounded, for short durations. */
export function millis(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`;
}

export function mib(value: number): string {
  return `${Math.round(value)} MiB`;
}

export function ratio(value: number): string {
  return value.toFixed(2);
}

/** Rows per second, rounded to the thousand above 10,000. */
export function rate(rows: number, millisTaken: number): string {
  const perSecond = (rows * 1000) / millisTaken;
  return `${count(perSecond >= 10_000 ? Math.round(perSecond / 1000) * 1000 : perSecond)} rows/s`;
}
