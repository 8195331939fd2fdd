import { randomInt } from 'node:crypto';
import pg from 'pg';
import { insertSale, type Sale, type SoldTicket } from '../../devstack/sales-simulator';
import { sleep } from '../../devstack/log';

/** How one writer loop shapes its transactions. */
export interface SalesWriterOptions {
  /** Pool on the source database; its sessions must be visible to the exporter's horizon. */
  pool: pg.Pool;
  /** Schema of the ticket source tables. */
  schema: string;
  /** Picks the next order (contact, channel, ticket count). */
  nextSale: () => Sale;
  /** Writer loops running at once, each with its own connection and transaction. */
  concurrency: number;
  /** Orders per transaction, inclusive range. */
  ordersPerTransaction: [number, number];
  /** Pause between two transactions of one loop, inclusive range in milliseconds. */
  pauseMillis: [number, number];
  /** Share (0..1) of transactions held open long before they commit (late commits). */
  longShare: number;
  /** How long a long transaction stays open, inclusive range in milliseconds. */
  longHoldMillis: [number, number];
  /** Share (0..1) of transactions rolled back: their tickets must never be delivered. */
  rollbackShare: number;
}

/** One committed transaction, for the late-commit evidence. */
export interface CommittedTransaction {
  /** Its now(): the created_at of its tickets. */
  startedAt: Date;
  /** When COMMIT returned (client clock: same machine as the database). */
  committedAt: Date;
  /** Whether it was one of the long ones. */
  long: boolean;
  tickets: SoldTicket[];
}

/** What the simulator wrote, as far as it knows. */
export interface SalesRecord {
  committed: CommittedTransaction[];
  /** Tickets of rolled-back or failed transactions: they do not exist in the source. */
  rolledBack: SoldTicket[];
  /** Tickets whose COMMIT got no answer (the server went away meanwhile): the source decides. */
  uncertain: SoldTicket[];
  /** Transactions that failed on a database error (restarts), rolled back or uncertain. */
  failedTransactions: number;
}

/**
 * A sales simulator for the fault suite: several loops write orders continuously, in short
 * transactions, long ones that commit late, and rolled-back ones, and keep a record of what they
 * committed. Database errors (a restarted server) are counted, not fatal.
 */
export class SalesWriter {
  readonly record: SalesRecord = { committed: [], rolledBack: [], uncertain: [], failedTransactions: 0 };
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: SalesWriterOptions) {}

  start(): this {
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
    return this;
  }

  /** Stops starting transactions and waits until the open ones have committed or rolled back. */
  async stop(): Promise<SalesRecord> {
    this.stopping = true;
    await Promise.all(this.loops);
    return this.record;
  }

  /** Every ticket known to be committed. */
  committedTickets(): SoldTicket[] {
    return this.record.committed.flatMap((transaction) => transaction.tickets);
  }

  /**
   * One transaction, outside the loops: begins, writes `sales`, stays open `holdMillis`, commits.
   * The late-commit scenario uses it for transactions longer than any window.
   */
  async writeTransaction(
    sales: Sale[],
    holdMillis: number,
    outcome: 'commit' | 'rollback' = 'commit',
  ): Promise<CommittedTransaction | undefined> {
    return this.transaction(sales, holdMillis, outcome, true);
  }

  private async loop(): Promise<void> {
    const { ordersPerTransaction, pauseMillis, longShare, longHoldMillis, rollbackShare } = this.options;
    while (!this.stopping) {
      const sales = Array.from({ length: between(ordersPerTransaction) }, () => this.options.nextSale());
      const long = Math.random() < longShare;
      const outcome = Math.random() < rollbackShare ? 'rollback' : 'commit';
      await this.transaction(sales, long ? between(longHoldMillis) : 0, outcome, long);
      await sleep(between(pauseMillis));
    }
  }

  /** Writes one transaction; returns it when it committed. */
  private async transaction(
    sales: Sale[],
    holdMillis: number,
    outcome: 'commit' | 'rollback',
    long: boolean,
  ): Promise<CommittedTransaction | undefined> {
    let client: pg.PoolClient;
    try {
      client = await this.options.pool.connect();
    } catch {
      this.record.failedTransactions++;
      await sleep(200);
      return undefined;
    }
    // A checked-out client has no error listener (pg-pool removes its own): without this one, a
    // server restart while the transaction waits would crash the suite instead of failing it.
    const ignoreError = () => {};
    client.on('error', ignoreError);
    const written: SoldTicket[] = [];
    let committing = false;
    let broken = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ started: Date }>('SELECT now() AS started');
      for (const sale of sales) written.push(...(await insertSale(client, this.options.schema, sale)));
      if (holdMillis > 0) await sleep(holdMillis);
      if (outcome === 'rollback') {
        await client.query('ROLLBACK');
        this.record.rolledBack.push(...written);
        return undefined;
      }
      committing = true;
      await client.query('COMMIT');
      const committed = { startedAt: rows[0]!.started, committedAt: new Date(), long, tickets: written };
      this.record.committed.push(committed);
      return committed;
    } catch {
      broken = true;
      this.record.failedTransactions++;
      // A COMMIT without an answer may or may not have happened: the source table decides.
      if (committing) this.record.uncertain.push(...written);
      else this.record.rolledBack.push(...written);
      await client.query('ROLLBACK').catch(() => {});
      return undefined;
    } finally {
      client.off('error', ignoreError);
      client.release(broken);
    }
  }
}

function between([min, max]: [number, number]): number {
  return min >= max ? min : randomInt(min, max + 1);
}
