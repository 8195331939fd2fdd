import type { Client, WorkflowHandle, WorkflowStartOptions } from '@temporalio/client';
import type { BarcodesWorkflows, WorkflowName } from '../../workflows/boundary';

/**
 * Typed starts of the product's workflows by name. The name picks the workflow's signature from
 * the boundary (workflows/boundary.ts, checked against the code in workflows/index.ts), so input,
 * result and name cannot drift apart, and the workflow code itself stays in the worker's bundle.
 */
export function startWorkflow<K extends WorkflowName>(
  client: Client,
  workflowType: K,
  options: WorkflowStartOptions<BarcodesWorkflows[K]>,
): Promise<WorkflowHandle<BarcodesWorkflows[K]>> {
  return client.workflow.start<BarcodesWorkflows[K]>(workflowType, options);
}

/** A handle on a run of a known workflow: its result typed as the workflow returns it. */
export function workflowHandle<K extends WorkflowName>(
  client: Client,
  _workflowType: K,
  workflowId: string,
): WorkflowHandle<BarcodesWorkflows[K]> {
  return client.workflow.getHandle<BarcodesWorkflows[K]>(workflowId);
}
