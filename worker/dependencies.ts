import type { Config } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { InterfaceStore } from '../lib/interfaces/store';
import { DeliveryLedger } from '../lib/ledger/ledger';
import { NodemailerMailer, type Mailer } from '../lib/mail/mailer';
import { PostgresTicketSource } from '../lib/source/ticket-source';
import { PostgresStateChangeSource } from '../lib/source/state-changes';
import type { ActivityDeps } from '../activities';
import pg from 'pg';
import { faultPointsFromEnv } from '../lib/fault-points';
import { createAlerter } from '../lib/alerts';
import { createScheduleControl } from '../lib/schedules/control';
import { readDeploymentId } from '../lib/deployment';
import { createDeliver } from '../lib/destinations';
import { createHttpsSender, readHttpsCaPem } from '../lib/destinations/https';

export interface Dependencies extends ActivityDeps {
  sourcePool: pg.Pool;
  /** Closes pools and the SMTP transport. */
  close(): Promise<void>;
}

export interface DependencyOverrides {
  mailer?: Mailer;
  /** Connections per pool; the worker's activity concurrency sizes them. */
  poolSize?: number;
}

/** Builds the real parts (pg pools, nodemailer transport) from the configuration. */
export function buildDependencies(config: Config, overrides: DependencyOverrides = {}): Dependencies {
  const exporterPool = createPool(config.databaseUrl, { max: overrides.poolSize });
  const sourcePool =
    config.sourceDatabaseUrl === config.databaseUrl
      ? exporterPool
      : createPool(config.sourceDatabaseUrl, { max: overrides.poolSize });
  const mailer = overrides.mailer ?? new NodemailerMailer({ smtpUrl: config.smtpUrl });
  const store = new InterfaceStore(exporterPool, config.exporterSchema);
  let deployment: Promise<string> | undefined;
  const deploymentId = () =>
    (deployment ??= readDeploymentId(exporterPool, config.exporterSchema).catch((error) => {
      deployment = undefined;
      throw error;
    }));
  const schedules = createScheduleControl(config, store, deploymentId);
  const https = createHttpsSender({
    extraCaPem: readHttpsCaPem(config.httpsCaFile),
    timeoutMillis: config.httpsTimeoutMillis,
  });
  return {
    exporterPool,
    sourcePool,
    store,
    deploymentId,
    isRunOpen: (workflowId) => schedules.isRunOpen(workflowId),
    ledger: new DeliveryLedger(exporterPool, config.exporterSchema),
    source: new PostgresTicketSource(sourcePool, { schema: config.ticketingSchema }),
    stateChangeSource: new PostgresStateChangeSource(sourcePool, { schema: config.ticketingSchema }),
    mailer,
    mailFrom: config.mailFrom,
    maxHoldbackMillis: config.maxHoldbackMillis,
    faultPoints: faultPointsFromEnv(),
    deliver: createDeliver(https),
    secretsKeyring: config.secretsKeyring,
    pauseAfterFailures: config.pauseAfterFailures,
    alerter: createAlerter({ mailer, mailFrom: config.mailFrom, defaultAlertEmail: config.alertEmail }),
    schedules,
    async close() {
      await schedules.close();
      mailer.close();
      await https.close();
      await exporterPool.end();
      if (sourcePool !== exporterPool) await sourcePool.end();
    },
  };
}
