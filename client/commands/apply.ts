import {
  applyInterfaceSchedule,
  ensureSearchAttributes,
  type ScheduleChange,
} from '../../lib/schedules/sync';
import { UnavailableError } from '../../lib/errors';
import type { CommandContext } from '../context';
import type { Output } from '../output';

const QUICK_CONNECT_MILLIS = 3_000;

/**
 * Applies an interface's committed configuration to its Temporal schedule at once when Temporal
 * is reachable; otherwise says so (the change is already in PostgreSQL: `schedules sync`, or the
 * worker refusing a run of the stale schedule, applies it later). What is applied is read afresh
 * under a lock (lib/schedules/sync.ts), so concurrent commands converge on the last change.
 */
export async function applyToTemporal(
  context: CommandContext,
  output: Output,
  interfaceId: number,
): Promise<ScheduleChange[] | null> {
  let scope;
  try {
    scope = await context.scheduleScope(QUICK_CONNECT_MILLIS);
  } catch (error) {
    if (!(error instanceof UnavailableError)) throw error;
    output.note(
      `note: Temporal is not reachable at ${context.config.temporalAddress}; the schedule was not updated: run \`barcodes schedules sync\` once it is`,
    );
    return null;
  }
  let changes: ScheduleChange[];
  try {
    changes = await applyInterfaceSchedule(scope, context.store, interfaceId);
  } catch (error) {
    // A fresh namespace has none of the product's search attributes, and Temporal refuses the
    // schedule without naming them: register them (or say in one line how), then apply again.
    const registered = await ensureSearchAttributes(scope.client, context.config.temporalNamespace);
    if (registered.length === 0) throw error;
    output.note(
      `note: registered search attributes ${registered.join(', ')} in namespace ${context.config.temporalNamespace}`,
    );
    changes = await applyInterfaceSchedule(scope, context.store, interfaceId);
  }
  for (const change of changes)
    output.note(`schedule ${change.scheduleId}: ${change.action} (${change.detail})`);
  return changes;
}
