import type { ActivityDeps } from './deps';
import { createFreezeActivities } from './freeze';
import { createOutcomeActivities } from './outcome';
import { createSendActivities } from './send';
import { createExportWindowsActivities } from './export-windows';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { deploymentOfWorkflow } from '../lib/schedules/schedule-id';
import { FailureTypes } from '../workflows/boundary';

export type { ActivityDeps } from './deps';

/**
 * The activities, built from their dependencies so that tests can hand in real or fake parts
 * (temporalio/samples-typescript activities-dependency-injection). Each one is idempotent for its
 * window: a retry finds the work already done and repeats nothing.
 */
export function createActivities(deps: ActivityDeps) {
  const freeze = createFreezeActivities(deps);
  const send = createSendActivities(deps);
  return ownDeploymentOnly(deps, {
    ...freeze,
    ...send,
    ...createOutcomeActivities(deps),
    ...createExportWindowsActivities({ freezeWindow: freeze.freezeWindow, sendDelivery: send.sendDelivery }),
  });
}

/**
 * Every activity first checks that its workflow belongs to this worker's deployment: deployments
 * sharing a namespace and task queue must never act on each other's databases. A run of another
 * deployment fails retryably (WrongDeployment), so Temporal hands the retry to another worker.
 */
function ownDeploymentOnly<T extends Record<string, (input: never) => Promise<unknown>>>(
  deps: Pick<ActivityDeps, 'deploymentId'>,
  activities: T,
): T {
  const guarded = Object.entries(activities).map(([name, activity]) => [
    name,
    async (input: never) => {
      const theirs = deploymentOfWorkflow(Context.current().info.workflowExecution?.workflowId ?? '');
      const own = theirs === null ? null : await deps.deploymentId();
      if (theirs !== null && theirs !== own) {
        throw ApplicationFailure.retryable(
          `a run of deployment ${theirs} reached a worker of deployment ${own}: give each deployment its own TEMPORAL_TASK_QUEUE`,
          FailureTypes.wrongDeployment,
        );
      }
      return activity(input);
    },
  ]);
  return Object.fromEntries(guarded) as T;
}

export type Activities = ReturnType<typeof createActivities>;
