/**
 * The state-change window against a real PostgreSQL (no Temporal): the trigger, the contract's
 * definition of "state as of T" on hand-placed change rows, a change committed late landing in a
 * later window, and the plan (a range scan, never a sequential scan of the log).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import {
  PostgresStateChangeSource,
  StateChangeLogMissingError,
  type StateChangeSelection,
} from '../lib/source/state-changes';
import { checkChangeLog } from '../lib/source/change-log-check';
import { SOURCE_MIGRATIONS } from '../lib/db/migrations';
import { PostgresTicketSource } from '../lib/source/ticket-source';
import type { TicketRow } from '../lib/tickets';
import { planWindow } from '../lib/window';
import { seedReferenceData } from '../devstack/sales-simulator';
import {
  createTestDatabase,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
} from '../devstack/postgres';
import { seededRandom } from './support/seeded-random';

let postgres: PostgresEndpoint;
let database: TestDatabase;
let pool: pg.Pool;
let schema: string;
let changes: PostgresStateChangeSource;

before(async () => {
  postgres = await useOrStartPostgres({ log: () => {} });
  database = await createTestDatabase(postgres.adminUrl);
  const config = loadConfig({ DATABASE_URL: database.url });
  schema = config.ticketingSchema;
  pool = createPool(config.databaseUrl, { max: 6 });
  await migrate(pool, pool, {
    exporterSchema: config.exporterSchema,
    ticketingSchema: schema,
    withSource: true,
  });
  await seedReferenceData(pool, schema);
  changes = new PostgresStateChangeSource(pool, { schema });
});

after(async () => {
  await pool?.end();
  await database?.drop();
  await postgres?.stop();
});

const T = (minute: number) => new Date(Date.UTC(2026, 10, 29, 10, minute));
let serial = 0;

/** One ticket of one order, created at `createdAt`, with this state. */
async function ticket(
  createdAt: Date,
  state: string,
  order: { contact?: string | null; channel?: string } = {},
): Promise<string> {
  const { rows: orders } = await pool.query<{ id: string }>(
    `INSERT INTO ${schema}.ticket_order (file_number, contact_number, sales_channel_code, order_date) VALUES ($1, $2, $3, $4) RETURNING id`,
    [
      `F${++serial}`,
      order.contact === undefined ? 'C-1001' : order.contact,
      order.channel ?? 'BOX',
      createdAt,
    ],
  );
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO ${schema}.ticket (bar_code, order_id, product_code, tariff_code, price, state, created_at)
     VALUES ($1, $2, 'P-OPERA', 'T-FULL', 10, $3, $4) RETURNING id::text`,
    [`SC${serial}-${Math.random().toString(36).slice(2, 8)}`, orders[0]!.id, state, createdAt],
  );
  return rows[0]!.id;
}

/**
 * Hand-placed history: the change rows with these times (in this id order), and ticket.state set
 * to the last new_state, without the trigger (its changed_at would be now()).
 */
async function history(ticketId: string, steps: [from: string, to: string, at: Date][]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`ALTER TABLE ${schema}.ticket DISABLE TRIGGER ticket_state_change_log`);
    for (const [from, to, at] of steps) {
      await client.query(
        `INSERT INTO ${schema}.ticket_state_change (ticket_id, old_state, new_state, changed_at) VALUES ($1, $2, $3, $4)`,
        [ticketId, from, to, at],
      );
    }
    if (steps.length)
      await client.query(`UPDATE ${schema}.ticket SET state = $2 WHERE id = $1`, [
        ticketId,
        steps.at(-1)![1],
      ]);
    await client.query(`ALTER TABLE ${schema}.ticket ENABLE TRIGGER ticket_state_change_log`);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

async function rowsOf(
  selection: Partial<StateChangeSelection> & { from: Date; to: Date },
): Promise<TicketRow[]> {
  const all: TicketRow[] = [];
  for await (const batch of changes.streamWindow({
    contacts: ['C-1001'],
    channels: [],
    since: T(0),
    states: [],
    asOf: 'window-end',
    ...selection,
  }))
    all.push(...batch);
  return all;
}

const brief = (row: TicketRow) => [
  row.id,
  row.change,
  row.state,
  row.previousState,
  row.changedAt?.toISOString() ?? null,
];

test('the trigger logs a change of state with the transaction start, and nothing when the state stays', async () => {
  const id = await ticket(new Date(), 'PRINTED');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ now: Date }>('SELECT now()');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await client.query(`UPDATE ${schema}.ticket SET state = 'CANCELLED' WHERE id = $1`, [id]);
    await client.query(`UPDATE ${schema}.ticket SET state = 'CANCELLED', price = 11 WHERE id = $1`, [id]);
    await client.query(`UPDATE ${schema}.ticket SET price = 12 WHERE id = $1`, [id]);
    await client.query('COMMIT');
    const { rows: logged } = await pool.query(
      `SELECT old_state, new_state, changed_at FROM ${schema}.ticket_state_change WHERE ticket_id = $1`,
      [id],
    );
    assert.deepEqual(logged, [{ old_state: 'PRINTED', new_state: 'CANCELLED', changed_at: rows[0]!.now }]);
  } finally {
    client.release();
  }
});

test('a window holds its new tickets with their state at its end, then the earlier tickets whose state changed', async () => {
  const before = await ticket(T(2), 'PRINTED');
  const unchanged = await ticket(T(3), 'PRINTED');
  const roundTrip = await ticket(T(4), 'PRINTED');
  const tooOld = await ticket(new Date(T(0).getTime() - 60_000), 'PRINTED');
  const otherReseller = await ticket(T(5), 'PRINTED', { contact: 'C-1002' });
  const twice = await ticket(T(6), 'NOT_PRINTED');
  const createdAndCancelled = await ticket(T(12), 'PRINTED');
  const createdChangedLater = await ticket(T(13), 'NOT_PRINTED');
  await history(before, [['PRINTED', 'CANCELLED', T(15)]]);
  await history(unchanged, [['NOT_PRINTED', 'PRINTED', T(5)]]);
  await history(roundTrip, [
    ['PRINTED', 'CANCELLED', T(11)],
    ['CANCELLED', 'PRINTED', T(12)],
  ]);
  await history(tooOld, [['PRINTED', 'CANCELLED', T(14)]]);
  await history(otherReseller, [['PRINTED', 'CANCELLED', T(14)]]);
  await history(twice, [
    ['NOT_PRINTED', 'PRINTED', T(11)],
    ['PRINTED', 'CONTROLLED', T(13)],
  ]);
  await history(createdAndCancelled, [['PRINTED', 'CANCELLED', T(12)]]);
  // A change at the window's end belongs to the next window: the NEW row shows the state before it.
  await history(createdChangedLater, [['NOT_PRINTED', 'PRINTED', T(20)]]);
  const rows = await rowsOf({ from: T(10), to: T(20) });
  assert.deepEqual(rows.map(brief), [
    [createdAndCancelled, 'NEW', 'CANCELLED', null, null],
    [createdChangedLater, 'NEW', 'NOT_PRINTED', null, null],
    [twice, 'STATE_CHANGE', 'CONTROLLED', 'NOT_PRINTED', T(13).toISOString()],
    [before, 'STATE_CHANGE', 'CANCELLED', 'PRINTED', T(15).toISOString()],
  ]);
  // The next window sees the later change, once.
  const next = await rowsOf({ from: T(20), to: T(30) });
  assert.deepEqual(next.map(brief), [
    [createdChangedLater, 'STATE_CHANGE', 'PRINTED', 'NOT_PRINTED', T(20).toISOString()],
  ]);
  // Only the listed end states; NEW rows always.
  const cancelledOnly = await rowsOf({ from: T(10), to: T(20), states: ['CANCELLED'] });
  assert.deepEqual(
    cancelledOnly.map((row) => row.id),
    [createdAndCancelled, createdChangedLater, before],
  );
  // A backfill shows the state now: the NEW ticket changed later shows PRINTED.
  const backfill = await rowsOf({ from: T(10), to: T(20), asOf: 'now' });
  assert.deepEqual(backfill.find((row) => row.id === createdChangedLater)?.state, 'PRINTED');
  assert.deepEqual(
    await changes.countWindow({
      contacts: ['C-1001'],
      channels: [],
      from: T(10),
      to: T(20),
      since: T(0),
      states: [],
      asOf: 'window-end',
    }),
    { newTickets: 2, stateChanges: 2 },
  );
});

test("state as of a time follows the contract: by id, the last change before it, else the first change's old state", async () => {
  // Ids and times disagree: the change with the higher id began earlier (a longer transaction).
  const id = await ticket(T(1), 'PRINTED');
  await history(id, [
    ['PRINTED', 'CANCELLED', T(45)],
    ['CANCELLED', 'INVALIDATED', T(41)],
  ]);
  // At 40: no change before, so the first change's old state, PRINTED. At 42: the last (by id)
  // before 42 is the INVALIDATED one. At 50: the INVALIDATED one again (the highest id).
  const first = await rowsOf({ from: T(40), to: T(42) });
  assert.deepEqual(first.map(brief), [[id, 'STATE_CHANGE', 'INVALIDATED', 'PRINTED', T(41).toISOString()]]);
  const second = await rowsOf({ from: T(42), to: T(50) });
  assert.deepEqual(second, [], 'INVALIDATED at both ends: no row');
});

test("random histories: every window equals the contract's definition, computed here independently", async () => {
  // Tickets and changes in their own year (no other test's rows fall in these windows), times on
  // whole minutes so changes tie on changed_at, ids and times disagreeing (a later change that
  // began earlier), first changes whose old state is not the ticket's: every branch of the rule.
  const base = Date.UTC(2030, 0, 1);
  const at = (minute: number) => new Date(base + minute * 60_000);
  const random = seededRandom(20261205);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const STATES = ['PRINTED', 'NOT_PRINTED', 'CANCELLED', 'INVALIDATED', 'CONTROLLED'] as const;
  interface Model {
    id: string;
    createdAt: Date;
    mapped: boolean;
    state: string;
    changes: { old: string; next: string; at: Date }[];
  }
  const model: Model[] = [];
  for (let i = 0; i < 120; i++) {
    const mapped = random() < 0.8;
    const createdAt = at(Math.floor(random() * 60));
    const initial = pick(STATES);
    const id = await ticket(createdAt, initial, mapped ? {} : { contact: 'C-1002' });
    const steps: [string, string, Date][] = [];
    let current: string = initial;
    for (let k = Math.floor(random() * 5); k > 0; k--) {
      const next = pick(STATES.filter((state) => state !== current));
      const old = random() < 0.1 ? pick(STATES) : current;
      steps.push([old, next, at(Math.floor(createdAt.getTime() / 60_000 - base / 60_000 + random() * 40))]);
      current = next;
    }
    await history(id, steps);
    model.push({
      id,
      createdAt,
      mapped,
      state: steps.length ? current : initial,
      changes: steps.map(([old, next, when]) => ({ old, next, at: when })),
    });
  }
  const stateAt = (t: Model, time: Date): string => {
    const before = t.changes.filter((change) => change.at < time);
    return before.length ? before.at(-1)!.next : (t.changes[0]?.old ?? t.state);
  };
  const byId = (a: Model, b: Model) =>
    BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0;
  const since = at(10);
  for (let w = 0; w < 40; w++) {
    const startMinute = 5 + Math.floor(random() * 60);
    const from = at(startMinute);
    const to = at(startMinute + 1 + Math.floor(random() * 20));
    const asOf = random() < 0.25 ? 'now' : 'window-end';
    const states = random() < 0.3 ? [pick(STATES)] : [];
    const created = model
      .filter((t) => t.mapped && t.createdAt >= from && t.createdAt < to)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || byId(a, b))
      .map((t) => [t.id, 'NEW', asOf === 'now' ? t.state : stateAt(t, to), null, null]);
    const changed = model
      .filter(
        (t) => t.mapped && t.createdAt >= since && t.createdAt < from && stateAt(t, to) !== stateAt(t, from),
      )
      .map((t) => {
        const shownChange = asOf === 'now' ? t.changes.at(-1)! : t.changes.filter((c) => c.at < to).at(-1)!;
        return { t, shown: asOf === 'now' ? t.state : stateAt(t, to), changedAt: shownChange.at };
      })
      .filter((row) => states.length === 0 || states.includes(row.shown as (typeof STATES)[number]))
      .sort((a, b) => a.changedAt.getTime() - b.changedAt.getTime() || byId(a.t, b.t))
      .map((row) => [row.t.id, 'STATE_CHANGE', row.shown, stateAt(row.t, from), row.changedAt.toISOString()]);
    const rows = await rowsOf({ from, to, since, asOf, states });
    assert.deepEqual(
      rows.map(brief),
      [...created, ...changed],
      `window [${from.toISOString()}, ${to.toISOString()}) as of ${asOf}, states ${states.join(',') || 'all'}`,
    );
    const counted = await changes.countWindow({
      contacts: ['C-1001'],
      channels: [],
      from,
      to,
      since,
      states,
      asOf,
    });
    assert.deepEqual(counted, { newTickets: created.length, stateChanges: changed.length });
  }
});

test('a state change committed late lands in a later window, once', async () => {
  const id = await ticket(new Date(Date.now() - 60_000), 'PRINTED');
  const source = new PostgresTicketSource(pool, { schema });
  const writer = new pg.Client({ connectionString: database.url, application_name: 'ticketing-pos' });
  await writer.connect();
  try {
    const start = new Date(Date.now() - 30_000);
    await writer.query('BEGIN');
    const { rows } = await writer.query<{ now: Date }>('SELECT now()');
    await writer.query(`UPDATE ${schema}.ticket SET state = 'CANCELLED' WHERE id = $1`, [id]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const plan = planWindow({
      start,
      scheduledAt: new Date(),
      lagMillis: 0,
      horizon: await source.horizon(),
      maxHoldbackMillis: 3_600_000,
    });
    assert.ok(plan && plan.end <= rows[0]!.now, 'the open transaction holds the window end back');
    const during = await rowsOf({ from: start, to: plan!.end, since: new Date(0) });
    assert.equal(
      during.some((row) => row.id === id),
      false,
    );
    await writer.query('COMMIT');
    const later = await rowsOf({ from: plan!.end, to: new Date(Date.now() + 1000), since: new Date(0) });
    assert.deepEqual(
      later.filter((row) => row.id === id).map((row) => [row.change, row.state, row.previousState]),
      [['STATE_CHANGE', 'CANCELLED', 'PRINTED']],
    );
    // Read again, the first window still does not hold it: changed_at is the transaction's start.
    const again = await rowsOf({ from: start, to: plan!.end, since: new Date(0) });
    assert.equal(
      again.some((row) => row.id === id),
      false,
    );
  } finally {
    await writer.end();
  }
});

test('the change query is a range scan on (changed_at, id), never a sequential scan of the log', async () => {
  // Enough history that the planner's choice means something: 100,000 changes spread over a year.
  await pool.query(`ALTER TABLE ${schema}.ticket DISABLE TRIGGER ticket_state_change_log`);
  const id = await ticket(new Date('2025-01-01T00:00:00Z'), 'PRINTED');
  await pool.query(
    `INSERT INTO ${schema}.ticket_state_change (ticket_id, old_state, new_state, changed_at)
     SELECT $1, 'PRINTED', 'PRINTED', timestamptz '2025-01-01' + g * interval '5 minutes' FROM generate_series(1, 100000) g`,
    [id],
  );
  await pool.query(`ALTER TABLE ${schema}.ticket ENABLE TRIGGER ticket_state_change_log`);
  await pool.query(`ANALYZE ${schema}.ticket_state_change`);
  const plans = await changes.windowPlans({
    contacts: ['C-1001'],
    channels: ['WEB'],
    from: T(0),
    to: T(15),
    since: new Date(0),
    states: [],
    asOf: 'window-end',
  });
  const text = [...plans.newTickets, ...plans.stateChanges].join('\n');
  assert.doesNotMatch(text, /Seq Scan on ticket_state_change/, text);
  assert.match(
    plans.stateChanges.join('\n'),
    /Index (Only )?Scan using ticket_state_change_changed_at_id/,
    text,
  );
});

test("doctor's check finds the trigger and sees it fire; a source without the log says so, and its windows fail naming it", async () => {
  assert.deepEqual(await checkChangeLog(pool, schema), {
    table: true,
    trigger: 'ticket_state_change_log',
    fires: true,
  });
  const before = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.ticket_state_change`);
  await checkChangeLog(pool, schema);
  const afterwards = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.ticket_state_change`);
  assert.equal(afterwards.rows[0].n, before.rows[0].n, 'the trial was rolled back');
  // A ticketing database with the tables of CONTRACT.md §2 but without the change log.
  await pool.query(SOURCE_MIGRATIONS[0]!.sql.replaceAll('{source}', 'nolog'));
  assert.deepEqual(await checkChangeLog(pool, 'nolog'), { table: false, trigger: null, fires: null });
  const missing = new PostgresStateChangeSource(pool, { schema: 'nolog' });
  await assert.rejects(async () => {
    for await (const _batch of missing.streamWindow({
      contacts: ['C-1001'],
      channels: [],
      from: T(0),
      to: T(1),
      since: T(0),
      states: [],
      asOf: 'window-end',
    }))
      void _batch;
  }, StateChangeLogMissingError);
  assert.equal(
    await missing.changedSince({ contacts: ['C-1001'], channels: [], from: T(0), to: T(1), since: null }),
    null,
    'resend: nothing to tell',
  );
});
