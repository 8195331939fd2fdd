import type { ActivityDeps } from './deps';
import { createFreezeActivities } from './freeze';
import { createOutcomeActivities } from './outcome';
import { createSendActivities } from './send';
import { createExportWindowsActivities } from './export-windows';

export type { ActivityDeps } from './deps';

/**
 * The activities, built from their dependencies so that tests can hand in real or fake parts
 * (temporalio/samples-typescript activities-dependency-injection). Each one is idempotent for its
 * window: a retry finds the work already done and repeats nothing.
 */
export function createActivities(deps: ActivityDeps) {
  const freeze = createFreezeActivities(deps);
  const send = createSendActivities(deps);
  return {
    ...freeze,
    ...send,
    ...createOutcomeActivities(deps),
    ...createExportWindowsActivities({ freezeWindow: freeze.freezeWindow, sendDelivery: send.sendDelivery }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
