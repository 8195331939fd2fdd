import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { workflowFailure } from '../temporal/workflow-failure';
import { UnavailableError } from '../errors';
import type { ExportWindowResult } from '../../workflows/boundary';
import { workflowHandle } from '../temporal/start';
import { describeOrUndefined } from './sync';

const POLL_MILLIS = 250;
/** How long a triggered run may wait before we check that any worker polls the task queue. */
const NO_WORKER_GRACE_MILLIS = 5_000;

interface RunNowOptions {
  /** The interface's schedule (lib/schedules/schedule-id.ts). */
  scheduleId: string;
  taskQueue: string;
  /** Overall time allowed for the run to be started, picked up and finished. */
  timeoutMillis: number;
  /** Called just before the trigger, e.g. to label the window as kind = run. */
  beforeTrigger?: () => Promise<void>;
}

interface RunNowResult {
  workflowId: string;
  result: ExportWindowResult;
}

/**
 * Runs an interface's next window now by triggering its schedule, so the run shares the
 * schedule's overlap policy (never two windows at once) and last-result chain, then waits for it.
 */
export async function runNow(client: Client, options: RunNowOptions): Promise<RunNowResult> {
  const { scheduleId } = options;
  const before = await describeOrUndefined(client, scheduleId);
  if (!before)
    throw new UnavailableError(`schedule ${scheduleId} does not exist: run \`barcodes schedules sync\``);
  const seen = new Set(before.info.recentActions.map((action) => action.action.workflow.workflowId));
  for (const running of before.info.runningActions) seen.add(running.workflow.workflowId);
  // Windows end on whole seconds (lib/window.ts): let the current second pass, so the run covers
  // everything committed before it was asked for.
  await waitForNextSecond([new Date(), ...before.info.recentActions.map((action) => action.scheduledAt)]);
  await options.beforeTrigger?.();
  const deadline = Date.now() + options.timeoutMillis;
  // The schedule's own overlap policy: a run asked for while another runs waits behind it, so two
  // `barcodes run` (or a run and a scheduled tick) never work on one interface at once.
  await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.BUFFER_ONE);
  const workflowId = await waitForStartedRun(client, scheduleId, seen, deadline, options.taskQueue);
  const result = await waitForResult(client, workflowId, deadline, options.taskQueue);
  return { workflowId, result };
}

async function waitForStartedRun(
  client: Client,
  scheduleId: string,
  seen: Set<string>,
  deadline: number,
  taskQueue: string,
): Promise<string> {
  while (Date.now() < deadline) {
    const description = await describeOrUndefined(client, scheduleId);
    const started = description?.info.recentActions.find(
      (action) => !seen.has(action.action.workflow.workflowId),
    );
    if (started) return started.action.workflow.workflowId;
    await sleep(POLL_MILLIS);
  }
  throw await noProgressError(client, taskQueue, `the schedule did not start the run`);
}

async function waitForResult(
  client: Client,
  workflowId: string,
  deadline: number,
  taskQueue: string,
): Promise<ExportWindowResult> {
  const result = workflowHandle(client, 'exportWindow', workflowId).result();
  result.catch(() => {}); // observed below; this keeps an early exit from leaving it unhandled
  let checkedWorkers = false;
  while (true) {
    const wait = Math.max(0, Math.min(deadline - Date.now(), NO_WORKER_GRACE_MILLIS));
    let outcome: { value: ExportWindowResult } | undefined;
    try {
      outcome = await Promise.race([result.then((value) => ({ value })), sleep(wait).then(() => undefined)]);
    } catch (error) {
      throw workflowFailure(error, `run ${workflowId}`);
    }
    if (outcome) return outcome.value;
    if (!checkedWorkers) {
      checkedWorkers = true;
      if ((await workerCount(client, taskQueue)) === 0) {
        throw new UnavailableError(
          `no worker picked up run ${workflowId}: no worker polls task queue ${taskQueue} (start one with \`barcodes worker\`; the run stays queued)`,
        );
      }
    }
    if (Date.now() >= deadline) {
      throw await noProgressError(
        client,
        taskQueue,
        `run ${workflowId} did not finish within the timeout (it goes on: see \`barcodes deliveries\` or the Temporal UI)`,
      );
    }
  }
}

/** Pollers on the task queue (workflow tasks: every worker of this product polls them). */
export async function workerCount(client: Client, taskQueue: string): Promise<number> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1,
  });
  return response.pollers?.length ?? 0;
}

async function noProgressError(client: Client, taskQueue: string, what: string): Promise<Error> {
  const pollers = await workerCount(client, taskQueue).catch(() => -1);
  if (pollers === 0)
    return new UnavailableError(
      `no worker picked up the run: no worker polls task queue ${taskQueue} (start one with \`barcodes worker\`)`,
    );
  return new UnavailableError(what);
}

/**
 * The scheduler names a triggered run after its time cut to the second, so a trigger in the same
 * second as the previous action would collide with that run's workflow id and be dropped.
 */
async function waitForNextSecond(previousActions: Date[]): Promise<void> {
  const latest = Math.max(0, ...previousActions.map((time) => time.getTime()));
  const nextSecond = Math.floor(latest / 1000) * 1000 + 1000;
  if (Date.now() < nextSecond) await sleep(nextSecond - Date.now() + 10);
}

function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}
