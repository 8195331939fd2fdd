import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { FullActivityId } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createPool } from '../../lib/db/pool';
import { sleep } from '../../devstack/log';
import { startSmtpSink, type SmtpSink } from '../../devstack/smtp-sink';
import { startThrowawayCluster, type ThrowawayCluster } from '../../devstack/postgres';
import type { TemporalDevServer } from '../../devstack/temporal';
import type { FaultPoint } from '../../lib/fault-points';
import { TestStack } from '../support/stack';
import { cliEnv } from '../support/cli';
import { checkDeliveries, type CheckedInterface, type CheckResult } from './checker';
import type { InterfaceFields } from '../../lib/interfaces/store';
import type { SalesRecord } from './sales-writer';
import { WorkerProcess } from './worker-process';
import type { TicketState } from '../../lib/tickets';

/** The defaults of the fault stack's waits, in one place. */
export const FAULT_STACK_DEFAULTS = {
  /** A fault point is reached within one run: a trigger, a workflow task, an activity. */
  markerTimeoutMillis: 60_000,
  /** Pause between two looks at the ledger while settling. */
  settlePollMillis: 500,
  /** Interfaces with longer intervals only run when a scenario triggers them (settle triggers them too). */
  longestScheduledIntervalSeconds: 60,
  /** Connections of the simulator's pool for its writer loops and held transactions. */
  salesConnections: 8,
  /** Connections of the simulator's pool beyond those (the odd single sale of a scenario). */
  salesPoolSpareConnections: 4,
} as const;

/** Application name of the simulator's sessions: visible to the horizon, like any ticketing system. */
const SALES_APPLICATION_NAME = 'fault-suite-sales';

export interface FaultStackOptions {
  /** Scenario name: names the log files and the recipients' domain. */
  name: string;
  /** Folder for worker logs, markers and Temporal's database file. */
  workDir: string;
  /** Keep Temporal's state in a SQLite file, so the server can be stopped and started again. */
  persistentTemporal?: boolean;
  /** Run PostgreSQL in a throwaway cluster of its own (to restart it), never the shared server. */
  throwawayPostgres?: boolean;
  /** Connections of the simulator's pool (its writer loops and held transactions). */
  salesConnections?: number;
  /** Receives progress lines. */
  log: (line: string) => void;
  /** Extra environment of the stack and its worker processes (e.g. BARCODES_SECRETS_KEY). */
  env?: Record<string, string>;
}

/** What a crash test needs to know about the worker it killed. */
export interface FaultPointSettings {
  /** Where the worker stops (BARCODES_TEST_STOP_AT). */
  stopAt: FaultPoint;
  /** File the worker writes when it gets there (BARCODES_TEST_STOP_MARKER). */
  marker: string;
}

/** An interface created for a scenario, with everything the checker needs. */
export type ScenarioInterface = CheckedInterface & { intervalSeconds: number };

/**
 * The real stack of test/support/stack.ts, driven the way the fault suite needs: workers are
 * separate processes (`barcodes worker`) it can SIGKILL, the SMTP sink reports messages in
 * flight, and Temporal and PostgreSQL can be its own restartable servers.
 */
export class FaultStack {
  readonly workers: WorkerProcess[] = [];
  readonly interfaces: ScenarioInterface[] = [];
  private workerCount = 0;

  private constructor(
    readonly stack: TestStack,
    readonly sink: SmtpSink,
    private readonly sinkEvents: SinkEvents,
    readonly salesPool: pg.Pool,
    readonly cluster: ThrowawayCluster | undefined,
    private readonly options: FaultStackOptions,
  ) {}

  static async start(options: FaultStackOptions): Promise<FaultStack> {
    const sinkEvents = new SinkEvents();
    const sink = await startSmtpSink({ log: (line) => sinkEvents.emit(line) });
    const cluster = options.throwawayPostgres ? await startThrowawayCluster({ log: options.log }) : undefined;
    try {
      if (cluster) await makeDurable(cluster.url);
      // The suite always runs servers of its own (a shared Temporal cannot be stopped, the shared
      // PostgreSQL must not be restarted); TestStack reads where they are from the environment.
      const environment = cluster
        ? { TEMPORAL_ADDRESS: undefined, DATABASE_URL: cluster.url }
        : { TEMPORAL_ADDRESS: undefined };
      const stack = await withEnvironment(environment, () =>
        TestStack.start({
          temporalDbFile: options.persistentTemporal
            ? path.join(options.workDir, `${options.name}-temporal.sqlite`)
            : undefined,
          // The suite's sink, whose log shows a message in flight; the stack's own stays unused.
          env: { ...options.env, SMTP_URL: sink.url },
        }),
      );
      const salesPool = createPool(stack.database.url, {
        max:
          (options.salesConnections ?? FAULT_STACK_DEFAULTS.salesConnections) +
          FAULT_STACK_DEFAULTS.salesPoolSpareConnections,
        applicationName: SALES_APPLICATION_NAME,
      });
      return new FaultStack(stack, sink, sinkEvents, salesPool, cluster, options);
    } catch (error) {
      await sink.close();
      await cluster?.stop();
      throw error;
    }
  }

