import { sleep } from '../../../devstack/log';
import { APPLICATION_NAME } from '../../../lib/db/pool';
import type { FaultStack } from '../fault-stack';
import {
  byMode,
  longestWindowSeconds,
  retriedWindows,
  scenarioRow,
  withFaultStack,
  type Scenario,
} from '../scenario';
import { finishSteadyLoad, startSteadyLoad } from '../steady-load';
import type { WorkerProcess } from '../worker-process';

/** Outages last several intervals (2 and 3 s); the full suite's last tens of seconds. */
const SETTINGS = {
  quick: {
    outageMillis: 10_000,
    afterMillis: 4_000,
    settleMillis: 120_000,
    postgresRestarts: 2,
    postgresCrashes: 0,
  },
  full: {
    outageMillis: 45_000,
    afterMillis: 10_000,
    settleMillis: 300_000,
    postgresRestarts: 3,
    postgresCrashes: 1,
  },
};

/** How long to wait for the exporter to be inside a run before restarting PostgreSQL under it. */
const RUN_IN_PROGRESS_TIMEOUT_MILLIS = 30_000;

/**
 * SMTP down (the port refuses connections) for several intervals, then back: every missed window
 * is delivered, in order, none twice, without anyone intervening.
 */
export const smtpOutage: Scenario = {
  name: 'smtp-outage',
  summary: 'SMTP refuses connections for several intervals; the windows go out in order, once, by themselves',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'smtp-outage' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.startWorker('worker');
      const load = await startSteadyLoad(stack);
      await stack.sink.stopListening();
      await sleep(settings.outageMillis);
      await stack.sink.listenAgain();
      await sleep(settings.afterMillis);
      const sales = await finishSteadyLoad(stack, load, settings.settleMillis);
      const retried = await retriedWindows(stack, load.interfaces);
      return [
        await scenarioRow(stack, 'SMTP outage', load.interfaces, startedAt, {
          sales,
          problems: retried === 0 ? ['no window needed a second SMTP attempt: the outage hit no send'] : [],
          notes: [
            `SMTP down ${settings.outageMillis / 1000} s; ${retried} windows were sent after failed SMTP attempts`,
          ],
        }),
      ];
    }),
};

/**
 * The worker down for several intervals (SIGTERM in the quick suite, SIGKILL at whatever it was
 * doing in the full one), then a new one: the pending run and the next ones cover the whole gap.
 */
export const workerOutage: Scenario = {
  name: 'worker-outage',
  summary: 'no worker for several intervals; the next runs cover the whole gap',
  quick: false,
  run: (context) =>
    withFaultStack(context, { name: 'worker-outage' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      const worker = await stack.startWorker('worker');
      const load = await startSteadyLoad(stack);
      if (context.mode === 'quick') await worker.stop();
      else await worker.kill();
      await sleep(settings.outageMillis);
      await stack.startWorker('replacement');
      await sleep(settings.afterMillis);
      const sales = await finishSteadyLoad(stack, load, settings.settleMillis);
      return [
        await scenarioRow(stack, 'worker outage', load.interfaces, startedAt, {
          sales,
          notes: [
            `worker ${context.mode === 'quick' ? 'stopped (SIGTERM)' : 'killed (SIGKILL)'} for ${settings.outageMillis / 1000} s; ` +
              `longest window ${await longestWindowSeconds(stack, load.interfaces)} s`,
          ],
        }),
      ];
    }),
};

/**
 * The Temporal server (a dev server keeping its state in SQLite) killed for several intervals,
 * then started again on the same port: the schedules catch up and the next runs cover the gap.
 */
