/**
 * The window rendered by PostgreSQL: `COPY (SELECT <finished line>, <suspect> …) TO STDOUT (FORMAT
 * binary)` streamed straight into the parts (lib/format/encoded-lines.ts). Binary COPY frames each
 * row with its length, so the exporter finds row boundaries (and the exact bytes of each line, for
 * the part splitting) without reading the lines, whatever quoted CR or LF they hold.
 *
 * The source-row validation of row-decoding.ts is kept: the query flags every row that breaks
 * CONTRACT.md §2 (the same checks, in SQL) in a second column, NULL for a good row. A flagged row
 * stops the stream and is read again by id the ordinary way, so checkPlainTicketRow throws the very
 * SourceRowError the JavaScript path throws. A flagged row that passes that check holds a value the
 * database would not write as the JavaScript renderer does (a time before 1900): the window is then
 * refused with DatabaseRenderFallback, for the caller to render it in JavaScript instead.
 */

import { to as copyTo } from 'pg-copy-streams';
import pg from 'pg';
import { BarcodesError, SourceRowError } from '../errors';
import { DATABASE_RENDERED_TIMES, databaseRenderRefusal, lineSql } from '../format/database-render';
import { renderEncodedLines, type EncodedLines } from '../format/encoded-lines';
import type { FormatSpec } from '../format/spec';
import type { PartSink, RenderContext, RenderResult } from '../format/types';
import { TICKET_STATES, type TicketRow } from '../tickets';
import {
  WINDOW_COLUMNS,
  WINDOW_ROW_TYPES,
  checkPlainTicketRow,
  plainSelectList,
  toTicketRow,
} from './row-decoding';
import { windowParameters, type PostgresTicketSource, type WindowSelection } from './ticket-source';

/** The database cannot render this window the way the JavaScript renderer would: render it there. Nothing it wrote may be kept. */
export class DatabaseRenderFallback extends BarcodesError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      `database rendering: ${reason}; the JavaScript renderer takes the window`,
      'DATABASE_RENDER_FALLBACK',
      options,
    );
  }
}

/**
 * Renders one window with `spec` in PostgreSQL into `sink`: the same parts, bytes and result as
 * `renderWindow(source.streamWindow(selection), spec, ctx, sink)`.
 *
 * Throws SourceRowError for a row that breaks the contract, FormatError for an invalid spec or
 * context, and DatabaseRenderFallback when the database cannot render the spec (check
 * databaseRenderRefusal first) or a value in the window: the sink's writes must then be discarded
 * (e.g. rolled back to a savepoint) and the window rendered with renderWindow.
 */
export async function renderWindowInDatabase(
  source: PostgresTicketSource,
  selection: WindowSelection,
  spec: FormatSpec,
  ctx: RenderContext,
  sink: PartSink,
): Promise<RenderResult> {
  const timeZone = ctx.timeZone || 'UTC';
  const refusal = databaseRenderRefusal(spec, timeZone);
  if (refusal !== null) throw new DatabaseRenderFallback(refusal);
  return renderEncodedLines(copyWindowLines(source, selection, spec, timeZone), spec, ctx, sink);
}

/** The COPY statement of a window's lines (parameters written in: COPY takes none). */
function copyWindowSql(
  source: PostgresTicketSource,
  selection: WindowSelection,
  spec: FormatSpec,
  timeZone: string,
): string {
  const line = lineSql(spec, timeZone, fieldSqlOf);
  const query = source.windowSql({ select: `${line} AS line, ${suspectSql()} AS suspect` });
  return `COPY (${inlineWindowParameters(query, windowParameters(selection))}) TO STDOUT (FORMAT binary)`;
}

/** The window query's SQL of each TicketRow property (WINDOW_COLUMNS), without the text casts lineSql does not want. */
function fieldSqlOf(property: keyof TicketRow): string | null {
  const column = WINDOW_COLUMNS.find(([, p]) => p === property);
  if (column === undefined) return null;
  // Prices are rounded as numeric; ids stay text (bigint::text is what the JavaScript path shows).
  return property === 'price' ? 't.price' : column[0];
}

/**
 * The ticket id (never NULL: '' when the id itself is) of a row checkPlainTicketRow would refuse,
 * or of a row holding a time the database does not render alike; NULL for every other row.
 */
