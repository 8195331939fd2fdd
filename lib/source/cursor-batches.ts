import type pg from 'pg';

/**
 * The batches of a declared server-side cursor (FETCH FORWARD), each next FETCH sent as soon as
 * the current batch has arrived, before the caller works on it: the client queues it, so
 * PostgreSQL produces the next batch meanwhile instead of waiting for each round trip (measured on
 * a million-ticket window, docs/performance.md). Both window queries read through it; each
 * unpacks its rows in its own generator loop (ticket-source.ts says why that matters).
 */
export class CursorBatches<Row extends unknown[]> {
  private ahead: Promise<pg.QueryResult<Row>> | undefined;

  constructor(
    private readonly client: pg.ClientBase,
    private readonly cursor: string,
    private readonly batchSize: number,
  ) {}

  /** Each batch until the cursor is done (no further FETCH is sent then). */
  async *[Symbol.asyncIterator](): AsyncIterator<Row[]> {
    for (;;) {
      const current = this.ahead ?? this.fetch();
      this.ahead = undefined;
      const { rows } = await current;
      if (rows.length === 0) return;
      this.ahead = this.fetch();
      yield rows;
    }
  }

  /** Stopped early: the FETCH still in flight is not awaited. */
  abandon(): void {
    this.ahead = undefined;
  }

  private fetch(): Promise<pg.QueryResult<Row>> {
    const fetched = this.client.query<Row>({
      text: `FETCH FORWARD ${this.batchSize} FROM ${this.cursor}`,
      rowMode: 'array',
    });
    // A read-ahead that fails while the caller is still on the current batch (a restart, a view
    // that errors on a later row) is awaited only at the next turn, or never: without a handler
    // now, Node would end the worker on an unhandled rejection. Awaiting it still throws.
    fetched.catch(() => {});
    return fetched;
  }
}
