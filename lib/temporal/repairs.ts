import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { compactUtc } from '../mail/message';
import {
  BACKFILL_INPUT_VERSION,
  InterfaceIdKey,
  type BackfillInput,
  type BackfillResult,
  type BarcodesWorkflows,
} from '../../workflows/boundary';
import { interfaceSearchAttributes, runSummary } from '../schedules/sync';
import type { DestinationKind } from '../destinations/types';
import { startWorkflow } from './start';
import { workflowFailure } from './workflow-failure';
import { BarcodesError } from '../errors';

/**
 * Backfills and resends: the deliveries made again on purpose, beside the interface's chain.
 * Started by name, typed by the boundary (lib/temporal/start.ts), named under the deployment's prefix like its
 * schedules, labelled with the interface id so the UI's query finds them with its scheduled runs.
 */
interface RepairScope {
  client: Client;
  taskQueue: string;
  deploymentId: string;
}

interface BackfillRequest {
  interface: { id: number; name: string; intervalSeconds: number };
  from: Date;
  to: Date;
  /** Windows per workflow run before it continues as new (tests set it low). */
  windowsPerRun?: number;
}

export function startBackfill(
  scope: RepairScope,
  request: BackfillRequest,
): Promise<WorkflowHandle<BarcodesWorkflows['backfill']>> {
  const { interface: iface, from, to } = request;
  const input: BackfillInput = {
    interfaceId: iface.id,
    from: from.toISOString(),
    to: to.toISOString(),
    windowMillis: iface.intervalSeconds * 1000,
    version: BACKFILL_INPUT_VERSION,
    ...(request.windowsPerRun ? { windowsPerRun: request.windowsPerRun } : {}),
  };
  return startWorkflow(scope.client, 'backfill', {
    workflowId: `barcodes-${scope.deploymentId}-${iface.id}-backfill-${compactUtc(from)}-${compactUtc(to)}-${Date.now()}`,
    taskQueue: scope.taskQueue,
    args: [input],
    typedSearchAttributes: interfaceSearchAttributes(iface),
    staticSummary: `Backfill: ${runSummary(iface)}`,
  });
}

export function startResend(
  scope: RepairScope,
  delivery: { id: number; interfaceId: number },
  iface: { id: number; name: string } | undefined,
  /** Only these destinations (`resend --to`); absent: every destination of the interface. */
  to?: DestinationKind[],
): Promise<WorkflowHandle<BarcodesWorkflows['resend']>> {
  return startWorkflow(scope.client, 'resend', {
    workflowId: `barcodes-${scope.deploymentId}-${delivery.interfaceId}-resend-${delivery.id}-${Date.now()}`,
    taskQueue: scope.taskQueue,
    args: [{ deliveryId: delivery.id, ...(to ? { to } : {}) }],
    typedSearchAttributes: iface
      ? interfaceSearchAttributes(iface)
      : [{ key: InterfaceIdKey, value: String(delivery.interfaceId) }],
    staticSummary: `Resend of delivery ${delivery.id}: ${iface ? runSummary(iface) : `interface ${delivery.interfaceId}`}`,
  });
}

/**
 * The workflow's result, following a backfill's continue-as-new runs to the last one's (the handle
 * has no run id); a failure as one typed error naming the workflow.
 */
export async function resultOf<W extends Workflow>(
  handle: WorkflowHandle<W>,
): Promise<WorkflowResultType<W>> {
  try {
    return await handle.result();
  } catch (error) {
    throw workflowFailure(error, handle.workflowId);
  }
}

/**
 * The result of a backfill this release started (input version 2): its bounded summary. A version
 * 1 result (every window listed) cannot come from startBackfill; it is refused, never misread.
 */
export async function backfillResultOf(
  handle: WorkflowHandle<BarcodesWorkflows['backfill']>,
): Promise<BackfillResult> {
  const result = await resultOf(handle);
  if ('deliveries' in result)
    throw new BarcodesError(
      `backfill ${handle.workflowId} ran the version 1 steps; see \`barcodes deliveries\``,
      'RUN_FAILED',
    );
  return result;
}
