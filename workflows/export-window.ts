import { proxyActivities, workflowInfo, upsertSearchAttributes, log } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WindowSummary } from '../activities/types';
import {
  DeliveryStatusKey,
  ScheduledStartTimeKey,
  TicketCountKey,
  WindowEndKey,
  WindowStartKey,
} from './search-attributes';

export interface ExportWindowInput {
  interfaceId: number;
}

/** What a run returns; the next run of the schedule reads it as workflowInfo().lastResult. */
export interface ExportWindowResult {
  interfaceId: number;
  /** Windows finished by this run, oldest first (a resumed frozen one, then the new one). */
  windows: WindowSummary[];
  /** The interface's watermark after this run: the end of its last finished window. */
  windowEnd: string | null;
}

// Freezing streams a whole window (up to millions of rows) into the ledger: generous time, but a
// heartbeat every stored chunk so a dead worker is noticed in seconds, not at the timeout.
const { freezeWindow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '60 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 10,
  },
});

// Sending retries transient SMTP faults with backoff for about an hour; after that the run fails,
// the window stays frozen in the ledger, and the next scheduled run sends it unchanged.
const { sendDelivery, markDeliveryFailed } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '60 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 16,
  },
});

/**
 * One scheduled run of an interface: finish the window frozen by an earlier run if there is one,
 * then open, freeze and send the next window. A failed run moves nothing: the ledger keeps the
 * frozen window, and the next run (scheduled or `barcodes run`) carries on from it.
 */
export async function exportWindow(input: ExportWindowInput): Promise<ExportWindowResult> {
  const info = workflowInfo();
  const previous = info.lastResult as ExportWindowResult | undefined;
  const scheduledAt = info.typedSearchAttributes.get(ScheduledStartTimeKey) ?? new Date(info.startTime);
  const windows: WindowSummary[] = [];
  let windowEnd = previous?.windowEnd ?? null;

  // At most two rounds: the pending frozen window, then a fresh one.
  for (let round = 0; round < 2; round++) {
    const window = await freezeWindow({
      interfaceId: input.interfaceId,
      scheduledAt: scheduledAt.toISOString(),
      lastWindowEnd: windowEnd,
      workflowId: info.workflowId,
    });
    if (window.status === 'nothing-due') {
      windowEnd = window.windowEnd;
      break;
    }
    publish(window);
    if (window.status === 'pending' || window.status === 'failed') {
      try {
        await sendDelivery({ deliveryId: window.deliveryId! });
      } catch (error) {
        const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
        await markDeliveryFailed({ deliveryId: window.deliveryId!, reason });
        publish({ ...window, status: 'failed' });
        log.warn('window not delivered; the next run sends it unchanged', { interfaceId: input.interfaceId, deliveryId: window.deliveryId });
        throw error;
      }
      window.status = 'sent';
      publish(window);
    }
    windows.push(window);
    windowEnd = window.windowEnd;
    if (!window.resumed) break;
  }
  return { interfaceId: input.interfaceId, windows, windowEnd };
}

function publish(window: WindowSummary): void {
  upsertSearchAttributes([
    { key: WindowStartKey, value: new Date(window.windowStart) },
    { key: WindowEndKey, value: new Date(window.windowEnd) },
    { key: TicketCountKey, value: window.ticketCount },
    { key: DeliveryStatusKey, value: window.status },
  ]);
}
