import type { ExportInterface } from '../interfaces/store';
import { unscheduledReason } from '../interfaces/schedulability';
import { scheduleIdFor } from './schedule-id';
import { describeOrUndefined, pauseDrift, scheduleDrift, type ScheduleScope } from './sync';

interface InterfaceDrift {
  interfaceId: number;
  scheduleId: string;
  /** What differs, e.g. "schedule active, interface disabled", "interval 900s". */
  differences: string[];
}

/**
 * Every way the interfaces' schedules differ from the database: a missing or superfluous
 * schedule, paused versus enabled, interval, offset, time zone, workflow input version,
 * configuration version. `barcodes doctor` prints them; `schedules sync` mends them.
 */
export async function findScheduleDrift(
  scope: ScheduleScope,
  interfaces: ExportInterface[],
): Promise<InterfaceDrift[]> {
  const found: InterfaceDrift[] = [];
  for (const iface of interfaces) {
    const scheduleId = scheduleIdFor(scope.deploymentId, iface.id);
    const current = await describeOrUndefined(scope.client, scheduleId);
    const unscheduled = unscheduledReason(iface);
    let differences: string[];
    if (!current) differences = unscheduled ? [] : ['schedule missing'];
    else if (unscheduled) differences = [`schedule exists although ${unscheduled}`];
    else
      differences = [pauseDrift(current, iface), ...scheduleDrift(scope, current, iface)].filter(
        (entry): entry is string => entry !== null,
      );
    if (differences.length > 0) found.push({ interfaceId: iface.id, scheduleId, differences });
  }
  return found;
}
