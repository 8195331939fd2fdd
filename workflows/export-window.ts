import { ApplicationFailure, workflowInfo, upsertSearchAttributes } from '@temporalio/workflow';
import { exportWindows, freezeWindow, recordWindowOutcome, sendDelivery } from './activities';
import { describeFailure } from './failures';
import {
  DeliveryStatusKey,
  FailureTypes,
  InterfaceIdKey,
  ScheduledStartTimeKey,
  TicketCountKey,
  WindowEndKey,
  WindowStartKey,
  type ExportWindowInput,
  type ExportWindowResult,
  type WindowSummary,
} from './boundary';

/**
 * One scheduled run of an interface: finish the window frozen by an earlier run if there is one,
 * then open, freeze and send the next window. A failed run moves nothing: the ledger keeps the
 * frozen window, and the next run (scheduled or `barcodes run`) carries on from it.
 */
export async function exportWindow(input: ExportWindowInput): Promise<ExportWindowResult> {
  const info = workflowInfo();
  const previous = info.lastResult as ExportWindowResult | undefined;
  const scheduledAt = info.typedSearchAttributes.get(ScheduledStartTimeKey) ?? new Date(info.startTime);
  const version = input.version ?? 1;
  if (version >= 4) return exportInOneActivity(input, scheduledAt, previous?.windowEnd ?? null);
  const windows: WindowSummary[] = [];
  let windowEnd = previous?.windowEnd ?? null;
  let current: WindowSummary | undefined;
  try {
    // At most two rounds: the pending frozen window, then a fresh one.
    for (let round = 0; round < 2; round++) {
      current = await freezeWindow({
        interfaceId: input.interfaceId,
        scheduledAt: scheduledAt.toISOString(),
        lastWindowEnd: windowEnd,
        workflowId: info.workflowId,
        ...(version >= 3 ? { deploymentId: input.deploymentId, configVersion: input.configVersion } : {}),
      });
      if (current.status === 'nothing-due') {
        windowEnd = current.windowEnd;
        break;
      }
      if (current.status === 'refused' || current.status === 'busy') break;
      publish(current);
      if (current.status === 'pending' || current.status === 'failed') {
        await sendDelivery({
          deliveryId: current.deliveryId,
          ...(version >= 3 ? { workflowId: info.workflowId } : {}),
        });
        current = { ...current, status: 'sent' };
        publish(current);
      }
      windows.push(current);
      windowEnd = current.windowEnd;
      if (!current.resumed) break;
    }
  } catch (error) {
    const failure = describeFailure(error);
    if (current && current.deliveryId !== null) publish({ ...current, status: 'failed' });
    // A run that failed before it reached a window is found by the operators' UI query (docs/operators.md) all the same.
    else if (version >= 3) publishStatus(input.interfaceId, 'failed');
    await recordWindowOutcome({
      interfaceId: input.interfaceId,
      deliveryId: current?.deliveryId ?? null,
      windowEnd,
      failure,
    });
    throw error;
  }
  if (current?.status === 'refused') {
    // Visible as a failed run in the UI and to `barcodes run`; not a window failure: it counts
    // toward nothing, and the worker has already put the schedule back in line.
    publishStatus(input.interfaceId, 'refused');
    throw ApplicationFailure.nonRetryable(
      `run refused, nothing exported: ${current.reason}`,
      FailureTypes.runRefused,
    );
  }
  if (current?.status === 'busy') publishStatus(input.interfaceId, 'busy');
  if (version < 2 && (windows.length > 0 || windowEnd)) {
    await recordWindowOutcome({ interfaceId: input.interfaceId, deliveryId: null, windowEnd });
  }
  return { interfaceId: input.interfaceId, windows, windowEnd };
}

/**
 * Input version 4 on: the run's windows in one activity, then one search-attribute update with the
 * last window (or the run's status when it had none); nothing at all for a run with nothing due.
 */
async function exportInOneActivity(
  input: ExportWindowInput,
  scheduledAt: Date,
  lastWindowEnd: string | null,
): Promise<ExportWindowResult> {
  const { workflowId } = workflowInfo();
  let result;
  try {
    result = await exportWindows({
      interfaceId: input.interfaceId,
      scheduledAt: scheduledAt.toISOString(),
      lastWindowEnd,
      workflowId,
      deploymentId: input.deploymentId,
      configVersion: input.configVersion,
    });
  } catch (error) {
    const outcome = {
      interfaceId: input.interfaceId,
      deliveryId: null,
      windowEnd: lastWindowEnd,
      failure: describeFailure(error),
      workflowId,
    };
    if ((input.version ?? 1) < 5) {
      publishStatus(input.interfaceId, 'failed');
      await recordWindowOutcome(outcome);
      throw error;
    }
    // Version 5 on: the window the run held (its claim knows it) shows in the UI beside the status,
    // in the same single search-attribute update, after the outcome is recorded.
    const { failedWindow } = await recordWindowOutcome(outcome);
    if (failedWindow) publish({ ...failedWindow, status: 'failed' });
    else publishStatus(input.interfaceId, 'failed');
    throw error;
  }
  const last = result.windows.at(-1);
  // Refused before any window: the run fails visibly. Refused after it finished a frozen window
  // (the interface was disabled meanwhile): that window was delivered, and the run says so.
  if (result.stopped?.status === 'refused' && !last) {
    publishStatus(input.interfaceId, 'refused');
    throw ApplicationFailure.nonRetryable(
      `run refused, nothing exported: ${result.stopped.reason}`,
      FailureTypes.runRefused,
    );
  }
  if (result.stopped?.status === 'busy') publishStatus(input.interfaceId, 'busy');
  else if (last) publish(last);
  return {
    interfaceId: input.interfaceId,
    windows: result.windows,
    windowEnd: result.windowEnd,
    ...(result.stopped?.status === 'busy' ? { busy: result.stopped.reason } : {}),
  };
}

/** The interface and a run's status alone, for a run that has no window to show. */
function publishStatus(interfaceId: number, status: string): void {
  upsertSearchAttributes([
    { key: InterfaceIdKey, value: String(interfaceId) },
    { key: DeliveryStatusKey, value: status },
  ]);
}

/** Window, ticket count and status as search attributes: visible in the Temporal UI without opening payloads. */
export function publish(
  window: Pick<WindowSummary, 'windowStart' | 'windowEnd' | 'ticketCount' | 'status'>,
): void {
  upsertSearchAttributes([
    { key: WindowStartKey, value: new Date(window.windowStart) },
    { key: WindowEndKey, value: new Date(window.windowEnd) },
    { key: TicketCountKey, value: window.ticketCount },
    { key: DeliveryStatusKey, value: window.status },
  ]);
}
