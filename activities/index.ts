import type { ActivityDeps } from './deps';
import { createFreezeActivities } from './freeze';
import { createOutcomeActivities } from './outcome';
import { createSendActivities } from './send';

export type { ActivityDeps } from './deps';

/**
 * The activities, built from their dependencies so that tests can hand in real or fake parts
 * (temporalio/samples-typescript activities-dependency-injection). Each one is idempotent for its
 * window: a retry finds the work already done and repeats nothing.
 */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createFreezeActivities(deps),
    ...createSendActivities(deps),
    ...createOutcomeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