  get schema(): string {
    return this.stack.config.ticketingSchema;
  }

  /** The Temporal dev server, for outages. */
  get temporalServer(): TemporalDevServer {
    const server = this.stack.temporal.server;
    if (!server) throw new Error('the fault suite needs a Temporal dev server of its own');
    return server;
  }

  /** Starts `barcodes worker` with the stack's environment (and a fault point, if given). */
  async startWorker(label: string, faultPoint?: FaultPointSettings): Promise<WorkerProcess> {
    const name = `${this.options.name}-w${++this.workerCount}-${label}`;
    const env = cliEnv(this.stack.config, {
      ...this.options.env,
      ...(faultPoint
        ? { BARCODES_TEST_STOP_AT: faultPoint.stopAt, BARCODES_TEST_STOP_MARKER: faultPoint.marker }
        : {}),
    });
    const worker = await WorkerProcess.start({
      name,
      env,
      logFile: path.join(this.options.workDir, `${name}.log`),
    });
    this.workers.push(worker);
    this.options.log(`${name} polling (pid ${worker.pid})`);
    return worker;
  }

  /** A marker file path for a fault point of this scenario. */
  markerFile(label: string): string {
    return path.join(this.options.workDir, `${this.options.name}-${label}.marker`);
  }

  /** Adds sales channels to the source, so scenarios can give interfaces mappings no other has. */
  async addSalesChannels(codes: string[]): Promise<void> {
    for (const code of codes) {
      await this.stack.pool.query(
        `INSERT INTO ${this.schema}.sales_channel (code, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`,
        [code],
      );
    }
  }

  /** Creates an interface whose only recipient is its own address, and schedules it. */
  async createInterface(fields: {
    label: string;
    contacts?: string[];
    channels?: string[];
    intervalSeconds: number;
    lagSeconds?: number;
    /** State-change rows (null or absent: off). */
    stateChanges?: readonly TicketState[] | null;
    format?: Record<string, unknown> | null;
    /** SFTP/HTTPS destinations; with `arrivals`, the interface may have no email at all. */
    setDestinations?: InterfaceFields['setDestinations'];
    noEmail?: boolean;
    arrivals?: CheckedInterface['arrivals'];
  }): Promise<ScenarioInterface> {
    const recipient = `${fields.label}@${this.options.name}.test`;
    const created = await this.stack.createInterface({
      name: `${this.options.name} ${fields.label}`,
      recipients: fields.noEmail ? [] : [recipient],
      setDestinations: fields.setDestinations,
      contacts: fields.contacts ?? [],
      channels: fields.channels ?? [],
      intervalSeconds: fields.intervalSeconds,
      lagSeconds: fields.lagSeconds ?? 0,
      stateChanges: fields.stateChanges ?? null,
      format: fields.format ?? null,
    });
    const iface: ScenarioInterface = {
      id: created.id,
      recipient,
      contacts: created.contacts,
      channels: created.channels,
      startAt: created.startAt,
      intervalSeconds: created.intervalSeconds,
      arrivals: fields.arrivals,
    };
    this.interfaces.push(iface);
    return iface;
  }

  /** Resolves once the file exists (a worker reached its fault point). */
  async waitForMarker(
    file: string,
    timeoutMillis: number = FAULT_STACK_DEFAULTS.markerTimeoutMillis,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMillis;
    while (!existsSync(file)) {
      if (Date.now() > deadline)
        throw new Error(`no worker reached the fault point within ${timeoutMillis} ms (marker ${file})`);
      await sleep(100);
    }
  }

  /** Resolves once the SMTP sink holds a message it will never answer (mode `hang`). */
  waitForHangingMessage(timeoutMillis: number = FAULT_STACK_DEFAULTS.markerTimeoutMillis): Promise<void> {
    return this.sinkEvents.waitFor(/hanging after DATA/, timeoutMillis);
  }

  /** The activities a (killed) worker process had started and not finished, by Temporal's account. */
  async activitiesOf(worker: WorkerProcess): Promise<FullActivityId[]> {
    const started: FullActivityId[] = [];
    const client = this.stack.client;
    for await (const execution of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
      const description = await client.workflow.getHandle(execution.workflowId, execution.runId).describe();
      for (const activity of description.raw.pendingActivities ?? []) {
        if (activity.state !== temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)
          continue;
        if (!worker.ownsIdentity(activity.lastWorkerIdentity)) continue;
        started.push({
          workflowId: execution.workflowId,
          runId: execution.runId,
          activityId: activity.activityId!,
        });
      }
    }
    return started;
  }