function suspectSql(): string {
  const notNull = WINDOW_COLUMNS.filter(([, , nullable]) => !nullable).map(([sql]) => `(${sql}) IS NULL`);
  const states = TICKET_STATES.map((state) => pg.escapeLiteral(state)).join(', ');
  const outside = (sql: string) =>
    `NOT isfinite(${sql}) OR ${sql} < ${pg.escapeLiteral(DATABASE_RENDERED_TIMES.from)}::timestamptz OR ${sql} >= ${pg.escapeLiteral(DATABASE_RENDERED_TIMES.to)}::timestamptz`;
  const checks = [
    ...notNull,
    `t.bar_code = ''`,
    `t.state NOT IN (${states})`,
    // What isFiniteDecimal accepts: neither NaN (greater than any number in PostgreSQL) nor ±Infinity.
    `NOT (t.price::numeric < 'Infinity' AND t.price::numeric > '-Infinity')`,
    outside('o.order_date'),
    outside('t.created_at'),
    // checkTicketRow's test of the ISO text (YYYY-MM-DD, 10 characters): true exactly for the
    // dates of years 1 to 9999; infinity and BC dates are refused. Compared as dates, not printed.
    `NOT (t.validity_date::date BETWEEN '0001-01-01' AND '9999-12-31')`,
  ];
  return `CASE WHEN ${checks.join('\n   OR ')} THEN coalesce(t.id::text, '') END`;
}

/** $1, $2 (timestamps) and $3, $4 (text arrays) of the window query as literals. */
function inlineWindowParameters(
  sql: string,
  values: [Date, Date, readonly string[], readonly string[]],
): string {
  const literal = (value: Date | readonly string[]): string =>
    value instanceof Date
      ? `${pg.escapeLiteral(value.toISOString())}::timestamptz`
      : `ARRAY[${value.map((item) => pg.escapeLiteral(item)).join(',')}]::text[]`;
  return sql.replace(/\$([1-4])(::text\[\])?/g, (_match, index: string) =>
    literal(values[Number(index) - 1]!),
  );
}

/**
 * Streams the window's lines, one batch per chunk PostgreSQL sends, in the window transaction of
 * the cursor path (repeatable read, read only, no JIT, ISO dates).
 */
async function* copyWindowLines(
  source: PostgresTicketSource,
  selection: WindowSelection,
  spec: FormatSpec,
  timeZone: string,
): AsyncIterable<EncodedLines> {
  const client = await source.pool.connect();
  let finished = false;
  let suspect: string | null = null;
  try {
    await source.beginWindowTransaction(client);
    const { rows } = await client.query<{ server_encoding: string; client_encoding: string }>(
      `SELECT current_setting('server_encoding') AS server_encoding, current_setting('client_encoding') AS client_encoding`,
    );
    // textsend converts to the client encoding, except from SQL_ASCII, whose bytes pass unchecked
    // where the JavaScript path would decode them: only UTF-8 on both ends is the same text.
    if (rows[0]!.server_encoding !== 'UTF8' || rows[0]!.client_encoding !== 'UTF8') {
      throw new DatabaseRenderFallback(
        `server encoding ${rows[0]!.server_encoding}, client encoding ${rows[0]!.client_encoding}`,
      );
    }
    // Read ahead while the sink stores a chunk: PostgreSQL keeps writing lines meanwhile instead of
    // waiting on a full socket (16 KiB, the default, stalled it on every stored chunk). Object mode
    // hands over the chunks as they came off the socket: in byte mode each read joins everything
    // buffered into one new buffer of up to the whole read-ahead, a copy of the file in large
    // short-lived buffers.
    const stream = client.query(
      copyTo(copyWindowSql(source, selection, spec, timeZone), {
        objectMode: true,
        highWaterMark: READ_AHEAD_CHUNKS,
      }),
    );
    const parser = new BinaryCopyParser();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const batch = parser.push(chunk);
      if (batch.ends.length > 0) yield batch;
      if (parser.suspect !== null) {
        suspect = parser.suspect;
        break;
      }
    }
    if (suspect === null) {
      parser.end();
      await client.query('COMMIT');
      finished = true;
    }
  } finally {
    // Stopped early (a suspect row, a failure, a consumer that gave up): the COPY is still running
    // on this connection, which is closed rather than reused; that also ends the transaction.
    client.release(finished ? undefined : true);
  }
  if (suspect !== null) await refuseSuspect(source, suspect);
}

