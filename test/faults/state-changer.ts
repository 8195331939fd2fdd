import { randomInt } from 'node:crypto';
import pg from 'pg';
import { insertSale, type SoldTicket } from '../../devstack/sales-simulator';
import { sleep } from '../../devstack/log';

/** What one state-changing transaction does to one ticket. */
export type StateAction = 'cancel' | 'invalidate' | 'control' | 'print' | 'reprint';

export interface StateChangerOptions {
  pool: pg.Pool;
  schema: string;
  /** Tickets known to be committed, to pick from (the sales writer's record grows meanwhile). */
  tickets: () => readonly SoldTicket[];
  concurrency: number;
  pauseMillis: [number, number];
  /** Share of transactions held open long before they commit (late commits). */
  longShare: number;
  longHoldMillis: [number, number];
  /** Share rolled back: their changes must never reach a reseller. */
  rollbackShare: number;
}

/** One committed state-changing transaction, for the late-commit evidence. */
export interface ChangeTransaction {
  startedAt: Date;
  committedAt: Date;
  long: boolean;
  action: StateAction;
}

export interface StateChangeRecord {
  committed: ChangeTransaction[];
  rolledBack: number;
  /** Transactions that failed (a lock timeout, a deadlock): rolled back. */
  failed: number;
  /** Tickets sold by reprints (committed): the new barcode of a reprinted ticket. */
  reprinted: SoldTicket[];
}

const NEW_STATE: Record<Exclude<StateAction, 'reprint'>, string> = {
  cancel: 'CANCELLED',
  invalidate: 'INVALIDATED',
  control: 'CONTROLLED',
  print: 'PRINTED',
};
const ACTIONS: StateAction[] = ['cancel', 'cancel', 'invalidate', 'control', 'control', 'print', 'reprint'];

/**
 * Cancels, invalidates, controls, prints and reprints tickets already sold, one ticket per
 * transaction (so two loops never deadlock), some transactions held open long and committed late,
 * some rolled back. A reprint invalidates the old barcode and sells the ticket again under a new
 * one, in the same transaction, as a box office does.
 */
export class StateChanger {
  readonly record: StateChangeRecord = { committed: [], rolledBack: 0, failed: 0, reprinted: [] };
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: StateChangerOptions) {}

  start(): this {
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
    return this;
  }

  async stop(): Promise<StateChangeRecord> {
    this.stopping = true;
    await Promise.all(this.loops);
    return this.record;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const tickets = this.options.tickets();
      if (tickets.length > 0) {
        const ticket = tickets[randomInt(tickets.length)]!;
        const long = Math.random() < this.options.longShare;
        const rollback = Math.random() < this.options.rollbackShare;
        await this.change(
          ticket,
          ACTIONS[randomInt(ACTIONS.length)]!,
          long ? between(this.options.longHoldMillis) : 0,
          rollback,
        );
      }
      await sleep(between(this.options.pauseMillis));
    }
  }

  private async change(
    ticket: SoldTicket,
    action: StateAction,
    holdMillis: number,
    rollback: boolean,
  ): Promise<void> {
    const { pool, schema } = this.options;
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch {
      this.record.failed++;
      return;
    }
    const ignoreError = () => {};
    client.on('error', ignoreError);
    let broken = false;
    try {
      await client.query('BEGIN');
      // A long transaction elsewhere may hold this ticket: give up rather than queue behind it.
      await client.query(`SET LOCAL lock_timeout = '3s'`);
      const { rows } = await client.query<{ started: Date }>('SELECT now() AS started');
      const newState = action === 'reprint' ? 'INVALIDATED' : NEW_STATE[action];
      await client.query(`UPDATE ${schema}.ticket SET state = $2, updated_at = now() WHERE id = $1`, [
        ticket.id,
        newState,
      ]);
      const reprinted =
        action === 'reprint'
          ? await insertSale(client, schema, {
              contactNumber: ticket.contactNumber,
              salesChannelCode: ticket.salesChannelCode,
              ticketCount: 1,
            })
          : [];
      if (holdMillis > 0) await sleep(holdMillis);
      if (rollback) {
        await client.query('ROLLBACK');
        this.record.rolledBack++;
        return;
      }
      await client.query('COMMIT');
      this.record.committed.push({
        startedAt: rows[0]!.started,
        committedAt: new Date(),
        long: holdMillis > 0,
        action,
      });
      this.record.reprinted.push(...reprinted);
    } catch {
      broken = true;
      this.record.failed++;
      await client.query('ROLLBACK').catch(() => {});
    } finally {
      client.off('error', ignoreError);
      client.release(broken);
    }
  }
}

function between([min, max]: [number, number]): number {
  return min >= max ? min : randomInt(min, max + 1);
}
