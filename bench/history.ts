/** What a finished workflow's Temporal history tells: its activities' timings, and its cost (events, actions). */
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

/** What one run cost Temporal, read from its history. */
export interface RunCost {
  workflowId: string;
  /** Events in the history. */
  events: number;
  /** Temporal Cloud billable actions visible in the history (see billableActions). */
  actions: number;
  /** Those actions by kind, e.g. { 'workflow started': 1, 'activity scheduled': 1 }. */
  actionsByKind: Record<string, number>;
  /** Started by a Schedule (its start event carries TemporalScheduledById). */
  scheduled: boolean;
  /** The history's size, protobuf-encoded. */
  bytes: number;
}

/**
 * Actions a Schedule's execution costs beyond the start of the workflow it starts: Temporal Cloud
 * bills each execution of a Schedule as three actions, "Schedule Start" (two) and the workflow
 * start (one, already counted from the history). Not in the run's history.
 */
export const SCHEDULE_START_ACTIONS = 2;

export async function runCost(client: Client, workflowId: string): Promise<RunCost> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const { total, byKind } = billableActions(events);
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  return {
    workflowId,
    events: events.length,
    actions: total,
    actionsByKind: byKind,
    scheduled: Boolean(started?.searchAttributes?.indexedFields?.TemporalScheduledById),
    bytes: temporal.api.history.v1.History.encode(history).finish().byteLength,
  };
}

/**
 * Temporal Cloud's billable actions that a history shows, following Temporal's list of actions
 * (Temporal Cloud documentation, "Temporal Cloud Actions": each action type with the history event
 * it maps to): workflow started 1; child workflow initiated 2; search-attribute upsert 1 (one per
 * command, however many attributes; TemporalChangeVersion alone is exempt); workflow options
 * updated 1; workflow reset 1; activity scheduled 1, plus one per retry (the attempt of
 * ActivityTaskStarted minus 1: intermediate attempts write no events); local activities: one per
 * workflow task that recorded markers, plus the non-first attempts the workflow task completion
 * reports; timer started 1; signal received 1 (a signal to another workflow is billed on the
 * signaled side's history); update accepted 1; Nexus operation scheduled or cancel requested 1.
 * Not in a history, so not counted here: the Schedule's own two actions per start
 * (SCHEDULE_START_ACTIONS), queries, activity heartbeats, rejected updates, history export.
 */
export function billableActions(events: readonly temporal.api.history.v1.IHistoryEvent[]): {
  total: number;
  byKind: Record<string, number>;
} {
  const byKind: Record<string, number> = {};
  const add = (kind: string, actions: number) => {
    if (actions > 0) byKind[kind] = (byKind[kind] ?? 0) + actions;
  };
  const markerTasks = new Set<string>();
  for (const event of events) {
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        add('workflow started', 1);
        break;
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        add('child workflow', 2);
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(
          event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        add('search-attribute upsert', fields.some((name) => name !== 'TemporalChangeVersion') ? 1 : 0);
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
        add('options updated', 1);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        if (
          event.workflowTaskFailedEventAttributes?.cause ===
          temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        )
          add('reset', 1);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        add(
          'local activity retry',
          event.workflowTaskCompletedEventAttributes?.meteringMetadata
            ?.nonfirstLocalActivityExecutionAttempts ?? 0,
        );
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        add('activity scheduled', 1);
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        add('activity retry', (event.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        markerTasks.add(String(event.markerRecordedEventAttributes?.workflowTaskCompletedEventId));
        break;
      case EventType.EVENT_TYPE_TIMER_STARTED:
        add('timer', 1);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        add('signal', 1);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        add('update', 1);
        break;
      case EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED:
      case EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED:
        add('nexus operation', 1);
        break;
    }
  }
  add('markers (local activities)', markerTasks.size);
  const total = Object.values(byKind).reduce((sum, actions) => sum + actions, 0);
  return { total, byKind };
}
