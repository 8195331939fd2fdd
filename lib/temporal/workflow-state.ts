import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { WorkflowState, WorkflowStateLookup } from '../ledger/retention';

const DESCRIBE_TIMEOUT_MILLIS = 5_000;

/**
 * Asks Temporal whether a workflow may still act: `open` while it runs, `closed` once it ended or
 * Temporal no longer knows it (past the namespace's retention), `unknown` when Temporal cannot be
 * asked. After one failed connection every later answer is `unknown` without waiting again.
 */
export function temporalWorkflowState(connect: () => Promise<Client>): WorkflowStateLookup {
  let unreachable = false;
  return async (workflowId): Promise<WorkflowState> => {
    if (unreachable) return 'unknown';
    let client: Client;
    try {
      client = await connect();
    } catch {
      unreachable = true;
      return 'unknown';
    }
    try {
      const description = await client.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MILLIS, () =>
        client.workflow.getHandle(workflowId).describe(),
      );
      if (description.status.name === 'RUNNING') return 'open';
      return description.status.name === 'UNSPECIFIED' ? 'unknown' : 'closed';
    } catch (error) {
      return error instanceof WorkflowNotFoundError ? 'closed' : 'unknown';
    }
  };
}
