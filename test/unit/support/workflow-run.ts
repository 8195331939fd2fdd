/**
 * Runs one workflow to its end on the local server with a worker of its own (own task queue, the
 * test's fake activities), and returns how it ended and the search attributes it left behind.
 */
import { randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { ScheduledStartTimeKey } from '../../../workflows/boundary';
import { workflowBundle } from './local-temporal';
import type { WorkflowActivities } from './scripted-activities';

export interface WorkflowRun<R> {
  workflowId: string;
  /** The workflow's result, when it completed. */
  result?: R;
  /** Why it failed, when it failed. */
  failure?: WorkflowFailedError;
  /** Search attributes as the server holds them after the run. */
  searchAttributes: TypedSearchAttributes;
}

export async function runWorkflow<R>(
  env: TestWorkflowEnvironment,
  activities: WorkflowActivities,
  workflowType: 'exportWindow' | 'resend',
  input: unknown,
): Promise<WorkflowRun<R>> {
  const taskQueue = `unit-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  const workflowId = `${workflowType}-${randomUUID()}`;
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(workflowType, { taskQueue, workflowId, args: [input] });
    const run: Omit<WorkflowRun<R>, 'searchAttributes'> = { workflowId };
    try {
      run.result = (await handle.result()) as R;
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      run.failure = error;
    }
    return { ...run, searchAttributes: (await handle.describe()).typedSearchAttributes };
  });
}

export interface ScheduledRun<R> {
  workflowId: string;
  result: R;
  /** TemporalScheduledStartTime of the run: when the schedule meant it to happen. */
  scheduledAt: Date | undefined;
}

/**
 * Triggers a paused schedule of exportWindow `runs` times, each after the previous run ended, as
 * `barcodes run` does: only runs of a schedule get the previous run's result (lastResult). The
 * overlap policy is the product's (lib/schedules/sync.ts): with the default, SKIP, the scheduler
 * does not pass the previous result on.
 */
export async function runScheduled<R>(
  env: TestWorkflowEnvironment,
  activities: WorkflowActivities,
  input: unknown,
  runs: number,
): Promise<ScheduledRun<R>[]> {
  const taskQueue = `unit-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  return worker.runUntil(async () => {
    const schedule = await env.client.schedule.create({
      scheduleId: `unit-${randomUUID()}`,
      spec: { intervals: [{ every: '1 day' }] },
      action: { type: 'startWorkflow', workflowType: 'exportWindow', taskQueue, args: [input] },
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE },
      state: { paused: true },
    });
    const done: ScheduledRun<R>[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        await schedule.trigger(ScheduleOverlapPolicy.BUFFER_ONE);
        // Runs triggered within one second share a workflow id: the run id tells them apart.
        const started = await until(
          async () => (await schedule.describe()).info.recentActions[i]?.action.workflow,
        );
        const workflowId = started.workflowId;
        const handle = env.client.workflow.getHandle(workflowId, started.firstExecutionRunId);
        const result = (await handle.result()) as R;
        done.push({
          workflowId,
          result,
          scheduledAt: (await handle.describe()).typedSearchAttributes.get(ScheduledStartTimeKey),
        });
      }
    } finally {
      await schedule.delete();
    }
    return done;
  });
}

/** Polls until `probe` gives a value; the deadline only keeps a broken test from hanging. */
async function until<T>(probe: () => Promise<T | undefined>, deadlineMillis = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMillis;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${deadlineMillis} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
