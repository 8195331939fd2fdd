import type { SourceHorizon, OpenTransaction } from './source/ticket-source';

interface WindowPlanInput {
  /** Where the window starts: the end of the interface's previous window (the watermark). */
  start: Date;
  /** The schedule's nominal time for this run (TemporalScheduledStartTime). */
  scheduledAt: Date;
  /** Safety lag subtracted from the end. */
  lagMillis: number;
  horizon: SourceHorizon;
  /** Longest the end may be held back behind `scheduledAt - lag` for an open transaction. */
  maxHoldbackMillis: number;
}

interface HeldBack extends OpenTransaction {
  /** True when the transaction is older than the bound: the window closed past it anyway. */
  beyondBound: boolean;
}

export interface WindowPlan {
  start: Date;
  end: Date;
  /** The open source transaction that limited `end`, if one did. */
  heldBack: HeldBack | null;
}

/**
 * Decides the end of the next window. A ticket's created_at is its transaction's *start*, so a
 * ticket can become visible long after its created_at: the end is held at the start of the oldest
 * transaction still open, so nothing that could still commit into a closed window exists. The hold
 * is bounded (maxHoldback) so one forgotten transaction cannot stall the interface forever.
 * Returns null when there is nothing new to cover yet.
 */
export function planWindow(input: WindowPlanInput): WindowPlan | null {
  const { start, scheduledAt, lagMillis, horizon, maxHoldbackMillis } = input;
  // The database clock bounds too: a Temporal clock ahead of it must not close a window that is
  // still receiving tickets.
  const target = Math.min(scheduledAt.getTime(), horizon.dbNow.getTime()) - lagMillis;
  let end = target;
  let heldBack: HeldBack | null = null;
  const open = horizon.oldestOpen;
  if (open && open.xactStart.getTime() < target) {
    const floor = target - maxHoldbackMillis;
    end = Math.max(open.xactStart.getTime(), floor);
    heldBack = { ...open, beyondBound: open.xactStart.getTime() < floor };
  }
  // Whole seconds: file names and Message-IDs carry the bounds to the second (CONTRACT.md §3), and
  // a held-back window can be shorter than a second; two windows must never share a name.
  end = Math.floor(end / 1000) * 1000;
  if (end <= start.getTime()) return null;
  return { start, end: new Date(end), heldBack };
}
