/**
 * The window of an interface with state changes on (CONTRACT.md §1): the tickets created in it,
 * then one row per earlier ticket (created at or after the interface's start) whose state at the
 * window's end differs from its state at the window's start, every row showing the state as of
 * the window's end. Computed in SQL from ticket_state_change, streamed with a cursor like the
 * ticket query, decoded with the same packed rows (row-decoding.ts).
 *
 * The state of a ticket as of T (the contract's definition, the only one used anywhere): order
 * its change rows by id; the new_state of the last one with changed_at < T, else the old_state of
 * the first one, else ticket.state.
 *
 * Why only tickets with a change in [start, end) can differ: a state as of T depends on the
 * changes with changed_at < T (and on the first change, and ticket.state, the same for both
 * times). Without a change in [start, end) both times see the same set, hence the same state.
 * So a range scan on ticket_state_change (changed_at, id) finds every candidate and the cost
 * follows the window, not the log; of each candidate's changes in the window only its last one
 * before the end is kept (stateChangesSql says why that is exact), and its state at the start
 * comes from its own earlier changes by the (ticket_id, id) index.
 *
 * Why this is exactly once under late commits: changed_at is the changing transaction's start,
 * like created_at, and a window's end is held at the oldest open transaction's start
 * (lib/window.ts). When a window is read, every change with changed_at < end is committed and
 * visible, so its states at start and end are final: a change committed late has a changed_at
 * >= that end and lands in a later window. The "state at end" reads only changes before the end.
 */
import pg from 'pg';
import { SourceRowError } from '../errors';
import { CursorBatches } from './cursor-batches';
import { TICKET_STATES, type RowChange, type TicketRow } from '../tickets';
import {
  checkLoggedState,
  checkTicketRow,
  packedSelectList,
  packedTicketId,
  parseIsoTimestamptz,
  unpackTicketRow,
} from './row-decoding';
import {
  DEFAULT_BATCH_SIZE,
  rereadTickets,
  ticketFromSql,
  type TicketBatch,
  type WindowSelection,
} from './ticket-source';
import type { ExportInterface } from '../interfaces/store';

/** What a state-change window selects, beyond the plain window's mappings and bounds. */
export interface StateChangeSelection extends WindowSelection {
  /** The interface's first window start: tickets created before it are never its. */
  since: Date;
  /** End states whose changes are shown; empty: every state. NEW rows are always shown. */
  states: readonly string[];
  /**
   * `window-end`: every row shows the state as of `to` (scheduled and run windows, preview).
   * `now`: every row shows the ticket's state now (backfills: a re-delivery never revives a
   * cancelled barcode); which rows there are still follows the range.
   */
  asOf: 'window-end' | 'now';
}

/** The log is missing (an operator's source without the SQL of docs/state-changes.md): the window cannot be made. */
export class StateChangeLogMissingError extends Error {
  constructor(schema: string, options: { cause: unknown }) {
    super(
      `${schema}.ticket_state_change does not exist: install the change log (docs/state-changes.md) or turn state changes off`,
      options,
    );
    this.name = 'StateChangeLogMissingError';
  }
}

/** PostgreSQL's undefined_table. */
const UNDEFINED_TABLE = '42P01';

/** Separates the extra values of a state-change row (the packed row's separator: no state holds it). */
const SEPARATOR = '\x1f';
/** Stands for NULL among the extra values (concat_ws would drop a NULL and shift the rest). */
const NULL_MARK = '\x1e';

const CURSOR = 'barcodes_state_window';

export interface PostgresStateChangeSourceOptions {
  schema: string;
  batchSize?: number;
}

/** What the activities and commands need of the change log. */
export interface StateChangeSource {
  streamWindow(selection: StateChangeSelection): AsyncIterable<TicketBatch>;
  countWindow(selection: StateChangeSelection): Promise<{ newTickets: number; stateChanges: number }>;
  changedSince(selection: WindowSelection & { since: Date | null }): Promise<number | null>;
}

