/** Activity timings of a finished workflow, read from its Temporal history. */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface ActivityTiming {
  activityType: string;
  /** When the worker picked the task up (epoch milliseconds). */
  startedAtMillis: number;
  /** When it completed. */
  completedAtMillis: number;
  /** From the worker picking the task up to its completion. */
  millis: number;
}

const EventType = temporal.api.enums.v1.EventType;

export async function activityTimings(client: Client, workflowId: string): Promise<ActivityTiming[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<number, string>();
  const started = new Map<number, number>();
  const timings: ActivityTiming[] = [];
  for (const event of history.events ?? []) {
    const id = Number(event.eventId);
    const at = timeOf(event.eventTime);
    switch (event.eventType) {
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduled.set(id, event.activityTaskScheduledEventAttributes?.activityType?.name ?? '');
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        started.set(Number(event.activityTaskStartedEventAttributes?.scheduledEventId), at);
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const scheduledId = Number(event.activityTaskCompletedEventAttributes?.scheduledEventId);
        const startedAt = started.get(scheduledId) ?? at;
        timings.push({
          activityType: scheduled.get(scheduledId) ?? '',
          startedAtMillis: startedAt,
          completedAtMillis: at,
          millis: at - startedAt,
        });
        break;
      }
    }
  }
  return timings;
}

function timeOf(stamp: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!stamp) return 0;
  return Number(stamp.seconds ?? 0) * 1000 + Math.floor((stamp.nanos ?? 0) / 1e6);
}