export const temporalOutage: Scenario = {
  name: 'temporal-outage',
  summary: 'Temporal killed for several intervals, then back; the schedules catch up, nothing lost',
  quick: false,
  run: (context) =>
    withFaultStack(context, { name: 'temporal-outage', persistentTemporal: true }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      const worker = await stack.startWorker('worker');
      const load = await startSteadyLoad(stack);
      await stack.temporalServer.kill();
      await sleep(settings.outageMillis);
      await stack.temporalServer.start();
      const warnings: string[] = [];
      await replaceIfGone(stack, worker, 'the Temporal outage', warnings);
      await sleep(settings.afterMillis);
      const sales = await finishSteadyLoad(stack, load, settings.settleMillis);
      return [
        await scenarioRow(stack, 'Temporal outage', load.interfaces, startedAt, {
          sales,
          warnings,
          notes: [
            `Temporal down ${settings.outageMillis / 1000} s; longest window ${await longestWindowSeconds(stack, load.interfaces)} s`,
          ],
        }),
      ];
    }),
};

/**
 * PostgreSQL (a throwaway cluster of the suite's own) restarted while a run is inside a
 * transaction, several times, and in the full suite also killed and started again.
 */
export const postgresRestart: Scenario = {
  name: 'postgres-restart',
  summary: 'PostgreSQL restarted (and crashed) in the middle of runs; retries lose and repeat nothing',
  quick: false,
  run: (context) =>
    withFaultStack(context, { name: 'postgres-restart', throwawayPostgres: true }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const cluster = stack.cluster!;
      const startedAt = Date.now();
      let worker = await stack.startWorker('worker');
      const load = await startSteadyLoad(stack);
      const warnings: string[] = [];
      let hits = 0;
      for (let restart = 0; restart < settings.postgresRestarts + settings.postgresCrashes; restart++) {
        if (await waitForRunInProgress(stack)) hits++;
        if (restart < settings.postgresRestarts) {
          await cluster.restart();
        } else {
          await cluster.kill();
          await sleep(settings.outageMillis / 3);
          await cluster.start();
        }
        await sleep(settings.afterMillis);
        worker = await replaceIfGone(
          stack,
          worker,
          `PostgreSQL ${restart < settings.postgresRestarts ? 'restart' : 'crash'} ${restart + 1}`,
          warnings,
        );
      }
      const sales = await finishSteadyLoad(stack, load, settings.settleMillis);
      const faults = settings.postgresRestarts + settings.postgresCrashes;
      const problems = hits === 0 ? ['no restart happened while the exporter was inside a transaction'] : [];
      return [
        await scenarioRow(stack, 'PostgreSQL restart', load.interfaces, startedAt, {
          sales,
          problems,
          warnings,
          notes: [
            `${settings.postgresRestarts} restarts (fast shutdown) and ${settings.postgresCrashes} crashes (SIGKILL of the postmaster); ` +
              `${hits} of ${faults} hit the exporter inside a transaction`,
          ],
        }),
      ];
    }),
};

/**
 * A worker process that died during an outage breaks no promise of the ledger, but an operator
 * (or a supervisor) would have to restart it: that is reported as a warning, and a new one
 * carries on so the check still runs. Returns the worker to watch from now on.
 */
async function replaceIfGone(
  stack: FaultStack,
  worker: WorkerProcess,
  during: string,
  warnings: string[],
): Promise<WorkerProcess> {
  if (worker.isRunning) return worker;
  const how = await worker.exited;
  warnings.push(`the worker process ${how} during ${during} (see ${worker.logFile}); a new one was started`);
  return stack.startWorker('replacement');
}

/** Waits until an exporter session is inside a transaction (a window being frozen or recorded). */
async function waitForRunInProgress(stack: FaultStack): Promise<boolean> {
  const deadline = Date.now() + RUN_IN_PROGRESS_TIMEOUT_MILLIS;
  while (Date.now() < deadline) {
    const { rows } = await stack.stack.pool.query<{ busy: number }>(
      `SELECT count(*)::int AS busy FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`,
      [APPLICATION_NAME],
    );
    if (rows[0]!.busy > 0) return true;
    await sleep(5);
  }
  return false;
}
