import type { ExportInterface } from '../../lib/interfaces/store';
import { deleteInterfaceSchedule, syncInterfaceSchedule, type ScheduleChange } from '../../lib/schedules/sync';
import type { CommandContext } from '../context';
import type { Output } from '../output';

const QUICK_CONNECT_MILLIS = 3_000;

/**
 * Applies an interface change to its Temporal schedule at once when Temporal is reachable;
 * otherwise says so (the change is already in PostgreSQL, `schedules sync` applies it later).
 */
export async function applyToTemporal(
  context: CommandContext,
  output: Output,
  target: ExportInterface | { deletedId: number },
): Promise<ScheduleChange[] | null> {
  let client;
  try {
    client = await context.temporalClient(QUICK_CONNECT_MILLIS);
  } catch {
    output.note(
      `note: Temporal is not reachable at ${context.config.temporalAddress}; the schedule was not updated: run \`barcodes schedules sync\` once it is`,
    );
    return null;
  }
  const changes =
    'deletedId' in target
      ? await deleteInterfaceSchedule(client, target.deletedId)
      : await syncInterfaceSchedule(client, target, context.config);
  for (const change of changes) output.note(`schedule ${change.scheduleId}: ${change.action} (${change.detail})`);
  return changes;
}
