import pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { TicketRow } from '../tickets';
import { APPLICATION_NAME } from '../db/pool';

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

/** What bounds a window's end on the source side (see README "Late commits"). */
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

/** The narrow interface between the exporter and the ticketing data. */
export interface TicketSource {
  /** Streams the window's tickets in (created_at, id) order; never holds them all in memory. */
  streamWindow(selection: WindowSelection): AsyncIterable<TicketRow>;
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

const DEFAULT_BATCH_SIZE = 2000;

export class PostgresTicketSource implements TicketSource {
  private readonly schema: string;
  private readonly batchSize: number;

  constructor(
    private readonly pool: pg.Pool,
    options: PostgresTicketSourceOptions,
  ) {
    this.schema = options.schema;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  /** The window query: the range on ticket(created_at, id) drives it, so its cost follows the window, not the table. */
  windowSql(columns = 'full'): string {
    const s = this.schema;
    const select =
      columns === 'count'
        ? 'count(*)::int AS count'
        : `t.id::text AS "id", t.bar_code AS "barCode", t.state AS "state", o.file_number AS "fileNumber",
       t.product_code AS "productCode", p.name AS "productName", t.validity_date AS "validityDate",
       t.tariff_code AS "tariffCode", ta.name AS "tariffName", t.price::text AS "price",
       o.order_date AS "orderDate", o.contact_number AS "contactNumber", c.name AS "contactName",
       o.sales_channel_code AS "salesChannelCode", o.id::text AS "orderId", t.created_at AS "createdAt"`;
    return `SELECT ${select}
  FROM ${s}.ticket t
  JOIN ${s}.ticket_order o ON o.id = t.order_id
  JOIN ${s}.product p ON p.code = t.product_code
  JOIN ${s}.tariff ta ON ta.code = t.tariff_code
  LEFT JOIN ${s}.contact c ON c.contact_number = o.contact_number
 WHERE t.created_at >= $1 AND t.created_at < $2
   AND (o.contact_number = ANY($3::text[]) OR o.sales_channel_code = ANY($4::text[]))${
     columns === 'count' ? '' : '\n ORDER BY t.created_at, t.id'
   }`;
  }

  async *streamWindow(selection: WindowSelection): AsyncIterable<TicketRow> {
    const client = await this.pool.connect();
    let failed = false;
    try {
      const stream = client.query(
        new QueryStream(this.windowSql(), [selection.from, selection.to, selection.contacts, selection.channels], {
          batchSize: this.batchSize,
        }),
      );
      for await (const row of stream) yield row as TicketRow;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A client abandoned mid-cursor (consumer stopped early or failed) is not safe to reuse.
      client.release(failed ? true : undefined);
    }
  }

  async countWindow(selection: WindowSelection): Promise<number> {
    const { rows } = await this.pool.query<{ count: number }>(this.windowSql('count'), [
      selection.from,
      selection.to,
      selection.contacts,
      selection.channels,
    ]);
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
    const { rows } = await this.pool.query<{ code: string }>(
      `SELECT code FROM unnest($1::text[]) AS code WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE ${column} = code)`,
      [codes],
    );
    return rows.map((row) => row.code);
  }
}
