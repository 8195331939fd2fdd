import type pg from 'pg';
import { BarcodesError } from './errors';

/**
 * This deployment's id: made once by `barcodes migrate` and kept in the exporter's database, so
 * every process of one deployment (CLI, workers on any machine) agrees on it without settings.
 */
export async function readDeploymentId(pool: pg.Pool, schema: string): Promise<string> {
  let rows: { id: string }[];
  try {
    ({ rows } = await pool.query<{ id: string }>(`SELECT id FROM ${schema}.deployment`));
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') {
      throw new BarcodesError(
        `the exporter's tables in schema ${schema} are not up to date: run \`barcodes migrate\``,
        'NOT_MIGRATED',
        { cause: error },
      );
    }
    throw error;
  }
  if (!rows[0])
    throw new BarcodesError(
      `schema ${schema} has no deployment id: run \`barcodes migrate\``,
      'NOT_MIGRATED',
    );
  return rows[0].id;
}
