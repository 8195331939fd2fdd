import { Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../lib/config';
import { connectWorkerConnection } from '../lib/temporal/connection';
import { dataConverterOption } from '../lib/security/data-converter';
import { DEFAULT_HEAP_GROWING_PERCENT, limitHeapGrowth } from '../lib/heap-growth';
import { createActivities } from '../activities';
import { createWindowLagGauges, type WindowLagGauges } from '../lib/metrics';
import { buildDependencies, type DependencyOverrides, type Dependencies } from './dependencies';
import { startWindowLagReporter, type WindowLagReporter } from './window-lag-reporter';

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

const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 20;
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
  limitHeapGrowth(
    options.heapGrowingPercent === undefined ? DEFAULT_HEAP_GROWING_PERCENT : options.heapGrowingPercent,
  );
  const deps = buildDependencies(config, {
    ...options,
    poolSize: options.poolSize ?? maxConcurrentActivities + 2,
  });
  const connection = await connectWorkerConnection(config);
  const workerOptions: WorkerOptions = {
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(deps),
    // Encrypts every payload when BARCODES_PAYLOAD_KEYS is set (docs/security.md).
    ...dataConverterOption(),
    maxConcurrentActivityTaskExecutions: maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks ?? 40,
    ...(options.identity ? { identity: options.identity } : {}),
    // Give activities in flight time to finish (and record what they sent) on SIGTERM.
    shutdownGraceTime: '30 seconds',
  };
  const worker = await Worker.create(workerOptions);
  const lagReporter = config.metricsAddress ? reportWindowLag(deps) : undefined;
  const done = worker.run().finally(async () => {
    await lagReporter?.stop();
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

let windowLagGauges: WindowLagGauges | undefined;

/**
 * Keeps `barcodes_window_lag_seconds` current from the ledger, on the Runtime's meter: it adds no
 * activity or task queue tags, so there is one series per interface (a process's workers share it).
 */
function reportWindowLag(deps: Dependencies): WindowLagReporter {
  const runtime = Runtime.instance();
  windowLagGauges ??= createWindowLagGauges(runtime.metricMeter);
  return startWindowLagReporter({
    read: () => deps.ledger.interfaceWatermarks(),
    gauges: windowLagGauges,
    onError: (error) =>
      runtime.logger.warn('could not refresh the window-lag metric from the ledger; retrying', {
        error: error.message,
      }),
  });
}
