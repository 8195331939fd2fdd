import pg from 'pg';
import { CursorBatches } from './cursor-batches';
import type { TicketRow } from '../tickets';
import { APPLICATION_NAME } from '../db/pool';
import {
  WINDOW_ROW_TYPES,
  checkPlainTicketRow,
  checkTicketRow,
  packedSelectList,
  packedTicketId,
  plainSelectList,
  toTicketRow,
  unpackTicketRow,
} from './row-decoding';

/** Which tickets a window holds: created in [from, to) and bought by a mapped contact or channel. */
export interface WindowSelection {
  contacts: string[];
  channels: string[];
  from: Date;
  to: Date;
}

/** The oldest transaction still open in the source database, as far as we can see it. */
export interface OpenTransaction {
  pid: number;
  /** Start of the transaction = the created_at any ticket it inserts will carry. */
  xactStart: Date;
  applicationName: string;
}

/** What bounds a window's end on the source side (see docs/exactly-once.md, "Late commits"). */
export interface SourceHorizon {
  /** The source server's clock, so a skewed Temporal clock cannot close a window in the future. */
  dbNow: Date;
  /** Oldest other open transaction, or null when none is open. */
  oldestOpen: OpenTransaction | null;
  /**
   * Sessions whose transaction state our role may not see (no pg_read_all_stats): when > 0 the
   * horizon is incomplete and only the safety lag protects against late commits.
   */
  hiddenSessions: number;
}

/** Tickets of a window as the source reads them: one batch per fetch, never the whole window. */
export type TicketBatch = readonly TicketRow[];

/** The narrow interface between the exporter and the ticketing data. */
export interface TicketSource {
  /**
   * Streams the window's tickets in (created_at, id) order, a batch at a time (renderWindow takes
   * batches: a promise per row would cost more than rendering the row); never holds them all.
   * A row that breaks CONTRACT.md §2 throws a SourceRowError naming its ticket id and column.
   */
  streamWindow(selection: WindowSelection): AsyncIterable<TicketBatch>;
  /** Counts the window's tickets (preview summaries, checks) without reading them. */
  countWindow(selection: WindowSelection): Promise<number>;
  horizon(): Promise<SourceHorizon>;
  /** Which of the given codes exist in the source (to warn about unknown mappings). */
  unknownCodes(kind: 'contact' | 'channel', codes: string[]): Promise<string[]>;
}

export interface PostgresTicketSourceOptions {
  /** Schema holding the source tables (a checked identifier). */
  schema: string;
  /** Rows fetched per round trip by the cursor. */
  batchSize?: number;
}

/**
 * Rows per FETCH. Measured on a million-ticket window (docs/performance.md): 1000 used the least
 * CPU; 5000 kept two batches alive across the prefetch and spent a fifth of the time in GC.
 */
export const DEFAULT_BATCH_SIZE = 1000;

/** The cursor's name: one window per session at a time, so a fixed name never collides. */
const CURSOR = 'barcodes_window';

/**
 * The FROM clause of every query that makes file rows of tickets (aliases t, o, p, ta, c): the
 * new-ticket window, the state-change window, the database renderer and the re-read by id.
 * Product and tariff are outer joins: a ticket whose product or tariff is NULL or missing (a view
 * on a database without the contract's constraints) comes back with NULLs and is refused by
 * checkPlainTicketRow, naming it, instead of vanishing from the file unnoticed.
 */
export function ticketFromSql(schema: string): string {
  return `  FROM ${schema}.ticket t
  JOIN ${schema}.ticket_order o ON o.id = t.order_id
  LEFT JOIN ${schema}.product p ON p.code = t.product_code
  LEFT JOIN ${schema}.tariff ta ON ta.code = t.tariff_code
  LEFT JOIN ${schema}.contact c ON c.contact_number = o.contact_number`;
}

/**
 * Tickets whose packed row did not unpack (a NULL where the contract forbids one, or an odd
 * value), read again the ordinary way by id in the caller's snapshot, each checked against the
 * contract: a row that breaks it fails the window naming ticket id and column. One rule for the
 * window of new tickets and the window of state changes.
 */
