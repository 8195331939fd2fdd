import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfig, type Config } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import { SourceRowError } from '../lib/errors';
import { PostgresTicketSource, type WindowSelection } from '../lib/source/ticket-source';
import { checkTicketRow, unpackTicketRow } from '../lib/source/row-decoding';
import { PostgresStateChangeSource } from '../lib/source/state-changes';
import { insertSale, seedReferenceData, type SoldTicket } from '../devstack/sales-simulator';
import {
  createTestDatabase,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
} from '../devstack/postgres';

// Operators map views onto their own databases, which may not enforce CONTRACT.md §2: the test
// source tables lose their NOT NULL and CHECK constraints here, so bad rows can be written.

let postgres: PostgresEndpoint;
let database: TestDatabase;
let config: Config;
let pool: pg.Pool;
let source: PostgresTicketSource;
let schema: string;

before(async () => {
  postgres = await useOrStartPostgres({ log: () => {} });
  database = await createTestDatabase(postgres.adminUrl);
  config = loadConfig({ DATABASE_URL: database.url });
  pool = createPool(config.databaseUrl, { max: 4 });
  schema = config.ticketingSchema;
  await migrate(pool, pool, {
    exporterSchema: config.exporterSchema,
    ticketingSchema: schema,
    withSource: true,
  });
  await seedReferenceData(pool, schema);
  await pool.query(`
    ALTER TABLE ${schema}.ticket DROP CONSTRAINT ticket_state_check,
      ALTER COLUMN bar_code DROP NOT NULL, ALTER COLUMN state DROP NOT NULL, ALTER COLUMN price DROP NOT NULL,
      ALTER COLUMN product_code DROP NOT NULL, ALTER COLUMN tariff_code DROP NOT NULL,
      ALTER COLUMN created_at DROP NOT NULL, DROP CONSTRAINT ticket_product_code_fkey, DROP CONSTRAINT ticket_tariff_code_fkey;
    ALTER TABLE ${schema}.ticket_order ALTER COLUMN file_number DROP NOT NULL, ALTER COLUMN order_date DROP NOT NULL,
      ALTER COLUMN sales_channel_code DROP NOT NULL;
    ALTER TABLE ${schema}.product ALTER COLUMN name DROP NOT NULL;
    ALTER TABLE ${schema}.tariff ALTER COLUMN name DROP NOT NULL;
    ALTER TABLE ${schema}.ticket ALTER COLUMN price TYPE numeric;
    -- The change log's trigger would refuse the bad states this test writes on purpose (a source
    -- without it is what an operator's view may be).
    ALTER TABLE ${schema}.ticket DISABLE TRIGGER ticket_state_change_log;
    ALTER TABLE ${schema}.ticket_state_change ALTER COLUMN new_state DROP NOT NULL;`);
  source = new PostgresTicketSource(pool, { schema });
});
after(async () => {
  await pool?.end();
  await database?.drop();
  await postgres?.stop();
});