  /**
   * Tells Temporal that the activities a killed worker was running have failed, instead of
   * waiting for their heartbeat timeout (60 s): the retry then starts after the retry policy's
   * first interval. Only the detection is shortened; the retry, and what it finds in PostgreSQL
   * and at the SMTP server, are the ones a real crash produces. Used by the quick suite.
   */
  async failActivitiesOf(dead: WorkerProcess): Promise<number> {
    const activities = await this.activitiesOf(dead);
    for (const activity of activities) {
      await this.stack.client.activity.fail(
        activity,
        new Error(`worker ${dead.name} was killed by the fault suite`),
      );
    }
    return activities.length;
  }

  /** Workflow runs of these interfaces' schedules (Temporal visibility), whatever their outcome. */
  async countRuns(interfaces: readonly ScenarioInterface[]): Promise<number> {
    let runs = 0;
    for (const iface of interfaces) {
      runs += (await this.stack.client.workflow.count(`BarcodesInterfaceId = '${iface.id}'`)).count;
    }
    return runs;
  }

  /**
   * After the writers stopped: waits until every interface's windows cover everything committed
   * and are all sent. Scheduled interfaces get there by their schedule alone (no one intervenes:
   * that is what outage scenarios prove); interfaces that only run when triggered are triggered.
   */
  async settle(interfaces: readonly ScenarioInterface[], timeoutMillis: number): Promise<void> {
    const { rows } = await this.stack.pool.query<{ now: Date }>('SELECT now() AS now');
    const quietSince = rows[0]!.now;
    const deadline = Date.now() + timeoutMillis;
    for (const iface of interfaces) {
      const triggered = iface.intervalSeconds > FAULT_STACK_DEFAULTS.longestScheduledIntervalSeconds;
      while (!(await this.isSettled(iface, quietSince))) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(
            `interface ${iface.id} did not deliver everything within ${timeoutMillis} ms of the quiet period`,
          );
        if (triggered) {
          await this.stack
            .runNow(iface.id, left)
            .catch((error: Error) =>
              this.options.log(`run of interface ${iface.id} while settling: ${error.message}`),
            );
        } else {
          await sleep(FAULT_STACK_DEFAULTS.settlePollMillis);
        }
      }
    }
  }

  private async isSettled(iface: ScenarioInterface, quietSince: Date): Promise<boolean> {
    const { rows } = await this.stack.pool.query<{ watermark: Date | null; unfinished: number }>(
      `SELECT max(window_end) AS watermark, count(*) FILTER (WHERE status NOT IN ('sent','empty'))::int AS unfinished
         FROM ${this.stack.config.exporterSchema}.delivery WHERE interface_id = $1 AND kind IN ('scheduled','run')`,
      [iface.id],
    );
    const row = rows[0]!;
    return row.watermark !== null && row.watermark >= quietSince && row.unfinished === 0;
  }

  /** The exactly-once accounting of these interfaces (default: all of the scenario's). */
  check(
    interfaces: readonly ScenarioInterface[] = this.interfaces,
    sales?: SalesRecord,
  ): Promise<CheckResult> {
    return checkDeliveries({
      pool: this.stack.pool,
      ticketingSchema: this.schema,
      exporterSchema: this.stack.config.exporterSchema,
      sink: this.sink,
      interfaces: [...interfaces],
      sales,
    });
  }

  async close(): Promise<void> {
    for (const worker of this.workers) await worker.kill();
    await this.salesPool.end().catch(() => {});
    await this.stack.close();
    await this.sink.close();
    await this.cluster?.stop();
  }
}

/** Log lines of the suite's SMTP sink, so a scenario can wait for one (a message in flight). */
class SinkEvents {
  private waiters = new Set<{ pattern: RegExp; resolve: () => void }>();

  emit(line: string): void {
    for (const waiter of this.waiters) {
      if (waiter.pattern.test(line)) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  waitFor(pattern: RegExp, timeoutMillis: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`the SMTP sink did not log ${pattern} within ${timeoutMillis} ms`));
      }, timeoutMillis);
      this.waiters.add(waiter);
    });
  }
}

/**
 * A throwaway cluster trades durability for speed (fsync and synchronous_commit off): a crash then
 * loses transactions whose COMMIT had returned, which no production server does. A crash test
 * needs the real thing.
 */
async function makeDurable(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query('ALTER SYSTEM SET fsync = on');
    await client.query('ALTER SYSTEM SET synchronous_commit = on');
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** Runs `work` with these environment variables set (or unset, for undefined), then restores them. */
async function withEnvironment<T>(
  variables: Record<string, string | undefined>,
  work: () => Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(variables);
  try {
    return await work();
  } finally {
    apply(saved);
  }
}
