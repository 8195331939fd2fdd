import pg from 'pg';
import { EXPORTER_MIGRATIONS, SOURCE_MIGRATIONS, type Migration } from './migrations';
import { verifyExporterSchema } from './schema-verify';

interface MigrateOptions {
  /** Exporter schema (checked identifier). */
  exporterSchema: string;
  /** Ticketing schema (checked identifier). */
  ticketingSchema: string;
  /** Also create the ticket source tables of CONTRACT.md §2. */
  withSource: boolean;
}

interface MigrateResult {
  /** Names of the steps applied by this call, empty when everything was already there. */
  applied: string[];
}

// Any fixed number works: it only serialises concurrent `migrate` calls (two workers starting).
const MIGRATION_LOCK_KEY = 7_102_026;

/**
 * Applies the pending migrations in order, each in its own transaction, under an advisory lock.
 * Idempotent: a second run applies nothing. Source and exporter steps are tracked as separate sets
 * because the source tables may live in another database. Then proves the exporter's tables are
 * all there (SchemaDamageError otherwise): the recorded versions alone would call a schema whose
 * table was dropped since "up to date".
 */
export async function migrate(
  exporter: pg.Pool,
  source: pg.Pool,
  options: MigrateOptions,
): Promise<MigrateResult> {
  const applied: string[] = [];
  if (options.withSource) {
    applied.push(...(await applySet(source, 'source', SOURCE_MIGRATIONS, options)));
  }
  applied.push(...(await applySet(exporter, 'exporter', EXPORTER_MIGRATIONS, options)));
  await verifyExporterSchema(exporter, options.exporterSchema);
  return { applied };
}

async function applySet(
  pool: pg.Pool,
  setName: string,
  migrations: Migration[],
  options: MigrateOptions,
): Promise<string[]> {
  // The ledger of applied steps always lives in the exporter's schema (in whichever database the
  // set runs), never among the ticket source tables.
  const trackingSchema = options.exporterSchema;
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${trackingSchema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${trackingSchema}.barcodes_migration (
         set_name text NOT NULL, version integer NOT NULL, name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (set_name, version))`,
    );
    const done = await client.query<{ version: number }>(
      `SELECT version FROM ${trackingSchema}.barcodes_migration WHERE set_name = $1`,
      [setName],
    );
    const doneVersions = new Set(done.rows.map((row) => row.version));
    for (const migration of migrations) {
      if (doneVersions.has(migration.version)) continue;
      const sql = migration.sql
        .replaceAll('{schema}', options.exporterSchema)
        .replaceAll('{source}', options.ticketingSchema);
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO ${trackingSchema}.barcodes_migration (set_name, version, name) VALUES ($1, $2, $3)`,
          [setName, migration.version, migration.name],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(
          `migration ${setName} ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      applied.push(`${setName} ${migration.version}: ${migration.name}`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}
