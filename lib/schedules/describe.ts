import { scheduleIdFor } from './schedule-id';
import { describeOrUndefined, type ScheduleScope } from './sync';

/** An interface's schedule as `interface show` prints it (and `--json` gives it). */
interface ScheduleState {
  scheduleId: string;
  /** null: Temporal could not be asked. */
  exists: boolean | null;
  paused?: boolean;
  note?: string;
  nextRun?: string | null;
  lastRun?: string | null;
  lastWorkflowId?: string | null;
  /** Runs of the schedule in progress now. */
  running?: number;
  /** One line for people. */
  text: string;
}

/** Describes the interface's schedule; never throws (an unreachable Temporal is a state too). */
export async function describeInterfaceSchedule(
  scope: () => Promise<Pick<ScheduleScope, 'client' | 'deploymentId'>>,
  interfaceId: number,
): Promise<ScheduleState> {
  let scheduleId = '';
  try {
    const { client, deploymentId } = await scope();
    scheduleId = scheduleIdFor(deploymentId, interfaceId);
    const description = await describeOrUndefined(client, scheduleId);
    if (!description) return { scheduleId, exists: false, text: 'none (run `barcodes schedules sync`)' };
    const last = description.info.recentActions.at(-1);
    const next = description.info.nextActionTimes[0];
    const running = description.info.runningActions.length;
    return {
      scheduleId,
      exists: true,
      paused: description.state.paused,
      note: description.state.note,
      nextRun: next?.toISOString() ?? null,
      lastRun: last?.takenAt.toISOString() ?? null,
      lastWorkflowId: last?.action.workflow.workflowId ?? null,
      running,
      text: `${scheduleId} ${description.state.paused ? 'paused' : 'active'}, next run ${next?.toISOString() ?? '-'}, last run ${last?.takenAt.toISOString() ?? 'never'}${running ? ', running now' : ''}`,
    };
  } catch (error) {
    return { scheduleId, exists: null, text: `unknown (${(error as Error).message})` };
  }
}
