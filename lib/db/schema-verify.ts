import type pg from 'pg';
import { BarcodesError } from '../errors';
import { EXPORTER_SCHEMA_SHAPE } from './migrations';

/** The exporter's schema lacks tables or columns its code needs (dropped or damaged since it was migrated). */
export class SchemaDamageError extends BarcodesError {
  constructor(
    readonly schema: string,
    readonly missing: string[],
  ) {
    super(describeSchemaDamage(schema, missing), 'SCHEMA_DAMAGED');
  }
}

/**
 * What is missing from the exporter's schema compared with `shape`: `table` for a missing table,
 * `table.column` for a missing column of a table that exists; empty when all is there. Read from
 * the catalog (not information_schema, which hides what the role has no privilege on).
 */
export async function findSchemaDamage(
  pool: pg.Pool | pg.ClientBase,
  schema: string,
  shape = EXPORTER_SCHEMA_SHAPE,
): Promise<string[]> {
  const { rows } = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT c.relname AS table_name, a.attname AS column_name
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
    [schema],
  );
  const present = new Map<string, Set<string>>();
  for (const row of rows) {
    let columns = present.get(row.table_name);
    if (!columns) present.set(row.table_name, (columns = new Set()));
    columns.add(row.column_name);
  }
  const missing: string[] = [];
  for (const [table, columns] of Object.entries(shape)) {
    const found = present.get(table);
    if (!found) missing.push(table);
    else for (const column of columns) if (!found.has(column)) missing.push(`${table}.${column}`);
  }
  return missing;
}

/** Throws SchemaDamageError naming everything missing, in one line. */
export async function verifyExporterSchema(pool: pg.Pool | pg.ClientBase, schema: string): Promise<void> {
  const missing = await findSchemaDamage(pool, schema);
  if (missing.length > 0) throw new SchemaDamageError(schema, missing);
}

function describeSchemaDamage(schema: string, missing: string[]): string {
  const tables = missing.filter((name) => !name.includes('.'));
  const columns = missing.filter((name) => name.includes('.'));
  const parts = [
    ...(tables.length ? [`missing table${tables.length > 1 ? 's' : ''} ${tables.join(', ')}`] : []),
    ...(columns.length ? [`missing column${columns.length > 1 ? 's' : ''} ${columns.join(', ')}`] : []),
  ];
  return `schema ${schema} is damaged: ${parts.join('; ')} (migrate does not recreate what an applied step made: restore them from a backup)`;
}