export async function rereadTickets(
  client: pg.ClientBase,
  fromSql: string,
  ids: string[],
  what: string,
): Promise<Map<string, TicketRow>> {
  const { rows } = await client.query<unknown[]>({
    text: `SELECT ${plainSelectList()}\n${fromSql}\n WHERE t.id = ANY($1::bigint[])`,
    values: [ids],
    rowMode: 'array',
    types: WINDOW_ROW_TYPES,
  });
  const tickets = new Map<string, TicketRow>();
  for (const row of rows) {
    const ticket = toTicketRow(row);
    checkPlainTicketRow(ticket);
    tickets.set(row[0] as string, ticket);
  }
  if (tickets.size !== ids.length)
    throw new Error(`${what}: ${ids.length - tickets.size} ticket(s) vanished within one snapshot`);
  return tickets;
}

export class PostgresTicketSource implements TicketSource {
  private readonly schema: string;
  private readonly batchSize: number;

  constructor(
    /** Also read by copy-window.ts, which runs the window query as a COPY on its own connection. */
    readonly pool: pg.Pool,
    options: PostgresTicketSourceOptions,
  ) {
    this.schema = options.schema;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  /**
   * The window query: the range on ticket(created_at, id) drives it, so its cost follows the window,
   * not the table. `full`: one column per TicketRow field (the logical query, also the benchmark's
   * COPY); `packed`: the same rows as one text column each (see row-decoding.ts); `count`.
   */
  windowSql(columns: 'full' | 'packed' | 'count' | { select: string } = 'full'): string {
    // `{ select }`: another select list over the same rows (copy-window.ts: finished lines).
    const select =
      typeof columns === 'object'
        ? columns.select
        : columns === 'count'
          ? 'count(*)::int AS count'
          : columns === 'packed'
            ? packedSelectList()
            : plainSelectList();
    return `SELECT ${select}
${this.fromSql()}
 WHERE t.created_at >= $1 AND t.created_at < $2
   AND (o.contact_number = ANY($3::text[]) OR o.sales_channel_code = ANY($4::text[]))${columns === 'count' ? '' : '\n ORDER BY t.created_at, t.id'}`;
  }

  /** The window query's FROM clause (aliases t, o, p, ta, c), shared with copy-window.ts. */
  fromSql(): string {
    return ticketFromSql(this.schema);
  }

  /**
   * A server-side cursor (DECLARE … FETCH) in a read-only repeatable-read transaction (the rows
   * re-read by id see the cursor's snapshot). Each choice was measured
   * on a million-ticket window (docs/performance.md):
   * - DECLARE lets the planner pick a plan that streams from the first row (cursor_tuple_fraction)
   *   instead of sorting the whole window first, so PostgreSQL and the renderer work in parallel;
   * - the next FETCH is sent before the current batch is handed on (cursor-batches.ts), so the
   *   server reads ahead one batch instead of waiting for each round trip;
   * - rows come packed into one text column (row-decoding.ts): 16 decodes a row became one;
   * - JIT is off for this query: compiling it took seconds and saved nothing on a streamed scan;
   *   DateStyle is ISO, the only form dates are read in.
   */
  async *streamWindow(selection: WindowSelection): AsyncIterable<TicketBatch> {
    const client = await this.pool.connect();
    const batches = new CursorBatches<[string]>(client, CURSOR, this.batchSize);
    let finished = false;
    try {
      await this.beginWindowTransaction(client);
      await client.query(
        `DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${this.windowSql('packed')}`,
        windowParameters(selection),
      );
      for await (const rows of batches) {
        // Unpacked here, in the generator's own loop: the same loop in a helper function (or behind
        // an await) made V8 promote every batch to the old generation, 320 MB per million rows
        // instead of 25, and a worker's RSS grows with that garbage (docs/performance.md).
        const tickets = new Array<TicketRow>(rows.length);
        let missing: Map<string, number> | null = null;
        for (let i = 0; i < rows.length; i++) {
          const ticket = unpackTicketRow(rows[i]![0]);
          tickets[i] = ticket!;
          // A row that breaks the contract fails the window here, before anything is stored or sent.
          if (ticket === null) (missing ??= new Map()).set(packedTicketId(rows[i]![0]), i);
          else checkTicketRow(ticket);
        }
        if (missing) await this.rereadById(client, tickets, missing);
        yield tickets;
      }
      await client.query('COMMIT');
      finished = true;
    } finally {
      // A consumer that stopped early (or a failure) leaves a transaction and maybe a FETCH in
      // flight: the connection is closed rather than reused, which also ends the transaction.
      batches.abandon();
      client.release(finished ? undefined : true);
    }
  }

  /** Reads the rows that did not unpack again the ordinary way, by id, in the cursor's snapshot. */
  private async rereadById(
    client: pg.PoolClient,
    tickets: TicketRow[],
    missing: Map<string, number>,
  ): Promise<void> {
    const reread = await rereadTickets(client, this.fromSql(), [...missing.keys()], 'window cursor');
    for (const [id, index] of missing) tickets[index] = reread.get(id)!;
  }

  /** The plan PostgreSQL chooses for the window's cursor, as streamWindow opens it (EXPLAIN DECLARE). */
  async windowPlan(selection: WindowSelection): Promise<string[]> {
    const client = await this.pool.connect();
    try {
      await this.beginWindowTransaction(client);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${this.windowSql('packed')}`,
        windowParameters(selection),
      );
      return rows.map((row) => row['QUERY PLAN']);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  }

  /** The window's snapshot and session settings, shared with copy-window.ts. */
  async beginWindowTransaction(client: pg.PoolClient): Promise<void> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET LOCAL jit = off`);
    await client.query(`SET LOCAL datestyle = 'ISO'`);
  }

  async countWindow(selection: WindowSelection): Promise<number> {
    const { rows } = await this.pool.query<{ count: number }>(
      this.windowSql('count'),
      windowParameters(selection),
    );
    return rows[0]!.count;
  }

  async horizon(): Promise<SourceHorizon> {
    // Truncating to milliseconds rounds down: a window end taken from it stays <= the
    // transaction's microsecond start, so none of that transaction's tickets fall before it.
    const { rows } = await this.pool.query<{
      db_now: Date;
      pid: number | null;
      xact_start: Date | null;
      application_name: string | null;
      hidden: number;
    }>(
      `WITH others AS (
         SELECT pid, xact_start, application_name, state
           FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND application_name IS DISTINCT FROM $1)
       SELECT date_trunc('milliseconds', clock_timestamp()) AS db_now, o.pid,
              date_trunc('milliseconds', o.xact_start) AS xact_start, o.application_name,
              (SELECT count(*)::int FROM others WHERE state IS NULL) AS hidden
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT * FROM others WHERE xact_start IS NOT NULL ORDER BY xact_start LIMIT 1) o ON true`,
      [APPLICATION_NAME],
    );
    const row = rows[0]!;
    return {
      dbNow: row.db_now,
      oldestOpen:
        row.pid !== null && row.xact_start !== null
          ? { pid: row.pid, xactStart: row.xact_start, applicationName: row.application_name ?? '' }
          : null,
      hiddenSessions: row.hidden,
    };
  }

  async unknownCodes(kind: 'contact' | 'channel', codes: string[]): Promise<string[]> {
    if (codes.length === 0) return [];
    const table = kind === 'contact' ? `${this.schema}.contact` : `${this.schema}.sales_channel`;
    const column = kind === 'contact' ? 'contact_number' : 'code';
    // Both sides qualified: sales_channel has a column named `code` too, and an unqualified
    // `code = code` inside the subquery compared that column with itself (always true), so
    // unknown channels were never reported.
    const { rows } = await this.pool.query<{ code: string }>(
      `SELECT wanted.code FROM unnest($1::text[]) AS wanted(code)
        WHERE NOT EXISTS (SELECT 1 FROM ${table} AS known WHERE known.${column} = wanted.code)`,
      [codes],
    );
    return rows.map((row) => row.code);
  }
}

export function windowParameters(selection: WindowSelection): [Date, Date, string[], string[]] {
  return [selection.from, selection.to, selection.contacts, selection.channels];
}
