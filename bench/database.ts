/**
 * The benchmark's database: a fresh one (devstack createTestDatabase) on the local server, with the
 * exporter's tables and two generated source schemas, or one kept by an earlier run (--database).
 */
import { statfsSync } from 'node:fs';
import pg from 'pg';
import { migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { InterfaceStore } from '../lib/interfaces/store';
import { DeliveryLedger } from '../lib/ledger/ledger';
import { createTestDatabase, maskUrl, useOrStartPostgres, type PostgresEndpoint } from '../devstack/postgres';
import type { Log } from '../devstack/log';
import { BYTES_PER_TICKET, createSourceTables, fillSourceTables, type GeneratedTable } from './dataset';

export const EXPORTER_SCHEMA = 'barcode_export';
export const LARGE_SCHEMA = 'bench_large';
export const SMALL_SCHEMA = 'bench_small';
/** Tag of the benchmark's own sessions in pg_stat_activity. */
const BENCH_APPLICATION_NAME = 'barcodes-bench';
/** Room kept free besides the estimate: WAL segments, sorts, the stored export files. */
const DISK_HEADROOM_BYTES = 3 * 1024 ** 3;

export interface BenchDatabase {
  name: string;
  url: string;
  /** The benchmark's own pool (reads, inserts, bookkeeping). */
  pool: pg.Pool;
  /** A pool tagged as the exporter's (the in-process export path uses it, as a worker would). */
  exporterPool: pg.Pool;
  store: InterfaceStore;
  ledger: DeliveryLedger;
  large: GeneratedTable;
  small: GeneratedTable;
  /** Drops the database unless it is kept; stops a throwaway server. */
  close(): Promise<void>;
}

export interface OpenBenchDatabaseOptions {
  largeTickets: number;
  smallTickets: number;
  /** Reuse this database when it holds tables of the same sizes. */
  reuse: string | null;
  keep: boolean;
  log: Log;
}

export async function openBenchDatabase(options: OpenBenchDatabaseOptions): Promise<BenchDatabase> {
  const { log } = options;
  const postgres = await useOrStartPostgres({ log });
  let name: string;
  let url: string;
  let drop: () => Promise<void>;
  if (options.reuse) {
    name = options.reuse;
    url = withDatabase(postgres.adminUrl, name);
    await ensureDatabase(postgres.adminUrl, name);
    drop = async () => {};
  } else {
    const database = await createTestDatabase(postgres.adminUrl, 'barcodes_bench');
    ({ name, url } = database);
    drop = () => database.drop();
  }
  log(`benchmark database ${name} on ${maskUrl(postgres.adminUrl)}`);
  const pool = createPool(url, { max: 8, applicationName: BENCH_APPLICATION_NAME });
  const exporterPool = createPool(url, { max: 4 });
  try {
    await migrate(pool, pool, {
      exporterSchema: EXPORTER_SCHEMA,
      ticketingSchema: LARGE_SCHEMA,
      withSource: false,
    });
    await pool.query(
      `CREATE TABLE IF NOT EXISTS public.bench_dataset (schema text PRIMARY KEY, tickets bigint NOT NULL, newest_at timestamptz NOT NULL)`,
    );
    const wanted = [
      { schema: LARGE_SCHEMA, tickets: options.largeTickets },
      { schema: SMALL_SCHEMA, tickets: options.smallTickets },
    ];
    const existing = await pool.query<{ schema: string; tickets: string; newest_at: Date }>(
      `SELECT * FROM public.bench_dataset`,
    );
    const missing = wanted.filter(
      (want) =>
        !existing.rows.some((row) => row.schema === want.schema && Number(row.tickets) === want.tickets),
    );
    if (missing.length > 0) {
      await checkFreeDisk(
        pool,
        missing.reduce((sum, want) => sum + want.tickets, 0),
        log,
      );
      // Both tables end at the same time, so their newest tickets are the same rows.
      const newestAt = existing.rows[0]?.newest_at ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
      for (const want of missing) {
        log(`generating ${want.tickets.toLocaleString('en')} tickets in ${want.schema}`);
        await createSourceTables(pool, want.schema);
        await fillSourceTables(url, want.schema, want.tickets, newestAt, log);
        await pool.query(
          `INSERT INTO public.bench_dataset (schema, tickets, newest_at) VALUES ($1, $2, $3)
           ON CONFLICT (schema) DO UPDATE SET tickets = EXCLUDED.tickets, newest_at = EXCLUDED.newest_at`,
          [want.schema, want.tickets, newestAt],
        );
      }
    } else {
      log(`reusing the generated tables of ${name}`);
    }
    const tables = await pool.query<{ schema: string; tickets: string; newest_at: Date }>(
      `SELECT * FROM public.bench_dataset`,
    );
    const table = (schema: string): GeneratedTable => {
      const row = tables.rows.find((candidate) => candidate.schema === schema)!;
      return { schema, tickets: Number(row.tickets), newestAt: row.newest_at };
    };
    return {
      name,
      url,
      pool,
      exporterPool,
      store: new InterfaceStore(pool, EXPORTER_SCHEMA),
      ledger: new DeliveryLedger(exporterPool, EXPORTER_SCHEMA),
      large: table(LARGE_SCHEMA),
      small: table(SMALL_SCHEMA),
      async close() {
        await pool.end().catch(() => {});
        await exporterPool.end().catch(() => {});
        if (options.keep) log(`kept database ${name} (reuse it with --database ${name})`);
        else await drop();
        await stopQuietly(postgres);
      },
    };
  } catch (error) {
    await pool.end().catch(() => {});
    await exporterPool.end().catch(() => {});
    if (!options.keep) await drop().catch(() => {});
    throw error;
  }
}

/**
 * Refuses to start a generation that would fill the server's disk. Only possible when the data
 * directory is readable here (a local server and a superuser); otherwise it says it cannot check.
 */
async function checkFreeDisk(pool: pg.Pool, tickets: number, log: Log): Promise<void> {
  const needed = tickets * BYTES_PER_TICKET + DISK_HEADROOM_BYTES;
  let dataDirectory: string;
  try {
    dataDirectory = (
      await pool.query<{ setting: string }>(`SELECT setting FROM pg_settings WHERE name = 'data_directory'`)
    ).rows[0]!.setting;
  } catch (error) {
    log(
      `cannot read the server's data_directory (${(error as Error).message}): free disk not checked; about ${gib(needed)} needed`,
    );
    return;
  }
  let free: number;
  try {
    const stats = statfsSync(dataDirectory);
    free = stats.bavail * stats.bsize;
  } catch {
    log(
      `data directory ${dataDirectory} is not on this machine: free disk not checked; about ${gib(needed)} needed`,
    );
    return;
  }
  log(`disk: ${gib(free)} free under ${dataDirectory}, about ${gib(needed)} needed`);
  if (free < needed) {
    throw new Error(
      `not enough free disk under ${dataDirectory}: ${gib(free)} free, about ${gib(needed)} needed; pass a smaller --large-tickets`,
    );
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function stopQuietly(postgres: PostgresEndpoint): Promise<void> {
  await postgres.stop().catch(() => {});
}
