/**
 * The Temporal side of a benchmark phase: a dev server of its own (so dynamic configuration and
 * schedules of one phase never leak into another), a client, and the environment that points the
 * real `barcodes` processes at it.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../lib/config';
import { devServerSearchAttributes } from '../lib/schedules/dev-search-attributes';
import { ensureSearchAttributes } from '../lib/schedules/sync';
import {
  type DynamicConfigValue,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../devstack/temporal';
import type { Log } from '../devstack/log';
import { EXPORTER_SCHEMA } from './database';

export interface BenchTemporal {
  server: TemporalDevServer;
  client: Client;
  stop(): Promise<void>;
}

/** A headless, in-memory dev server with the product's search attributes and the given dynamic config. */
export async function startBenchTemporal(
  log: Log,
  dynamicConfig: Record<string, DynamicConfigValue> = {},
): Promise<BenchTemporal> {
  const server = await startTemporalDevServer({
    log,
    uiPort: false,
    searchAttributes: devServerSearchAttributes(),
    dynamicConfig,
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: server.namespace });
    await ensureSearchAttributes(client, server.namespace);
    return {
      server,
      client,
      async stop() {
        await connection.close().catch(() => {});
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export interface BenchEnvOptions {
  databaseUrl: string;
  ticketingSchema: string;
  temporalAddress: string;
  smtpUrl: string;
  /** Default: a fresh task queue, so a leftover worker can never take the phase's tasks. */
  taskQueue?: string;
}

/** The environment of `barcodes` child processes (and loadConfig) for one phase. */
export function benchEnv(options: BenchEnvOptions): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: options.databaseUrl,
    TICKETING_SCHEMA: options.ticketingSchema,
    BARCODES_SCHEMA: EXPORTER_SCHEMA,
    TEMPORAL_ADDRESS: options.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: options.taskQueue ?? `barcodes-bench-${randomBytes(4).toString('hex')}`,
    SMTP_URL: options.smtpUrl,
    MAIL_FROM: 'barcodes@bench.test',
    BARCODES_ALLOW_SHORT_INTERVALS: '1',
  };
}

export function configOf(env: NodeJS.ProcessEnv): Config {
  return loadConfig(env);
}

/** A short random tag for names that must be unique across runs on a kept database. */
export function runTag(): string {
  return randomBytes(3).toString('hex');
}
