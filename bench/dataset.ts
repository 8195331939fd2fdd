/**
 * The benchmark's source data: CONTRACT.md §2 tables filled with INSERT … SELECT generate_series
 * (never row by row), in a schema per table size. Ticket p (0 = newest) is a pure function of p, so
 * the newest tickets of a small and a large table are the same rows: "the same window" can be
 * selected from both.
 */
import pg from 'pg';
import { SOURCE_MIGRATIONS } from '../lib/db/migrations';
import type { Log } from '../devstack/log';
import { formatMillis } from '../devstack/log';
import type { WindowSelection } from '../lib/source/ticket-source';

/** Ids count down from here with age, so ids grow with time like an identity column's. */
const ID_BASE = 1_000_000_000;
/** One ticket every 20 ms: 50 tickets a second, a busy on-sale. */
export const TICKET_SPACING_MILLIS = 20;
const TICKETS_PER_ORDER = 3;
const CONTACT_COUNT = 10_000;
/** Rows per INSERT statement: small enough to report progress, large enough to amortise planning. */
const CHUNK_TICKETS = 1_000_000;
/** Concurrent loading sessions: one per core of the 2-core reference machine. */
const LOAD_SESSIONS = 2;

export const CHANNELS = [
  'WEB',
  'BOX',
  'RESELLER-WEB',
  'AGENCY',
  'MOBILE',
  'KIOSK',
  'PARTNER-API',
  'CALLCENTER',
] as const;

/**
 * The big reseller of the export window: the four channels of even orders (half of all tickets)
 * plus three contacts, as an interface of a large partner platform would be mapped.
 */
export const EXPORT_MAPPING = {
  channels: ['WEB', 'RESELLER-WEB', 'MOBILE', 'PARTNER-API'],
  contacts: ['C000017', 'C004711', 'C009001'],
} as const;

export interface GeneratedTable {
  schema: string;
  tickets: number;
  /** created_at of the newest ticket (p = 0). */
  newestAt: Date;
}

/** Creates the source tables in `schema` with the product's own DDL (the migration's SQL). */
export async function createSourceTables(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  for (const migration of SOURCE_MIGRATIONS) await pool.query(migration.sql.replaceAll('{source}', schema));
}

/**
 * Fills the (new, empty) source tables of `schema` with `tickets` tickets, the newest created at
 * `newestAt`. Loads like a bulk import: foreign key triggers off for the loading sessions,
 * secondary indexes dropped and rebuilt afterwards, then VACUUM (FREEZE, ANALYZE) so the
 * measurements start from a settled table, as a production table mostly is.
 */
export async function fillSourceTables(
  url: string,
  schema: string,
  tickets: number,
  newestAt: Date,
  log: Log,
): Promise<GeneratedTable> {
  const started = Date.now();
  const admin = new pg.Pool({
    connectionString: url,
    max: LOAD_SESSIONS,
    application_name: 'barcodes-bench-load',
  });
  admin.on('error', () => {});
  try {
    await insertReferenceData(admin, schema);
    const rebuild = await dropSecondaryIndexes(admin, schema, ['ticket', 'ticket_order']);
    const orders = Math.ceil(tickets / TICKETS_PER_ORDER);
    await inChunks(admin, orders, CHUNK_TICKETS, (client, from, to) =>
      client.query(insertOrdersSql(schema), [from, to, newestAt]),
    );
    log(`  ${schema}: ${orders.toLocaleString('en')} orders in ${formatMillis(Date.now() - started)}`);
    let done = 0;
    await inChunks(admin, tickets, CHUNK_TICKETS, async (client, from, to) => {
      await client.query(insertTicketsSql(schema), [from, to, newestAt]);
      done += to - from;
      if (tickets > CHUNK_TICKETS)
        log(
          `  ${schema}: ${done.toLocaleString('en')} of ${tickets.toLocaleString('en')} tickets after ${formatMillis(Date.now() - started)}`,
        );
    });
    const indexStart = Date.now();
    await Promise.all(
      rebuild.map((statement) =>
        withSession(admin, async (client) => {
          await client.query(`SET maintenance_work_mem = '512MB'`);
          await client.query(statement);
        }),
      ),
    );
    log(`  ${schema}: ${rebuild.length} indexes rebuilt in ${formatMillis(Date.now() - indexStart)}`);
    for (const table of ['contact', 'sales_channel', 'product', 'tariff', 'ticket_order', 'ticket']) {
      await admin.query(`VACUUM (FREEZE, ANALYZE) ${schema}.${table}`);
    }
    log(
      `  ${schema}: ${tickets.toLocaleString('en')} tickets ready in ${formatMillis(Date.now() - started)}`,
    );
    return { schema, tickets, newestAt };
  } finally {
    await admin.end();
  }
}