export class PostgresStateChangeSource implements StateChangeSource {
  private readonly schema: string;
  private readonly batchSize: number;

  constructor(
    private readonly pool: pg.Pool,
    options: PostgresStateChangeSourceOptions,
  ) {
    this.schema = options.schema;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  /**
   * The state of ticket `t` as of a time, as one text value (the contract's definition): the
   * new_state of `lastBefore` (its last change before that time, a lateral join), else the
   * old_state of its first change, else ticket.state. COALESCE evaluates lazily, so the
   * first-change lookup runs only for tickets without a change before that time.
   */
  private stateAt(lastBefore: string): string {
    return `coalesce(${lastBefore}.new_state,
              (SELECT f.old_state FROM ${this.schema}.ticket_state_change f WHERE f.ticket_id = t.id ORDER BY f.id LIMIT 1),
              t.state)`;
  }

  /** The last change of `t` (by id) with changed_at before `at` (null: no bound), as a lateral join named `alias`. */
  private lastChangeBefore(alias: string, at: string | null): string {
    const bound = at === null ? '' : ` AND ${alias}_c.changed_at < ${at}`;
    return `LEFT JOIN LATERAL (SELECT ${alias}_c.new_state, ${alias}_c.changed_at FROM ${this.schema}.ticket_state_change ${alias}_c
             WHERE ${alias}_c.ticket_id = t.id${bound} ORDER BY ${alias}_c.id DESC LIMIT 1) ${alias} ON true`;
  }

  private fromSql(): string {
    return ticketFromSql(this.schema);
  }

  /**
   * Tickets created in [$1, $2), matching the mappings ($3, $4): the plain window's rows, with the
   * state as of the window's end (or now) instead of the state when the window is read.
   * Parameters: $1 from, $2 to, $3 contacts, $4 channels.
   */
  newTicketsSql(asOf: StateChangeSelection['asOf'], columns: 'packed' | 'count' = 'packed'): string {
    const shown = asOf === 'now' ? 't.state' : this.stateAt('e');
    const select =
      columns === 'count' ? 'count(*)::int AS count' : `${packedSelectList()}, ${shown} AS extra`;
    return `SELECT ${select}
${this.fromSql()}
  ${asOf === 'now' || columns === 'count' ? '' : this.lastChangeBefore('e', '$2')}
 WHERE t.created_at >= $1 AND t.created_at < $2
   AND (o.contact_number = ANY($3::text[]) OR o.sales_channel_code = ANY($4::text[]))${columns === 'count' ? '' : '\n ORDER BY t.created_at, t.id'}`;
  }

  /**
   * Earlier tickets whose state at $2 differs from their state at $1, one row each.
   *
   * The rows come straight from the range scan on (changed_at, id): a change `w` in [$1, $2) is
   * kept when no change of its ticket with a higher id has changed_at < $2, i.e. when `w` is the
   * ticket's last change before the end, so its new_state is the state at the end and its
   * changed_at the row's CHANGED_AT. Every ticket whose states differ has exactly one such
   * change: its last change before the end must lie in [$1, $2), for one before $1 would also be
   * its last change before $1 and both states would be the same. No DISTINCT, no second lookup of
   * the state at the end, and the scan's order is the row order up to ties in changed_at (an
   * incremental sort by ticket id within a changed_at, not a sort of the whole window).
   * One backward scan of the ticket's changes in (ticket_id, id) answers both remaining questions:
   * the highest change that is either above `w`'s id and before $2 (then `w` is not the last
   * change before the end: no row) or below it and before $1 (the last change before the start,
   * whose new_state is the state at the start; none above `w` is before $1, since none is before
   * $2). One index probe per row instead of two: a fifth to a third less time (bench database,
   * 100,000 changes, EXPLAIN ANALYZE).
   * Parameters: $1 from, $2 to, $3 contacts, $4 channels, $5 since (the interface's start),
   * $6 end states shown (empty: all).
   */
  stateChangesSql(asOf: StateChangeSelection['asOf'], columns: 'packed' | 'count' = 'packed'): string {
    const s = this.schema;
    const atStart = this.stateAt('b');
    // The row shows the state as of the end (or now) and the change that gave it.
    const shownState = asOf === 'now' ? 't.state' : 'w.new_state';
    const shownChangedAt = asOf === 'now' ? 'n.changed_at' : 'w.changed_at';
    const select =
      columns === 'count'
        ? 'count(*)::int AS count'
        : `${packedSelectList()}, concat_ws(chr(31), coalesce(${shownState}, chr(30)), coalesce(st.at_start, chr(30)), coalesce(${shownChangedAt}::text, chr(30))) AS extra`;
    return `SELECT ${select}
${this.fromSql()}
  JOIN ${s}.ticket_state_change w ON w.ticket_id = t.id
  LEFT JOIN LATERAL (SELECT b_c.id, b_c.new_state FROM ${s}.ticket_state_change b_c
             WHERE b_c.ticket_id = t.id AND ((b_c.id > w.id AND b_c.changed_at < $2) OR (b_c.id < w.id AND b_c.changed_at < $1))
             ORDER BY b_c.id DESC LIMIT 1) b ON true
  ${asOf === 'now' && columns !== 'count' ? this.lastChangeBefore('n', null) : ''}
  -- OFFSET 0 keeps this a subquery of its own: inlined, the state was computed twice (filter and select list).
  CROSS JOIN LATERAL (SELECT ${atStart} AS at_start OFFSET 0) st
 WHERE w.changed_at >= $1 AND w.changed_at < $2
   AND (b.id IS NULL OR b.id < w.id)
   AND t.created_at >= $5 AND t.created_at < $1
   AND (o.contact_number = ANY($3::text[]) OR o.sales_channel_code = ANY($4::text[]))
   AND w.new_state IS DISTINCT FROM st.at_start
   AND (cardinality($6::text[]) = 0 OR ${shownState} = ANY($6::text[]) OR ${shownState} IS NULL OR ${shownState} <> ALL(${KNOWN_STATES_SQL}))${columns === 'count' ? '' : `\n ORDER BY ${shownChangedAt}, w.ticket_id`}`;
  }

  /**
   * Streams the window: NEW rows in (created_at, id) order, then STATE_CHANGE rows in (changed_at,
   * ticket id) order, a batch at a time, both read in one repeatable-read snapshot so a ticket's
   * states and its row agree. Rows get `change`, `previousState` and `changedAt` in one order,
   * so every row of the window has one hidden class.
   */
  async *streamWindow(selection: StateChangeSelection): AsyncIterable<TicketBatch> {
    const client = await this.pool.connect();
    let finished = false;
    try {
      await beginSnapshot(client);
      const parts: [RowChange, string, unknown[]][] = [
        [
          'NEW',
          this.newTicketsSql(selection.asOf),
          [selection.from, selection.to, selection.contacts, selection.channels],
        ],
        ['STATE_CHANGE', this.stateChangesSql(selection.asOf), stateChangeParameters(selection)],
      ];
      for (const [change, sql, parameters] of parts) {
        yield* this.streamCursor(client, change, sql, parameters);
      }
      await client.query('COMMIT');
      finished = true;
    } catch (error) {
      if ((error as { code?: string }).code === UNDEFINED_TABLE)
        throw new StateChangeLogMissingError(this.schema, { cause: error });
      throw error;
    } finally {
      // As in ticket-source.ts: a consumer that stopped early leaves a transaction (and maybe a
      // FETCH) behind: the connection is closed rather than reused.
      client.release(finished ? undefined : true);
    }
  }

  private async *streamCursor(
    client: pg.PoolClient,
    change: RowChange,
    sql: string,
    parameters: unknown[],
  ): AsyncIterable<TicketBatch> {
    await client.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sql}`, parameters);
    const batches = new CursorBatches<[string, string]>(client, CURSOR, this.batchSize);
    try {
      for await (const rows of batches) {
        const tickets = new Array<TicketRow>(rows.length);
        let missing: Map<string, number> | null = null;
        for (let i = 0; i < rows.length; i++) {
          const [packed, extra] = rows[i]!;
          const ticket = unpackTicketRow(packed);
          if (ticket === null) {
            (missing ??= new Map()).set(packedTicketId(packed), i);
            tickets[i] = { id: packedTicketId(packed), extra } as unknown as TicketRow;
            continue;
          }
          // The contract's checks, as for new tickets: a row that breaks it fails the window here.
          checkTicketRow(ticket);
          tickets[i] = withChange(ticket, change, extra);
        }
        if (missing) await this.rereadById(client, tickets, missing, change);
        yield tickets;
      }
    } finally {
      batches.abandon();
    }
    await client.query(`CLOSE ${CURSOR}`);
  }

  /** Rows whose packed form was ambiguous, read again the ordinary way in the same snapshot. */
  private async rereadById(
    client: pg.PoolClient,
    tickets: TicketRow[],
    missing: Map<string, number>,
    change: RowChange,
  ): Promise<void> {
    const reread = await rereadTickets(client, this.fromSql(), [...missing.keys()], 'state-change window');
    for (const [id, index] of missing) {
      const extra = (tickets[index] as unknown as { extra: string }).extra;
      tickets[index] = withChange(reread.get(id)!, change, extra);
    }
  }

  /** Counts the window's rows (NEW and STATE_CHANGE) without reading them. */
  async countWindow(selection: StateChangeSelection): Promise<{ newTickets: number; stateChanges: number }> {
    const client = await this.pool.connect();
    try {
      await beginSnapshot(client);
      const fresh = await client.query<{ count: number }>(this.newTicketsSql(selection.asOf, 'count'), [
        selection.from,
        selection.to,
        selection.contacts,
        selection.channels,
      ]);
      const changed = await client.query<{ count: number }>(
        this.stateChangesSql(selection.asOf, 'count'),
        stateChangeParameters(selection),
      );
      return { newTickets: fresh.rows[0]!.count, stateChanges: changed.rows[0]!.count };
    } catch (error) {
      if ((error as { code?: string }).code === UNDEFINED_TABLE)
        throw new StateChangeLogMissingError(this.schema, { cause: error });
      throw error;
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  }

  /** The plans PostgreSQL chooses for the two cursors (EXPLAIN DECLARE), for tests and the benchmark. */
  async windowPlans(
    selection: StateChangeSelection,
  ): Promise<{ newTickets: string[]; stateChanges: string[] }> {
    const client = await this.pool.connect();
    try {
      await beginSnapshot(client);
      const explain = async (sql: string, parameters: unknown[]) =>
        (
          await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sql}`,
            parameters,
          )
        ).rows.map((row) => row['QUERY PLAN']);
      return {
        newTickets: await explain(this.newTicketsSql(selection.asOf), [
          selection.from,
          selection.to,
          selection.contacts,
          selection.channels,
        ]),
        stateChanges: await explain(this.stateChangesSql(selection.asOf), stateChangeParameters(selection)),
      };
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  }

  /**
   * How many of the tickets a stored window held changed state after the window's end, for the
   * resend warning: the tickets created in the window and, when state changes were on, those with
   * a change in it. Null when the source has no change log (nothing to tell).
   */
  async changedSince(selection: WindowSelection & { since: Date | null }): Promise<number | null> {
    const s = this.schema;
    const withChanges = selection.since !== null;
    try {
      const { rows } = await this.pool.query<{ count: number }>(
        `SELECT count(*)::int AS count
           FROM ${s}.ticket t JOIN ${s}.ticket_order o ON o.id = t.order_id
          WHERE (o.contact_number = ANY($3::text[]) OR o.sales_channel_code = ANY($4::text[]))
            AND ((t.created_at >= $1 AND t.created_at < $2)
                 ${withChanges ? `OR (t.created_at >= $5 AND t.created_at < $1 AND EXISTS (SELECT 1 FROM ${s}.ticket_state_change w WHERE w.ticket_id = t.id AND w.changed_at >= $1 AND w.changed_at < $2))` : ''})
            AND EXISTS (SELECT 1 FROM ${s}.ticket_state_change x WHERE x.ticket_id = t.id AND x.changed_at >= $2)`,
        [
          selection.from,
          selection.to,
          selection.contacts,
          selection.channels,
          ...(withChanges ? [selection.since] : []),
        ],
      );
      return rows[0]!.count;
    } catch (error) {
      if ((error as { code?: string }).code === UNDEFINED_TABLE) return null;
      throw error;
    }
  }
}

