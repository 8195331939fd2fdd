import { defineQuery } from '@temporalio/workflow';
import type { WindowSummary } from '../activities/types';

// Shared by the backfill workflow and the CLI that starts it: no activity proxies here.

/**
 * Most windows one backfill takes. Continue-as-new makes any count deliverable, so this is no
 * longer a limit of the mechanism: it catches a typo in --from (0001-01-01 would be 70 million
 * windows at 15 minutes) and bounds how long one backfill runs (one source query per window).
 * 10,000 windows: 104 days at 15 minutes, about 7 days at 1 minute; split longer ranges.
 */
export const MAX_BACKFILL_WINDOWS = 10_000;

/**
 * Windows one workflow run delivers before it continues as new. A window costs at most 13 history
 * events (freeze and send activities, their workflow tasks, the search attribute upsert), so 300
 * stay below Temporal's suggestion to continue (4 Ki events) and far below its hard limit (51,200
 * events, which ended an 8,000-window backfill after 7,314 windows before runs continued as new).
 */
export const DEFAULT_BACKFILL_WINDOWS_PER_RUN = 300;

/**
 * Version of the backfill input the CLI writes. Version 2: windows are computed one by one (never
 * as a list), the run continues as new every `windowsPerRun` windows, and the result is a bounded
 * summary (the deliveries are in the ledger). An input without it (a backfill started by an
 * earlier release, a recorded history) keeps the version 1 steps: one run, every summary returned.
 * The input versions the workflow, as ExportWindowInput does, instead of patched().
 */
export const BACKFILL_INPUT_VERSION = 2;

export interface BackfillInput {
  interfaceId: number;
  /** ISO start of the range (inclusive). */
  from: string;
  /** ISO end of the range (exclusive). */
  to: string;
  /** Size of each delivered window: the interface's interval. */
  windowMillis: number;
  /** Absent: version 1. */
  version?: number;
  /** Version 2: windows per run before continuing as new (default DEFAULT_BACKFILL_WINDOWS_PER_RUN). */
  windowsPerRun?: number;
  /** Version 2: what the earlier runs of this backfill did; absent in the first run. */
  carried?: BackfillTally;
}

/** What a backfill has done so far, over all its runs. Small and fixed in size: it crosses runs. */
export interface BackfillTally {
  /** Windows finished; also the index of the next window to deliver. */
  windowsDone: number;
  ticketsDelivered: number;
  /** Windows that sent an email (the others held no tickets). */
  windowsSent: number;
  /** Runs before this one (continue-as-new). */
  runs: number;
}

export interface BackfillProgress {
  windowsDone: number;
  windowsTotal: number;
  ticketsDelivered: number;
}

/** The result of a version 2 backfill: bounded, whatever the number of windows. */
export interface BackfillResult extends BackfillProgress {
  interfaceId: number;
  windowsSent: number;
  /** Workflow runs the backfill took (1 + its continue-as-new count). */
  runs: number;
}

/** The result of a version 1 backfill: every window's summary. */
export interface LegacyBackfillResult extends BackfillProgress {
  interfaceId: number;
  deliveries: WindowSummary[];
}

/** Answers for the whole backfill, across its continue-as-new runs (the CLI's progress bar). */
export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

/** Failure type of a backfill whose range or window size cannot be delivered. */
export const INVALID_BACKFILL_RANGE = 'InvalidBackfillRange';

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