/** Sells one ticket on its own sales channel, breaks it with `damage` (SQL on ticket t / order o), and reads its window. */
async function windowWithBrokenTicket(
  damage: (ticket: SoldTicket) => Promise<unknown>,
): Promise<{ ticket: SoldTicket; read: Promise<number> }> {
  const from = (await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
  const good = await insertSale(pool, schema, {
    contactNumber: 'C-1001',
    salesChannelCode: 'WEB',
    ticketCount: 2,
  });
  const [ticket] = await insertSale(pool, schema, {
    contactNumber: 'C-1001',
    salesChannelCode: 'WEB',
    ticketCount: 1,
  });
  await damage(ticket!);
  await pool.query(`UPDATE ${schema}.ticket SET created_at = $2 WHERE id = $1 AND created_at IS NULL`, [
    ticket!.id,
    new Date(from.getTime() + 1),
  ]);
  const selection: WindowSelection = {
    contacts: ['C-1001'],
    channels: [],
    from,
    to: new Date(Date.now() + 60_000),
  };
  const read = (async () => {
    let count = 0;
    for await (const batch of source.streamWindow(selection)) count += batch.length;
    return count;
  })();
  assert.ok(good.length === 2);
  return { ticket: ticket!, read };
}

const ticketSql = (set: string) => (ticket: SoldTicket) =>
  pool.query(`UPDATE ${schema}.ticket SET ${set} WHERE id = $1`, [ticket.id]);
const orderSql = (set: string) => (ticket: SoldTicket) =>
  pool.query(
    `UPDATE ${schema}.ticket_order SET ${set} WHERE id = (SELECT order_id FROM ${schema}.ticket WHERE id = $1)`,
    [ticket.id],
  );
const referenceSql =
  (table: 'product' | 'tariff', column: 'product_code' | 'tariff_code') => (ticket: SoldTicket) =>
    pool.query(
      `WITH added AS (INSERT INTO ${schema}.${table} (code, name) VALUES ('NULLNAME-' || $1::text, NULL) RETURNING code)
     UPDATE ${schema}.ticket SET ${column} = (SELECT code FROM added) WHERE id = $1::bigint`,
      [ticket.id],
    );

const cases: [string, (ticket: SoldTicket) => Promise<unknown>, string, RegExp][] = [
  ['a NULL bar code', ticketSql('bar_code = NULL'), 'ticket.bar_code', /is null/],
  ['an empty bar code', ticketSql(`bar_code = ''`), 'ticket.bar_code', /is empty/],
  ['a NULL state', ticketSql('state = NULL'), 'ticket.state', /is null/],
  ['a state outside the list', ticketSql(`state = 'LOST'`), 'ticket.state', /"LOST", not one of PRINTED/],
  ['a NaN price', ticketSql(`price = 'NaN'`), 'ticket.price', /"NaN", not a finite number/],
  ['an infinite price', ticketSql(`price = '-Infinity'`), 'ticket.price', /not a finite number/],
  ['a NULL price', ticketSql('price = NULL'), 'ticket.price', /is null/],
  ['a NULL product code', ticketSql('product_code = NULL'), 'ticket.product_code', /is null/],
  ['a NULL product name', referenceSql('product', 'product_code'), 'product.name', /is null/],
  ['a product that does not exist', ticketSql(`product_code = 'NO-SUCH-PRODUCT'`), 'product.name', /is null/],
  ['a NULL tariff code', ticketSql('tariff_code = NULL'), 'ticket.tariff_code', /is null/],
  ['a NULL tariff name', referenceSql('tariff', 'tariff_code'), 'tariff.name', /is null/],
  ['a NULL file number', orderSql('file_number = NULL'), 'ticket_order.file_number', /is null/],
  [
    'a NULL sales channel',
    orderSql('sales_channel_code = NULL'),
    'ticket_order.sales_channel_code',
    /is null/,
  ],
  ['a NULL order date', orderSql('order_date = NULL'), 'ticket_order.order_date', /is null/],
  [
    'an infinite order date',
    orderSql(`order_date = 'infinity'`),
    'ticket_order.order_date',
    /not a finite time/,
  ],
  [
    'an infinite validity date',
    ticketSql(`validity_date = 'infinity'`),
    'ticket.validity_date',
    /not a date/,
  ],
];

for (const [what, damage, column, problem] of cases) {
  test(`a ticket with ${what} fails its window, naming the ticket id and ${column}, never the bar code`, async () => {
    const { ticket, read } = await windowWithBrokenTicket(damage);
    const error = await read.then(
      () => assert.fail('the window was read'),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof SourceRowError, String(error));
    assert.equal(error.ticketId, ticket.id);
    assert.equal(error.column, column);
    assert.match(error.message, new RegExp(`^ticket ${ticket.id}: ${column.replace('.', '\\.')} `));
    assert.match(error.message, problem);
    assert.ok(!error.message.includes(ticket.barCode), 'the bar code is not in the message');
    // So that the next case's window does not hold this ticket.
    await pool.query(`DELETE FROM ${schema}.ticket WHERE id = $1`, [ticket.id]);
  });
}

// The window of an interface with state changes on reads tickets through its own query: the same
// contract holds there, for a ticket created in the window (a NEW row) and for one created before
// it whose state changed in it (a STATE_CHANGE row): a broken ticket fails the window naming it,
// it never vanishes from the file (the change query once joined product and tariff inner).
async function readStateChangeWindow(from: Date, states: string[] = []): Promise<unknown> {
  const changes = new PostgresStateChangeSource(pool, { schema });
  const selection = {
    contacts: ['C-1001'],
    channels: [],
    from,
    to: new Date(Date.now() + 60_000),
    since: new Date(from.getTime() - 86_400_000),
    states,
    asOf: 'window-end' as const,
  };
  return (async () => {
    for await (const _batch of changes.streamWindow(selection)) void _batch;
  })().then(
    () => assert.fail('the window was read'),
    (thrown: unknown) => thrown,
  );
}

/** A ticket sold before `from`'s window and a change of it logged inside: a STATE_CHANGE row. */
async function changedEarlierTicket(
  states: [old: string, next: string | null] = ['PRINTED', 'CANCELLED'],
): Promise<{ ticket: SoldTicket; from: Date }> {
  const [ticket] = await insertSale(pool, schema, {
    contactNumber: 'C-1001',
    salesChannelCode: 'WEB',
    ticketCount: 1,
  });
  // A Date holds milliseconds, now() microseconds: one millisecond later, so the sale is before it.
  const from = new Date((await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now.getTime() + 1);
  // The trigger is off in this file (see before()): the change row is written as it would write it.
  await pool.query(
    `INSERT INTO ${schema}.ticket_state_change (ticket_id, old_state, new_state, changed_at) VALUES ($1, $2, $3, $4)`,
    [ticket!.id, states[0], states[1], new Date(from.getTime() + 1)],
  );
  return { ticket: ticket!, from };
}

for (const kind of ['NEW', 'STATE_CHANGE'] as const) {
  for (const [what, damage, column, problem] of cases) {
    test(`a ticket with ${what} fails a state-change window as a ${kind} row, naming the ticket id and ${column}`, async () => {
      let ticket: SoldTicket;
      let from: Date;
      if (kind === 'NEW') {
        from = (await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
        [ticket] = (await insertSale(pool, schema, {
          contactNumber: 'C-1001',
          salesChannelCode: 'WEB',
          ticketCount: 1,
        })) as [SoldTicket];
      } else {
        ({ ticket, from } = await changedEarlierTicket());
      }
      await damage(ticket);
      const error = await readStateChangeWindow(from);
      assert.ok(error instanceof SourceRowError, String(error));
      assert.equal(error.ticketId, ticket.id);
      assert.equal(error.column, column);
      assert.match(error.message, problem);
      await pool.query(`DELETE FROM ${schema}.ticket_state_change WHERE ticket_id = $1`, [ticket.id]);
      await pool.query(`DELETE FROM ${schema}.ticket WHERE id = $1`, [ticket.id]);
    });
  }
}

for (const [what, states, column, filter] of [
  ['a new state outside the list', ['PRINTED', 'LOST'], 'ticket_state_change.new_state', []],
  [
    'an old state outside the list',
    ['LOST', 'CANCELLED'],
    'state at the window start (ticket_state_change)',
    [],
  ],
  ['an empty new state', ['PRINTED', ''], 'ticket_state_change.new_state', []],
  ['a NULL new state', ['PRINTED', null], 'ticket_state_change.new_state', []],
  // A states filter must not hide a broken row: it fails the window like any other.
  [
    'a new state outside the list, filtered on CANCELLED',
    ['PRINTED', 'LOST'],
    'ticket_state_change.new_state',
    ['CANCELLED'],
  ],
  [
    'a NULL new state, filtered on CANCELLED',
    ['PRINTED', null],
    'ticket_state_change.new_state',
    ['CANCELLED'],
  ],
] as const) {
  test(`a change row with ${what} fails the window, naming the ticket id and ${column}`, async () => {
    const { ticket, from } = await changedEarlierTicket([...states]);
    const error = await readStateChangeWindow(from, [...filter]);
    assert.ok(error instanceof SourceRowError, String(error));
    assert.equal(error.ticketId, ticket.id);
    assert.equal(error.column, column);
    await pool.query(`DELETE FROM ${schema}.ticket_state_change WHERE ticket_id = $1`, [ticket.id]);
    await pool.query(`DELETE FROM ${schema}.ticket WHERE id = $1`, [ticket.id]);
  });
}

test('a ticket with a NULL created_at is refused too (it can only be in a window through a view)', () => {
  const row = unpackTicketRow(
    [
      '0',
      '7',
      'B',
      'PRINTED',
      'F',
      'P',
      'Prod',
      '',
      'T',
      'Tar',
      '1.00',
      '2026-01-01 00:00:00+00',
      '',
      '',
      'WEB',
      '1',
      'infinity',
    ].join('\x1f'),
  );
  assert.ok(row);
  assert.throws(
    () => checkTicketRow(row),
    (error: unknown) =>
      error instanceof SourceRowError && error.column === 'ticket.created_at' && error.ticketId === '7',
  );
});

test('valid rows, including a NULL contact, a NULL validity date and a negative price, pass', async () => {
  const from = (await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
  const sold = await insertSale(pool, schema, {
    contactNumber: null,
    salesChannelCode: 'BOX',
    ticketCount: 3,
  });
  await pool.query(`UPDATE ${schema}.ticket SET price = -3.5, validity_date = NULL WHERE id = $1`, [
    sold[0]!.id,
  ]);
  let count = 0;
  for await (const batch of source.streamWindow({
    contacts: [],
    channels: ['BOX'],
    from,
    to: new Date(Date.now() + 60_000),
  }))
    count += batch.length;
  assert.equal(count, 3);
});