/** Bytes on disk per ticket (heap, indexes, its share of an order), measured on PostgreSQL 15. */
export const BYTES_PER_TICKET = 280;

async function insertReferenceData(pool: pg.Pool, schema: string): Promise<void> {
  // Names with the characters that need quoting (; and ") and non-ASCII letters, like real ones.
  await pool.query(`INSERT INTO ${schema}.contact (contact_number, name)
    SELECT 'C' || lpad(n::text, 6, '0'),
           (ARRAY['Reseller','Agence','Partner','Club','Verein'])[1 + n % 5] || ' ' || n || (ARRAY[' AG',' Sàrl',' GmbH','; Ltd',' "Ltd"'])[1 + n % 5]
      FROM generate_series(0, ${CONTACT_COUNT - 1}) n`);
  await pool.query(
    `INSERT INTO ${schema}.sales_channel (code, name) SELECT code, initcap(replace(code, '-', ' ')) FROM unnest($1::text[]) code`,
    [CHANNELS],
  );
  await pool.query(`INSERT INTO ${schema}.product (code, name)
    SELECT 'P-' || lpad(n::text, 4, '0'),
           (ARRAY['La Traviata; Grand Théâtre','Symphony "Ode" Night','Museum day pass','Concert de l''été','Stadion-Tour 2026'])[1 + n % 5] || ' #' || n
      FROM generate_series(0, 199) n`);
  await pool.query(`INSERT INTO ${schema}.tariff (code, name)
    SELECT 'T-' || lpad(n::text, 2, '0'), (ARRAY['Full price','Child (6–16)','Senior','Student','Group ≥ 10','Early bird'])[1 + n % 6]
      FROM generate_series(0, 11) n`);
}

/** Orders q in [$1, $2): three tickets each, a contact on four of five, the channel cycling through CHANNELS. */
function insertOrdersSql(schema: string): string {
  return `INSERT INTO ${schema}.ticket_order (id, file_number, contact_number, sales_channel_code, order_date)
  SELECT ${ID_BASE} - q, 'F' || (${ID_BASE} - q),
         CASE WHEN q % 5 = 0 THEN NULL ELSE 'C' || lpad(((q * 7919) % ${CONTACT_COUNT})::text, 6, '0') END,
         (ARRAY[${CHANNELS.map((code) => `'${code}'`).join(',')}])[1 + q % ${CHANNELS.length}],
         $3::timestamptz - (q * ${TICKETS_PER_ORDER * TICKET_SPACING_MILLIS}) * interval '1 millisecond'
    FROM generate_series($2::bigint - 1, $1::bigint, -1) q`;
}

/**
 * Tickets p in [$1, $2), oldest first so the heap is in creation order. Bar codes are 16 digits,
 * unique and scattered (p times a number prime to 10^12, modulo 10^12), like real ones.
 */
function insertTicketsSql(schema: string): string {
  return `INSERT INTO ${schema}.ticket (id, bar_code, order_id, product_code, tariff_code, price, validity_date, state, created_at, updated_at)
  SELECT ${ID_BASE} - p, '8100' || lpad(((p * 7919000003) % 1000000000000)::text, 12, '0'), ${ID_BASE} - p / ${TICKETS_PER_ORDER},
         'P-' || lpad((((p / 3) * 31) % 200)::text, 4, '0'), 'T-' || lpad((p % 12)::text, 2, '0'),
         (((p / 3) * 37) % 20000 + 500)::numeric(12,2) / 100,
         CASE WHEN (p / 3) % 3 = 0 THEN NULL ELSE date '2026-06-01' + ((p / 3) % 90)::int END,
         (ARRAY['PRINTED','NOT_PRINTED','NOT_PRINTED','PRINTED','CONTROLLED'])[1 + p % 5],
         created, created
    FROM generate_series($2::bigint - 1, $1::bigint, -1) p,
         LATERAL (SELECT $3::timestamptz - (p * ${TICKET_SPACING_MILLIS}) * interval '1 millisecond' AS created) c`;
}

