import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { compactUtc } from '../mail/message';
// Types only: the workflow code stays in the worker's bundle; the name and the type travel together.
import type { backfill, resend } from '../../workflows';
import { BACKFILL_INPUT_VERSION, type BackfillInput } from '../../workflows/backfill-shared';
import { InterfaceIdKey } from '../../workflows/search-attributes';
import { interfaceSearchAttributes, runSummary } from '../schedules/sync';
import type { DestinationKind } from '../destinations/types';
import { workflowFailure } from './workflow-failure';

/**
 * Backfills and resends: the deliveries made again on purpose, beside the interface's chain.
 * Started by name with the workflow's type (typed input and result), named under the deployment's prefix like its
 * schedules, labelled with the interface id so the UI's query finds them with its scheduled runs.
 */
export interface RepairScope {
  client: Client;
  taskQueue: string;
  deploymentId: string;
}

export interface BackfillRequest {
  interface: { id: number; name: string; intervalSeconds: number };
  from: Date;
  to: Date;
  /** Windows per workflow run before it continues as new (tests set it low). */
  windowsPerRun?: number;
}

export function startBackfill(
  scope: RepairScope,
  request: BackfillRequest,
): Promise<WorkflowHandle<typeof backfill>> {
  const { interface: iface, from, to } = request;
  const input: BackfillInput = {
    interfaceId: iface.id,
    from: from.toISOString(),
    to: to.toISOString(),
    windowMillis: iface.intervalSeconds * 1000,
    version: BACKFILL_INPUT_VERSION,
    ...(request.windowsPerRun ? { windowsPerRun: request.windowsPerRun } : {}),
  };
  return scope.client.workflow.start<typeof backfill>('backfill', {
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
): Promise<WorkflowHandle<typeof resend>> {
  return scope.client.workflow.start<typeof resend>('resend', {
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