function stateChangeParameters(selection: StateChangeSelection): unknown[] {
  return [
    selection.from,
    selection.to,
    selection.contacts,
    selection.channels,
    selection.since,
    [...selection.states],
  ];
}

/**
 * A backfill's state-change rows (shown as of now) are sorted by their latest change before the
 * first one is sent (the order is the contract's); at the default 4 MB a 100,000-change window's
 * sort spilled to disk (27 MB), in memory it took a sixth less time (bench, docs/performance.md).
 * Scheduled windows only sort ties within one changed_at. A cap per sort, not an allocation.
 */
const SORT_MEMORY = '64MB';

async function beginSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  await client.query('SET LOCAL jit = off');
  await client.query(`SET LOCAL work_mem = '${SORT_MEMORY}'`);
  await client.query(`SET LOCAL datestyle = 'ISO'`);
}

const orNull = (value: string): string | null => (value === NULL_MARK ? null : value);

/**
 * A state-change row whose state is NULL or not the contract's comes through a states filter too,
 * so that it fails the window naming the ticket (withChange) instead of vanishing from the file.
 */
const KNOWN_STATES_SQL = `ARRAY[${TICKET_STATES.map((state) => pg.escapeLiteral(state)).join(', ')}]::text[]`;

/**
 * Adds the state-change fields, always in this order (one hidden class for the whole window).
 * `extra` is the shown state, or `state␟previous state␟changed_at` for a STATE_CHANGE row.
 */
