import pg from 'pg';

/**
 * The exporter names its own sessions so that the late-commit horizon (see ticket-source.ts) can
 * ignore them: our own open transactions never insert tickets.
 */
export const APPLICATION_NAME = 'barcodes-exporter';

const PG_DATE_OID = 1082;

/**
 * `date` columns stay text (`2026-11-29`): pg would turn them into a local-midnight Date, which
 * shifts the day in any zone west of UTC. bigint and numeric are already text by default.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === PG_DATE_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

interface PoolOptions {
  /** Most connections the pool opens; activities of many interfaces share it. */
  max?: number;
  /** Tag shown in pg_stat_activity. */
  applicationName?: string;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? APPLICATION_NAME,
    types,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (server restart) must not crash the process; the next
  // query gets a fresh connection and the activity retry handles the one that failed.
  pool.on('error', () => {});
  // pg-pool detaches its listener while a client is checked out (a freeze transaction between
  // queries); a server restart then emits 'error' on the client, which would kill the worker.
  // The client's next query fails instead, and the activity retries.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Runs `work` in a transaction on one client, rolling back on any error. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
