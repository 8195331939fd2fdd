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

  /** Stopped early: a FETCH still in flight must not become an unhandled rejection. */
  abandon(): void {
    this.ahead?.catch(() => {});
    this.ahead = undefined;
  }

  private fetch(): Promise<pg.QueryResult<Row>> {
    return this.client.query<Row>({
      text: `FETCH FORWARD ${this.batchSize} FROM ${this.cursor}`,
      rowMode: 'array',
    });
  }
}
