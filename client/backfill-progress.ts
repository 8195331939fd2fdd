import type { WorkflowHandle } from '@temporalio/client';
import { backfillProgressQuery, type BackfillProgress } from '../workflows/boundary';

/**
 * Asks a running backfill for its progress every `pollMillis` and hands each answer on. The
 * handle must have no run id: a query then goes to the latest run, and every run answers for the
 * whole backfill (its tally crosses continue-as-new), so the numbers never restart at zero. A
 * query that fails (between two runs, a worker restarting) is skipped: the next one answers.
 */
export function followBackfillProgress(
  handle: WorkflowHandle,
  onProgress: (progress: BackfillProgress) => void,
  pollMillis: number,
): () => void {
  let stopped = false;
  let asking = false;
  const timer = setInterval(() => {
    if (asking) return;
    asking = true;
    handle
      .query(backfillProgressQuery)
      .then((progress) => {
        if (!stopped) onProgress(progress);
      })
      .catch(() => {})
      .finally(() => (asking = false));
  }, pollMillis);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** `[#######.......] 120/8640 windows, 5321 tickets` */
export function progressBar(progress: BackfillProgress, width = 30): string {
  const filled = Math.min(
    width,
    Math.round((progress.windowsDone / Math.max(1, progress.windowsTotal)) * width),
  );
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.windowsDone}/${progress.windowsTotal} windows, ${progress.ticketsDelivered} tickets`;
}
