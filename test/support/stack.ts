import { randomBytes, randomInt } from 'node:crypto';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { loadConfig, type Config } from '../../lib/config';
import { createPool } from '../../lib/db/pool';
import { migrate } from '../../lib/db/migrate';
import { InterfaceStore, type ExportInterface, type InterfaceFields } from '../../lib/interfaces/store';
import { DeliveryLedger } from '../../lib/ledger/ledger';
import { connectClient } from '../../lib/temporal/connection';
import { syncSchedules, ensureSearchAttributes, type ScheduleScope } from '../../lib/schedules/sync';
import { scheduleIdFor } from '../../lib/schedules/schedule-id';
import { readDeploymentId } from '../../lib/deployment';
import { devServerSearchAttributes } from '../../lib/schedules/dev-search-attributes';
import { runNow } from '../../lib/schedules/run-now';
import { installObservability } from '../../lib/observability';
import {
  startWorker,
  WORKFLOWS_PATH,
  type RunningWorker,
  type StartWorkerOptions,
} from '../../worker/worker';
import {
  createTestDatabase,
  useOrStartPostgres,
  type TestDatabase,
  type PostgresEndpoint,
} from '../../devstack/postgres';
import { useOrStartTemporal, type TemporalEndpoint } from '../../devstack/temporal';
import { startSmtpSink, type SmtpSink } from '../../devstack/smtp-sink';
import { seedReferenceData } from '../../devstack/sales-simulator';

const log = (line: string) => process.stderr.write(`# ${line}\n`);

// Tests want the worker's warnings and errors, not its routine lines.
installObservability({
  logLevel: 'WARN',
  write: (line) => process.stderr.write(`# ${line}\n`),
  metricsAddress: null,
});

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test process. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn() {},
      error: (message: string) => log(message),
      log() {},
    } as never,
  });
  return bundle;
}

export interface TestStackOptions {
  /** Dev server options, e.g. a database file to survive restarts. */
  temporalDbFile?: string;
  /** Extra environment for loadConfig. */
  env?: Record<string, string>;
  /** The dev server's Web UI port (docs screenshots); default: headless. */
  temporalUiPort?: number;
}

/**
 * A real stack for one test file: a Temporal dev server (or TEMPORAL_ADDRESS), a fresh PostgreSQL
 * database with the source and exporter tables, and an in-process SMTP server. Interface ids start
 * at a random offset and the task queue is unique, so several test files can share one server.
 */
export class TestStack {
  readonly workers: RunningWorker[] = [];
  private constructor(
    readonly config: Config,
    readonly postgres: PostgresEndpoint,
    readonly database: TestDatabase,
    readonly temporal: TemporalEndpoint,
    readonly sink: SmtpSink,
    readonly pool: pg.Pool,
    readonly client: Client,
    readonly deploymentId: string,
  ) {}

  static async start(options: TestStackOptions = {}): Promise<TestStack> {
    const postgres = await useOrStartPostgres({ log });
    const database = await createTestDatabase(postgres.adminUrl);
    const temporal = await useOrStartTemporal({
      log,
      uiPort: options.temporalUiPort ?? false,
      dbFile: options.temporalDbFile,
      searchAttributes: devServerSearchAttributes(),
    });
    const sink = await startSmtpSink();
    const config = loadConfig({
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `barcodes-test-${randomBytes(4).toString('hex')}`,
      SMTP_URL: sink.url,
      MAIL_FROM: 'barcodes@exporter.test',
      BARCODES_ALLOW_SHORT_INTERVALS: '1',
      ...options.env,
    });
    const pool = createPool(config.databaseUrl, { max: 8, applicationName: 'barcodes-test' });
    await migrate(pool, pool, {
      exporterSchema: config.exporterSchema,
      ticketingSchema: config.ticketingSchema,
      withSource: true,
    });
    await seedReferenceData(pool, config.ticketingSchema);
    await pool.query(
      `ALTER TABLE ${config.exporterSchema}.interface ALTER COLUMN id RESTART WITH ${randomInt(1, 1_000_000) * 1000}`,
    );
    const client = await connectClient(config);
    await ensureSearchAttributes(client, config.temporalNamespace);
    return new TestStack(
      config,
      postgres,
      database,
      temporal,
      sink,
      pool,
      client,
      await readDeploymentId(pool, config.exporterSchema),
    );
  }

  get store(): InterfaceStore {
    return new InterfaceStore(this.pool, this.config.exporterSchema);
  }

  get ledger(): DeliveryLedger {
    return new DeliveryLedger(this.pool, this.config.exporterSchema);
  }

  async startWorker(options: StartWorkerOptions = {}): Promise<RunningWorker> {
    const worker = await startWorker(this.config, { workflowBundle: await workflowBundle(), ...options });
    this.workers.push(worker);
    return worker;
  }

  /** Creates an interface with test defaults (interval long enough that only triggers run it). */
  async createInterface(
    fields: Partial<InterfaceFields> & { contacts?: string[]; channels?: string[] },
  ): Promise<ExportInterface> {
    const { contacts = [], channels = [], ...rest } = fields;
    const iface = await this.store.create(
      {
        name: `Test ${randomBytes(3).toString('hex')}`,
        recipients: ['reseller@example.test'],
        intervalSeconds: 3600,
        lagSeconds: 0,
        timeZone: 'UTC',
        format: null,
        startAt: new Date(),
        enabled: true,
        alertEmail: null,
        ...rest,
      },
      { contacts, channels },
      'test',
    );
    await this.syncSchedules();
    return iface;
  }

  /** Where this stack's schedules live. */
  get scope(): ScheduleScope {
    return { client: this.client, config: this.config, deploymentId: this.deploymentId };
  }

  scheduleId(interfaceId: number): string {
    return scheduleIdFor(this.deploymentId, interfaceId);
  }

  async syncSchedules() {
    return syncSchedules(this.scope, this.store);
  }

  /** Runs the interface's next window now through its schedule, as `barcodes run` does. */
  runNow(interfaceId: number, timeoutMillis = 60_000) {
    return runNow(this.client, {
      scheduleId: this.scheduleId(interfaceId),
      taskQueue: this.config.taskQueue,
      timeoutMillis,
      beforeTrigger: () => this.store.requestRun(interfaceId),
    });
  }

  async close(): Promise<void> {
    for (const worker of this.workers) await worker.shutdown().catch(() => {});
    for (const iface of await this.store.list().catch(() => [])) {
      await this.client.schedule
        .getHandle(this.scheduleId(iface.id))
        .delete()
        .catch(() => {});
    }
    await this.client.connection.close().catch(() => {});
    await this.pool.end().catch(() => {});
    await this.sink.close();
    await this.temporal.stop();
    await this.database.drop();
    await this.postgres.stop();
  }
}
