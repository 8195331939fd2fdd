import { defineQuery } from '@temporalio/workflow';
import type { WindowSummary } from '../activities/types';

// Shared by the backfill workflow and the CLI that starts it: no activity proxies here.

export interface BackfillProgress {
  windowsDone: number;
  windowsTotal: number;
  ticketsDelivered: number;
}

export interface BackfillResult extends BackfillProgress {
  interfaceId: number;
  deliveries: WindowSummary[];
}

export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

/** Cuts [from, to) into interval-sized windows (the last one may be shorter). */
export function backfillWindows(from: number, to: number, windowMillis: number): { from: number; to: number }[] {
  const windows = [];
  for (let start = from; start < to; start += windowMillis) windows.push({ from: start, to: Math.min(start + windowMillis, to) });
  return windows;
}

