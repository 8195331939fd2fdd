import { Context } from '@temporalio/activity';
import { HEARTBEAT_MILLIS } from './freeze';
import type {
  ExportWindowsResult,
  FreezeWindowInput,
  SendDeliveryInput,
  SendDeliveryResult,
  WindowSummary,
} from '../workflows/boundary';

/**
 * A whole run of an interface's chain in one activity: finish the window an earlier run froze,
 * then freeze and send the next one. It is the same two steps as before, each idempotent through
 * the ledger (a frozen window is committed before it is sent, and claimed by this run), so a retry
 * of this activity sends the frozen window unchanged: the frozen-window guarantee does not depend
 * on the activity boundary. One activity instead of two saves a third of a run's history events
 * and Temporal's work (docs/performance.md, "A cheaper run").
 */
export function createExportWindowsActivities(steps: {
  freezeWindow(input: FreezeWindowInput): Promise<WindowSummary>;
  sendDelivery(input: SendDeliveryInput): Promise<SendDeliveryResult>;
}) {
  async function exportWindows(input: FreezeWindowInput): Promise<ExportWindowsResult> {
    // Alive from the first line: waiting for the interface's lock or the database must not look
    // like a dead worker, or Temporal would start a second attempt beside this one.
    const context = Context.current();
    const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MILLIS);
    try {
      return await exportRun(input);
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function exportRun(input: FreezeWindowInput): Promise<ExportWindowsResult> {
    const windows: WindowSummary[] = [];
    let windowEnd = input.lastWindowEnd;
    // At most two rounds: the pending frozen window, then a fresh one.
    for (let round = 0; round < 2; round++) {
      let current = await steps.freezeWindow({ ...input, lastWindowEnd: windowEnd });
      if (current.status === 'nothing-due') return { windows, windowEnd: current.windowEnd };
      if (current.status === 'refused' || current.status === 'busy')
        return { windows, windowEnd, stopped: current };
      if (current.status === 'pending' || current.status === 'failed') {
        await steps.sendDelivery({ deliveryId: current.deliveryId, workflowId: input.workflowId });
        current = { ...current, status: 'sent' };
      }
      windows.push(current);
      windowEnd = current.windowEnd;
      if (!current.resumed) break;
    }
    return { windows, windowEnd };
  }

  return { exportWindows };
}
