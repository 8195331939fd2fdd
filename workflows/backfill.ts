import { ApplicationFailure, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { freezeBackfillWindow, prepareResend, sendDelivery } from './activities';
import { backfillRangeProblem, backfillWindowAt, countBackfillWindows } from './backfill-windows';
import {
  BACKFILL_INPUT_VERSION,
  DEFAULT_BACKFILL_WINDOWS_PER_RUN,
  FailureTypes,
  backfillProgressQuery,
  type BackfillInput,
  type BackfillProgress,
  type BackfillResult,
  type BackfillTally,
  type DeliveredWindowSummary,
  type LegacyBackfillResult,
  type ResendInput,
  type WindowSummary,
} from './boundary';
import { publish } from './export-window';

/**
 * Re-delivers the tickets created in a past range, one delivery per interval-sized window,
 * labelled backfill. It never moves the interface's watermark: scheduled windows go on as before.
 * Windows are computed one at a time from their index, so the range is bounded before anything is
 * built; every `windowsPerRun` windows the run continues as new with its tally, so neither the
 * history nor the result grows with the range.
 */
export async function backfill(input: BackfillInput): Promise<BackfillResult | LegacyBackfillResult> {
  const from = Date.parse(input.from);
  const to = Date.parse(input.to);
  const problem = backfillRangeProblem(from, to, input.windowMillis);
  if (problem)
    throw ApplicationFailure.nonRetryable(
      `backfill of interface ${input.interfaceId}: ${problem}`,
      FailureTypes.invalidBackfillRange,
    );
  const windowsTotal = countBackfillWindows(from, to, input.windowMillis);
  if ((input.version ?? 1) < BACKFILL_INPUT_VERSION) return backfillInOneRun(input, from, to, windowsTotal);

  const tally: BackfillTally = {
    ...(input.carried ?? { windowsDone: 0, ticketsDelivered: 0, windowsSent: 0, runs: 0 }),
  };
  setHandler(backfillProgressQuery, (): BackfillProgress => ({
    windowsDone: tally.windowsDone,
    windowsTotal,
    ticketsDelivered: tally.ticketsDelivered,
  }));
  const windowsPerRun = Math.max(1, input.windowsPerRun ?? DEFAULT_BACKFILL_WINDOWS_PER_RUN);
  let windowsThisRun = 0;
  while (tally.windowsDone < windowsTotal) {
    // Temporal's own suggestion (history size) counts too: large files make larger events.
    if (windowsThisRun >= windowsPerRun || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof backfill>({ ...input, carried: { ...tally, runs: tally.runs + 1 } });
    }
    const summary = await deliverWindow(
      input.interfaceId,
      backfillWindowAt(from, to, input.windowMillis, tally.windowsDone),
    );
    tally.windowsDone++;
    tally.ticketsDelivered += summary.ticketCount;
    if (summary.status === 'sent') tally.windowsSent++;
    windowsThisRun++;
  }
  return {
    interfaceId: input.interfaceId,
    windowsDone: tally.windowsDone,
    windowsTotal,
    ticketsDelivered: tally.ticketsDelivered,
    windowsSent: tally.windowsSent,
    runs: tally.runs + 1,
  };
}

/** Version 1 steps (a backfill started by an earlier release): one run, every summary returned. */
async function backfillInOneRun(
  input: BackfillInput,
  from: number,
  to: number,
  windowsTotal: number,
): Promise<LegacyBackfillResult> {
  const progress: BackfillProgress = { windowsDone: 0, windowsTotal, ticketsDelivered: 0 };
  setHandler(backfillProgressQuery, () => progress);
  const deliveries: WindowSummary[] = [];
  for (let index = 0; index < windowsTotal; index++) {
    const summary = await deliverWindow(
      input.interfaceId,
      backfillWindowAt(from, to, input.windowMillis, index),
    );
    deliveries.push(summary);
    progress.windowsDone++;
    progress.ticketsDelivered += summary.ticketCount;
  }
  return { interfaceId: input.interfaceId, deliveries, ...progress };
}

/**
 * Freezes one backfill window (a retry, or a run after a worker restart, finds its own delivery by
 * workflow id and window start: continue-as-new keeps the workflow id) and sends it if needed.
 */
async function deliverWindow(
  interfaceId: number,
  window: { from: number; to: number },
): Promise<WindowSummary> {
  let frozen = await freezeBackfillWindow({
    interfaceId,
    from: new Date(window.from).toISOString(),
    to: new Date(window.to).toISOString(),
    workflowId: workflowInfo().workflowId,
  });
  if (frozen.status === 'pending' || frozen.status === 'failed') {
    await sendDelivery({ deliveryId: frozen.deliveryId });
    frozen = { ...frozen, status: 'sent' };
  }
  publish(frozen);
  return frozen;
}

/** Sends a stored file again as a new message (own Message-ID, References: the original). */
export async function resend(input: ResendInput): Promise<DeliveredWindowSummary> {
  // `to` only when given: the activity input of runs without it stays as it was (replay).
  const prepared = await prepareResend({
    deliveryId: input.deliveryId,
    workflowId: workflowInfo().workflowId,
    ...(input.to ? { to: input.to } : {}),
  });
  if (prepared.status !== 'sent') await sendDelivery({ deliveryId: prepared.deliveryId });
  const sent = { ...prepared, status: 'sent' as const };
  publish(sent);
  return sent;
}