function withChange(ticket: TicketRow, change: RowChange, extra: string): TicketRow {
  if (change === 'NEW') {
    checkLoggedState(ticket.id, 'state at the window end (ticket_state_change)', extra);
    ticket.state = extra;
    ticket.change = change;
    ticket.previousState = null;
    ticket.changedAt = null;
    return ticket;
  }
  const first = extra.indexOf(SEPARATOR);
  const second = extra.indexOf(SEPARATOR, first + 1);
  const state = orNull(extra.slice(0, first));
  const previousState = orNull(extra.slice(first + 1, second));
  const changedAtText = extra.slice(second + 1);
  checkLoggedState(ticket.id, 'ticket_state_change.new_state', state);
  checkLoggedState(ticket.id, 'state at the window start (ticket_state_change)', previousState);
  const changedAt = parseIsoTimestamptz(changedAtText) ?? new Date(orNull(changedAtText) ?? NaN);
  if (Number.isNaN(changedAt.getTime()))
    throw new SourceRowError(ticket.id, 'ticket_state_change.changed_at', 'is null or not a finite time');
  ticket.state = state!;
  ticket.change = change;
  ticket.previousState = previousState;
  ticket.changedAt = changedAt;
  return ticket;
}

/**
 * How many tickets of a stored file changed state since its window (null: the log cannot say):
 * a resend sends the file as it was, and the worker and the CLI both say so when this is not 0.
 * One rule for which tickets count: the interface's mappings now, and, for an interface with state
 * changes on, only tickets at or after its first window start.
 */
export function ticketsChangedSince(
  source: Pick<StateChangeSource, 'changedSince'>,
  iface: Pick<ExportInterface, 'contacts' | 'channels' | 'stateChanges' | 'startAt'>,
  stored: { windowStart: Date; windowEnd: Date },
): Promise<number | null> {
  return source.changedSince({
    contacts: iface.contacts,
    channels: iface.channels,
    from: stored.windowStart,
    to: stored.windowEnd,
    since: iface.stateChanges ? iface.startAt : null,
  });
}
