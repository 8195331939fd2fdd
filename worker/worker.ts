import v8 from 'node:v8';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../lib/config';
import { connectWorkerConnection } from '../lib/temporal/connection';
import { dataConverterOption } from '../lib/security/data-converter';
import { createActivities } from '../activities';
import { buildDependencies, type DependencyOverrides } from './dependencies';

export interface StartWorkerOptions extends DependencyOverrides {
  /** Activities run at once. Each holds a pool connection while it streams a window. */
  maxConcurrentActivities?: number;
  /** Workflow tasks run at once (cheap: workflow code only orchestrates). */
  maxConcurrentWorkflowTasks?: number;
  /** Identity shown in the Temporal UI's worker list. */
  identity?: string;
  /** A prebuilt workflow bundle (tests start many workers; bundling once saves seconds each). */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Old-generation growth V8 allows between full collections, in percent of the live heap; null
   * leaves V8's own choice (up to 300%). See DEFAULT_HEAP_GROWING_PERCENT.
   */
  heapGrowingPercent?: number | null;
}

export const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 20;
/**
 * Streaming a large window promotes short-lived rows to V8's old generation at ~15 MB/s. V8 lets
 * that generation grow to about four times its live size before a full collection, and a worker's
 * live heap is ~60 MB (workflow bundle, SDK), so a million-ticket window raised the worker's RSS
 * by 170 MB of garbage; at 50% it rose by ~20 MB, at no measurable cost in time
 * (docs/performance.md). An operator's own --heap-growing-percent / heap flags win.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;
export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  /** Stops polling, lets running activities finish, closes connections. */
  shutdown(): Promise<void>;
}

/**
 * Creates a worker for the exporter's workflows and activities and starts it. The workflow bundle
 * is built from the compiled `workflows/` folder at start.
 */
export async function startWorker(config: Config, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const maxConcurrentActivities = options.maxConcurrentActivities ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES;
  limitHeapGrowth(options.heapGrowingPercent === undefined ? DEFAULT_HEAP_GROWING_PERCENT : options.heapGrowingPercent);
  const deps = buildDependencies(config, { ...options, poolSize: options.poolSize ?? maxConcurrentActivities + 2 });
  const connection = await connectWorkerConnection(config);
  const workerOptions: WorkerOptions = {
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(deps),
    // Encrypts every payload when BARCODES_PAYLOAD_KEYS is set (README "Security").
    ...dataConverterOption(),
    maxConcurrentActivityTaskExecutions: maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks ?? 40,
    ...(options.identity ? { identity: options.identity } : {}),
    // Give activities in flight time to finish (and record what they sent) on SIGTERM.
    shutdownGraceTime: '30 seconds',
  };
  const worker = await Worker.create(workerOptions);
  const done = worker.run().finally(async () => {
    await deps.close();
    await connection.close();
  });
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/**
 * Sets V8's heap growing factor for this process. V8 reads it each time it recomputes the heap
 * limit, so setting it after start takes effect from the next collection (verified on Node 20).
 * Skipped when the process was started with heap-sizing flags of its own.
 */
function limitHeapGrowth(percent: number | null): void {
  if (percent === null) return;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/--(heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|optimize[-_]for[-_]size)/.test(given)) return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