/**
 * Runs `load(session, from, to)` over [0, total) in chunks, LOAD_SESSIONS at a time, oldest chunk first
 * (highest p), so rows land roughly in creation order.
 */
async function inChunks(
  pool: pg.Pool,
  total: number,
  chunk: number,
  load: (client: pg.PoolClient, from: number, to: number) => Promise<unknown>,
): Promise<void> {
  const chunks: [number, number][] = [];
  for (let to = total; to > 0; to -= chunk) chunks.push([Math.max(0, to - chunk), to]);
  let next = 0;
  await Promise.all(
    Array.from({ length: LOAD_SESSIONS }, () =>
      withSession(pool, async (client) => {
        await disableForeignKeyTriggers(client);
        while (next < chunks.length) {
          const [from, to] = chunks[next++]!;
          await load(client, from, to);
        }
      }),
    ),
  );
}

async function withSession<T>(pool: pg.Pool, use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await use(client);
  } finally {
    client.release(true);
  }
}

/**
 * `session_replication_role = replica` skips the foreign key triggers (a superuser setting): the
 * generator's keys are consistent by construction, and the checks would triple the load time.
 * Without the privilege the load is slower, not wrong.
 */
async function disableForeignKeyTriggers(client: pg.PoolClient): Promise<void> {
  await client.query(`SET session_replication_role = replica`).catch(() => undefined);
}

/**
 * Drops the indexes other than primary keys (unique constraints included) and returns the
 * statements that recreate them exactly: a sorted build is several times faster than inserting
 * ten million scattered bar codes into a B-tree.
 */
async function dropSecondaryIndexes(pool: pg.Pool, schema: string, tables: string[]): Promise<string[]> {
  const { rows } = await pool.query<{
    table_name: string;
    index_name: string;
    index_def: string;
    constraint_name: string | null;
    constraint_def: string | null;
  }>(
    `SELECT c.relname AS table_name, i.relname AS index_name, pg_get_indexdef(i.oid) AS index_def,
            con.conname AS constraint_name, pg_get_constraintdef(con.oid) AS constraint_def
       FROM pg_index x
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.conrelid = c.oid
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND NOT x.indisprimary`,
    [schema, tables],
  );
  const rebuild: string[] = [];
  for (const row of rows) {
    if (row.constraint_name) {
      await pool.query(`ALTER TABLE ${schema}.${row.table_name} DROP CONSTRAINT ${row.constraint_name}`);
      rebuild.push(
        `ALTER TABLE ${schema}.${row.table_name} ADD CONSTRAINT ${row.constraint_name} ${row.constraint_def}`,
      );
    } else {
      await pool.query(`DROP INDEX ${schema}.${row.index_name}`);
      rebuild.push(row.index_def);
    }
  }
  return rebuild;
}

/**
 * The newest window of `schema` holding exactly `matching` tickets of `mapping`: it ends after the
 * newest ticket and starts at the created_at of the `matching`-th newest matching one.
 */
export async function newestWindow(
  pool: pg.Pool,
  table: GeneratedTable,
  mapping: { contacts: readonly string[]; channels: readonly string[] },
  matching: number,
): Promise<WindowSelection> {
  const to = new Date(table.newestAt.getTime() + 1000);
  const { rows } = await pool.query<{ created_at: Date }>(
    `SELECT t.created_at FROM ${table.schema}.ticket t JOIN ${table.schema}.ticket_order o ON o.id = t.order_id
      WHERE t.created_at < $1 AND (o.contact_number = ANY($2::text[]) OR o.sales_channel_code = ANY($3::text[]))
      ORDER BY t.created_at DESC, t.id DESC OFFSET $4 LIMIT 1`,
    [to, mapping.contacts, mapping.channels, matching - 1],
  );
  if (!rows[0]) throw new Error(`${table.schema} holds fewer than ${matching} tickets of the mapping`);
  return { contacts: [...mapping.contacts], channels: [...mapping.channels], from: rows[0].created_at, to };
}