/** Throws the SourceRowError the JavaScript path throws for this row, or DatabaseRenderFallback. */
async function refuseSuspect(source: PostgresTicketSource, ticketId: string): Promise<never> {
  if (ticketId === '') throw new SourceRowError('null', 'ticket.id', 'is null');
  const { rows } = await source.pool.query<unknown[]>({
    text: `SELECT ${plainSelectList()}\n${source.fromSql()}\n WHERE t.id = $1::bigint`,
    values: [ticketId],
    rowMode: 'array',
    types: WINDOW_ROW_TYPES,
  });
  for (const row of rows) checkPlainTicketRow(toTicketRow(row));
  throw new DatabaseRenderFallback(
    `ticket ${ticketId} holds a time outside ${DATABASE_RENDERED_TIMES.from} .. ${DATABASE_RENDERED_TIMES.to} (or changed since it was read)`,
  );
}

/**
 * How far the COPY may run ahead of the sink, in socket reads (each at most the socket's buffer,
 * 64 KiB): about 8 MiB, a little more than one stored chunk (the ledger's 1 MiB).
 */
const READ_AHEAD_CHUNKS = 128;
/** A row cut at a chunk boundary is completed from at most this much of the next chunk before the whole chunk is joined. */
const JOIN_BYTES = 64 * 1024;

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Reads the rows of a binary COPY of (line text, suspect text): a 2-byte field count, then per
 * field a 4-byte length (-1: NULL) and the bytes; a field count of -1 ends the data. Each chunk's
 * complete lines are copied together into one new buffer (never reused: the sink may keep it).
 * Only the row cut at the end of a chunk is joined with the start of the next one: the rest of a
 * chunk is read where it lies.
 */
export class BinaryCopyParser {
  /** Set when a flagged row was met: its ticket id. The lines before it were returned. */
  suspect: string | null = null;
  private rest: Buffer = Buffer.alloc(0);
  private headerRead = false;
  private ended = false;

  push(chunk: Buffer): EncodedLines {
    const out = Buffer.allocUnsafe(this.rest.length + chunk.length);
    const lines: Lines = { out, written: 0, ends: [] };
    let data = chunk;
    let at = 0;
    if (this.rest.length > 0) {
      const head = Buffer.concat([this.rest, chunk.subarray(0, JOIN_BYTES)]);
      at = this.readRows(head, 0, lines);
      if (at >= this.rest.length) {
        at -= this.rest.length; // the cut row is whole: go on in the chunk itself
      } else {
        // A row longer than the join (or than the whole chunk): read on in the joined bytes.
        data = chunk.length > JOIN_BYTES ? Buffer.concat([this.rest, chunk]) : head;
      }
    }
    if (this.suspect === null && !this.ended) at = this.readRows(data, at, lines);
    this.rest = data.subarray(at);
    return { bytes: out.subarray(0, lines.written), ends: lines.ends };
  }

  /** Reads the complete rows of `data` from `at` into `lines`; returns where the first incomplete row starts. */
  private readRows(data: Buffer, at: number, lines: Lines): number {
    if (!this.headerRead) {
      if (data.length < 19) return at;
      if (!data.subarray(0, 11).equals(SIGNATURE)) throw new Error('binary COPY: unexpected signature');
      const rowsStart = 19 + data.readInt32BE(15);
      if (data.length < rowsStart) return at;
      at = rowsStart;
      this.headerRead = true;
    }
    while (at + 2 <= data.length) {
      const fields = data.readInt16BE(at);
      if (fields === -1) {
        this.ended = true;
        return at + 2;
      }
      if (fields !== 2) throw new Error(`binary COPY: a row of ${fields} fields, expected 2`);
      if (at + 6 > data.length) break;
      const lineLength = data.readInt32BE(at + 2);
      const lineStart = at + 6;
      if (lineStart + lineLength + 4 > data.length) break;
      const suspectLength = data.readInt32BE(lineStart + lineLength);
      const suspectStart = lineStart + lineLength + 4;
      if (suspectLength >= 0 && suspectStart + suspectLength > data.length) break;
      if (suspectLength >= 0) {
        this.suspect = data.toString('utf8', suspectStart, suspectStart + suspectLength);
        return at;
      }
      // A line is never NULL: every cell is coalesced.
      if (lineLength < 0) throw new Error('binary COPY: a NULL line');
      data.copy(lines.out, lines.written, lineStart, lineStart + lineLength);
      lines.written += lineLength;
      lines.ends.push(lines.written);
      at = suspectStart;
    }
    return at;
  }

  /** Checks the stream ended where a binary COPY ends. */
  end(): void {
    if (!this.ended) throw new Error('binary COPY: the data ended without its trailer');
  }
}

/** The lines read from one chunk so far. */
interface Lines {
  out: Buffer;
  written: number;
  ends: number[];
}
