// The windows of a backfill's range, computed: shared by the backfill workflow and the CLI that
// starts it (pure functions, no activity proxies, safe in the workflow sandbox and outside it).

/**
 * Most windows one backfill takes. Continue-as-new makes any count deliverable, so this is no
 * longer a limit of the mechanism: it catches a typo in --from (0001-01-01 would be 70 million
 * windows at 15 minutes) and bounds how long one backfill runs (one source query per window).
 * 10,000 windows: 104 days at 15 minutes, about 7 days at 1 minute; split longer ranges.
 */
export const MAX_BACKFILL_WINDOWS = 10_000;

/** Windows in [from, to), computed, never listed: a range of any length costs nothing to count. */
export function countBackfillWindows(from: number, to: number, windowMillis: number): number {
  return to > from ? Math.ceil((to - from) / windowMillis) : 0;
}

/** Window `index` of [from, to): interval-sized, the last one may be shorter. */
export function backfillWindowAt(
  from: number,
  to: number,
  windowMillis: number,
  index: number,
): { from: number; to: number } {
  const start = from + index * windowMillis;
  return { from: start, to: Math.min(start + windowMillis, to) };
}

/**
 * Why a range cannot be backfilled, in one line naming --from/--to, or null when it can. Checked
 * by the CLI before it starts anything and again by the workflow before it builds anything.
 */
export function backfillRangeProblem(from: number, to: number, windowMillis: number): string | null {
  if (!Number.isFinite(from) || !Number.isFinite(to)) return '--from/--to: not a valid time';
  if (!(Number.isFinite(windowMillis) && windowMillis > 0))
    return `window size ${windowMillis} ms is not positive`;
  const range = `${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`;
  if (to <= from)
    return `--to: ${new Date(to).toISOString()} is not after --from ${new Date(from).toISOString()}`;
  const count = countBackfillWindows(from, to, windowMillis);
  if (count > MAX_BACKFILL_WINDOWS) {
    return (
      `--from/--to: ${range} holds ${count} windows of ${windowMillis / 1000}s, ` +
      `more than the ${MAX_BACKFILL_WINDOWS} one backfill takes; split the range`
    );
  }
  return null;
}
