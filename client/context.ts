import type { Client } from '@temporalio/client';
import pg from 'pg';
import { loadConfig, type Config } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { InterfaceStore } from '../lib/interfaces/store';
import { DeliveryLedger } from '../lib/ledger/ledger';
import { PostgresTicketSource } from '../lib/source/ticket-source';
import { PostgresStateChangeSource } from '../lib/source/state-changes';
import { connectClient } from '../lib/temporal/connection';
import { readDeploymentId } from '../lib/deployment';
import type { ScheduleScope } from '../lib/schedules/sync';

/**
 * What a command needs, opened lazily (a `--help` or an input error opens nothing) and closed
 * once when the command ends.
 */
export class CommandContext {
  readonly config: Config;
  private exporterPool?: pg.Pool;
  private sourcePoolValue?: pg.Pool;
  private temporal?: Promise<Client>;
  private deployment?: Promise<string>;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.config = loadConfig(env);
  }

  get pool(): pg.Pool {
    this.exporterPool ??= createPool(this.config.databaseUrl, { max: 4 });
    return this.exporterPool;
  }

  get sourcePool(): pg.Pool {
    if (this.config.sourceDatabaseUrl === this.config.databaseUrl) return this.pool;
    this.sourcePoolValue ??= createPool(this.config.sourceDatabaseUrl, { max: 4 });
    return this.sourcePoolValue;
  }

  get store(): InterfaceStore {
    return new InterfaceStore(this.pool, this.config.exporterSchema);
  }

  get ledger(): DeliveryLedger {
    return new DeliveryLedger(this.pool, this.config.exporterSchema);
  }

  get source(): PostgresTicketSource {
    return new PostgresTicketSource(this.sourcePool, { schema: this.config.ticketingSchema });
  }

  /** The ticket state change log (interfaces with state changes on, resend warnings). */
  get stateChangeSource(): PostgresStateChangeSource {
    return new PostgresStateChangeSource(this.sourcePool, { schema: this.config.ticketingSchema });
  }

  temporalClient(connectTimeoutMillis?: number): Promise<Client> {
    this.temporal ??= connectClient(this.config, connectTimeoutMillis);
    return this.temporal;
  }

  /** This deployment's id, from the exporter's database (part of every schedule id). */
  deploymentId(): Promise<string> {
    this.deployment ??= readDeploymentId(this.pool, this.config.exporterSchema);
    return this.deployment;
  }

  /** Where this deployment's schedules are written; connects to Temporal. */
  async scheduleScope(connectTimeoutMillis?: number): Promise<ScheduleScope> {
    const [client, deploymentId] = await Promise.all([
      this.temporalClient(connectTimeoutMillis),
      this.deploymentId(),
    ]);
    return { client, config: this.config, deploymentId };
  }

  async close(): Promise<void> {
    if (this.temporal) {
      const client = await this.temporal.catch(() => undefined);
      await client?.connection.close();
    }
    await this.exporterPool?.end();
    await this.sourcePoolValue?.end();
  }
}
