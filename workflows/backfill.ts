import { setHandler, workflowInfo } from '@temporalio/workflow';
import type { WindowSummary } from '../activities/types';
import { freezeBackfillWindow, prepareResend, sendDelivery } from './activities';
import { publish } from './export-window';
import { backfillProgressQuery, backfillWindows, type BackfillProgress, type BackfillResult } from './backfill-shared';

export type { BackfillResult } from './backfill-shared';

export interface BackfillInput {
  interfaceId: number;
  /** ISO start of the range (inclusive). */
  from: string;
  /** ISO end of the range (exclusive). */
  to: string;
  /** Size of each delivered window: the interface's interval. */
  windowMillis: number;
}

/**
 * Re-delivers the tickets created in a past range, one delivery per interval-sized window,
 * labelled backfill. It never moves the interface's watermark: scheduled windows go on as before.
 */
export async function backfill(input: BackfillInput): Promise<BackfillResult> {
  const windows = backfillWindows(Date.parse(input.from), Date.parse(input.to), input.windowMillis);
  const progress: BackfillProgress = { windowsDone: 0, windowsTotal: windows.length, ticketsDelivered: 0 };
  setHandler(backfillProgressQuery, () => progress);
  const deliveries: WindowSummary[] = [];
  for (const window of windows) {
    let frozen = await freezeBackfillWindow({
      interfaceId: input.interfaceId,
      from: new Date(window.from).toISOString(),
      to: new Date(window.to).toISOString(),
      workflowId: workflowInfo().workflowId,
    });
    if (frozen.status === 'pending' || frozen.status === 'failed') {
      await sendDelivery({ deliveryId: frozen.deliveryId! });
      frozen = { ...frozen, status: 'sent' };
    }
    publish(frozen);
    deliveries.push(frozen);
    progress.windowsDone++;
    progress.ticketsDelivered += frozen.ticketCount;
  }
  return { interfaceId: input.interfaceId, deliveries, ...progress };
}

export interface ResendInput {
  deliveryId: number;
}

/** Sends a stored file again as a new message (own Message-ID, References: the original). */
export async function resend(input: ResendInput): Promise<WindowSummary> {
  const prepared = await prepareResend({ deliveryId: input.deliveryId, workflowId: workflowInfo().workflowId });
  if (prepared.status !== 'sent') await sendDelivery({ deliveryId: prepared.deliveryId! });
  const sent = { ...prepared, status: 'sent' as const };
  publish(sent);
  return sent;
}
