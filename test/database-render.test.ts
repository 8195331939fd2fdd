import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import { MemorySink, parseFormatSpec, renderWindow, type FormatSpec } from '../lib/format';
import { DATABASE_RENDERED_TIME_ZONES, databaseRenderRefusal } from '../lib/format/database-render';
import type { RenderResult } from '../lib/format/types';
import { ResumableSink, ResumeMismatchError } from '../lib/format/resumable-sink';
import { DatabaseRenderFallback, renderWindowInDatabase } from '../lib/source/copy-window';
import { PostgresTicketSource, type WindowSelection } from '../lib/source/ticket-source';
import { renderWindowChoosingPath } from '../lib/source/window-render';
import {
  createTestDatabase,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
} from '../devstack/postgres';

// The database renderer must write the very bytes of the JavaScript renderer (the reference):
// every window here is rendered both ways and compared part by part, over the option matrix, on
// values chosen to break CSV writers (separators, quotes, CR/LF, empty strings next to NULLs,
// times on both sides of daylight saving changes, prices that round).

let postgres: PostgresEndpoint;
let database: TestDatabase;
let pool: pg.Pool;
let schema: string;
let source: PostgresTicketSource;

/** Text that needs quotes under one option or another, and text that must be left alone. */
const NASTY = [
  'plain',
  'semi;colon',
  'com,ma',
  'tab\there',
  'pi|pe',
  'quo"te',
  '"',
  '""',
  'cr\rx',
  'lf\nx',
  'crlf\r\nx',
  ' lead and trail ',
  '=1+1',
  '-3',
  'back\\slash \\N',
  'é ü ß € œ 😀 中文 e\u0301',
  'x'.repeat(300),
];

/** Instants around the changes of the tested zones (2025), to the microsecond. */
const TIMES = [
  '2025-03-30 00:59:59.999999+00', // Europe: 01:59:59 CET, then 03:00 CEST
  '2025-03-30 01:00:00+00',
  '2025-03-30 01:30:00.5+00',
  '2025-10-26 00:30:00+00', // Europe: 02:30 CEST, then 02:30 CET again
  '2025-10-26 01:30:00.123456+00',
  '2025-03-09 06:59:59+00', // New York
  '2025-03-09 07:00:00+00',
  '2025-11-02 05:30:00+00',
  '2025-11-02 06:30:00+00',
  '2025-04-05 15:30:00+00', // Sydney
  '2025-04-05 16:30:00+00',
  '2025-10-04 16:00:00+00',
  '2024-02-29 23:59:59.001+00',
  '2000-01-01 00:00:00+00',
  '1970-01-01 00:00:00+00',
  '9000-12-31 23:00:00+00',
];

const PRICES = [
  '0',
  '-0.004',
  '-0.005',
  '0.285',
  '2.5',
  '-2.5',
  '1234.5678',
  '9.995',
  '99999.99995',
  '-3',
  '0.00001',
  '12.50',
];
const VALIDITY = [null, '2025-03-30', '2024-02-29', '0099-01-01', '9999-12-31'];

const TICKETS = 2400;
let window: WindowSelection;

before(async () => {
  postgres = await useOrStartPostgres({ log: () => {} });
  database = await createTestDatabase(postgres.adminUrl);
  const config = loadConfig({ DATABASE_URL: database.url });
  pool = createPool(config.databaseUrl, { max: 4 });
  schema = config.ticketingSchema;
  await migrate(pool, pool, {
    exporterSchema: config.exporterSchema,
    ticketingSchema: schema,
    withSource: true,
  });
  // Views on other databases may hold more decimals than numeric(12,2): test the rounding too.
  await pool.query(`ALTER TABLE ${schema}.ticket ALTER COLUMN price TYPE numeric`);
  const s = schema;
  await pool.query(
    `INSERT INTO ${s}.sales_channel (code, name) VALUES ('WEB', 'Web'), ('BOX', 'Box office')`,
  );
  // Contact C-EMPTY has an empty name: an empty field, like the NULL name of an order without contact.
  await pool.query(
    `INSERT INTO ${s}.contact (contact_number, name) SELECT 'C-' || i, n FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)`,
    [NASTY],
  );
  await pool.query(
    `INSERT INTO ${s}.contact (contact_number, name) VALUES ('C-EMPTY', ''), ('C;"\n', 'odd number')`,
  );
  await pool.query(
    `INSERT INTO ${s}.product (code, name) SELECT 'P' || i, n FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)`,
    [NASTY],
  );
  await pool.query(
    `INSERT INTO ${s}.tariff (code, name) SELECT 'T;' || i, n FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i)`,
    [[...NASTY].reverse()],
  );
  const contacts = [...NASTY.map((_n, i) => `C-${i + 1}`), 'C-EMPTY', 'C;"\n', null];
  await pool.query(
    `INSERT INTO ${s}.ticket_order (id, file_number, contact_number, sales_channel_code, order_date)
     SELECT i, (ARRAY[$1::text[]])[1][1 + i % $2], ($3::text[])[1 + i % $4], CASE WHEN i % 3 = 0 THEN 'BOX' ELSE 'WEB' END, ($5::timestamptz[])[1 + i % $6]
       FROM generate_series(1, 500) AS i`,
    [NASTY, NASTY.length, contacts, contacts.length, TIMES, TIMES.length],
  );
  await pool.query(
    `INSERT INTO ${s}.ticket (bar_code, order_id, product_code, tariff_code, price, validity_date, state, created_at)
     SELECT 'BC' || i || (ARRAY['', ';', '"', E'\\n', ','])[1 + i % 5], 1 + i % 500, 'P' || (1 + i % $1), 'T;' || (1 + i % $1),
            ($2::numeric[])[1 + i % $3], ($4::date[])[1 + i % $5],
            (ARRAY['PRINTED','NOT_PRINTED','CANCELLED','INVALIDATED','CONTROLLED'])[1 + i % 5],
            '2025-06-01 00:00:00+00'::timestamptz + (($6::timestamptz[])[1 + i % $7] - '2025-01-01 00:00:00+00') / 1000 + i * interval '1 ms'
       FROM generate_series(1, $8) AS i`,
    [NASTY.length, PRICES, PRICES.length, VALIDITY, VALIDITY.length, TIMES, TIMES.length, TICKETS],
  );
  source = new PostgresTicketSource(pool, { schema });
  window = {
    contacts: contacts.filter((c): c is string => c !== null),
    channels: ['BOX'],
    from: new Date('2025-01-01T00:00:00Z'),
    to: new Date('2026-01-01T00:00:00Z'),
  };
});
after(async () => {
  await pool?.end();
  await database?.drop();
  await postgres?.stop();
});

interface Rendered {
  result: RenderResult;
  parts: Buffer[];
}

async function both(spec: FormatSpec, timeZone: string, selection = window): Promise<[Rendered, Rendered]> {
  const ctx = {
    interfaceName: 'Acme; "Tickets"',
    timeZone,
    windowStart: selection.from,
    windowEnd: selection.to,
  };
  const jsSink = new MemorySink();
  const js = await renderWindow(source.streamWindow(selection), spec, ctx, jsSink);
  const dbSink = new MemorySink();
  const db = await renderWindowInDatabase(source, selection, spec, ctx, dbSink);
  return [
    { result: js, parts: jsSink.parts },
    { result: db, parts: dbSink.parts },
  ];
}

async function assertSameBytes(
  label: string,
  spec: FormatSpec,
  timeZone: string,
  selection = window,
): Promise<Rendered> {
  assert.equal(databaseRenderRefusal(spec, timeZone), null, `${label}: the database should render this spec`);
  const [js, db] = await both(spec, timeZone, selection);
  assert.deepEqual(db.result, js.result, `${label}: result`);
  assert.equal(db.parts.length, js.parts.length, `${label}: parts`);
  db.parts.forEach((part, i) => {
    if (!part.equals(js.parts[i]!)) {
      const at = [...part].findIndex((byte, j) => byte !== js.parts[i]![j]);
      assert.fail(
        `${label}: part ${i + 1} differs at byte ${at}: db ${JSON.stringify(part.subarray(Math.max(0, at - 40), at + 40).toString())} js ${JSON.stringify(js.parts[i]!.subarray(Math.max(0, at - 40), at + 40).toString())}`,
      );
    }
  });
  return js;
}

const ALL_FIELDS = [
  'BAR_CODE',
  'TICKET_STATE',
  'FILE_NUMBER',
  'PRODUCT_CODE',
  'PRODUCT_NAME',
  'VALIDITY_DATE',
  'TARIFF_CODE',
  'TARIFF_NAME',
  'PRICE',
  'ORDER_DATE',
  'CONTACT_NUMBER',
  'TICKET_ID',
  'ORDER_ID',
  'SALES_CHANNEL_CODE',
  'CONTACT_NAME',
  'CREATED_AT',
  'CHANGE',
  'PREVIOUS_STATE',
  'CHANGED_AT',
];
const EVERY_COLUMN = [
  ...ALL_FIELDS,
  { constant: 'A;B"C', header: 'VENDOR "x"' },
  { constant: '', header: 'EMPTY' },
];

const spec = (fields: Record<string, unknown>) => parseFormatSpec({ columns: EVERY_COLUMN, ...fields });

test('the default format: the same bytes, and the window is big enough to matter', async () => {
  const js = await assertSameBytes('default', parseFormatSpec({}), 'UTC');
  assert.ok(js.result.ticketCount > 1000, `window of ${js.result.ticketCount} tickets`);
  const split = await assertSameBytes(
    'parts',
    parseFormatSpec({ maxFileSize: 64 * 1024, trailer: true }),
    'UTC',
  );
  assert.ok(split.parts.length > 2, `${split.parts.length} parts`);
});

test('every option, one at a time, with every column', async () => {
  const variations: Record<string, unknown[]> = {
    separator: [';', ',', '\t', '|'],
    quoting: ['minimal', 'all'],
    lineEnding: ['LF', 'CRLF'],
    encoding: ['utf-8', 'utf-8-bom'],
    header: [true, false],
    dateFormat: ['YYYY-MM-DD', 'DD.MM.YYYY', 'YY/MM/DD', 'YYYYMMDD', 'DD,MM,YYYY', 'YYYY-MM-DDTZ'],
    dateTimeFormat: [
      'YYYY-MM-DD HH:mm:ss',
      'DD.MM.YYYY HH:mm',
      'YYYY-MM-DDTHH:mm:ss.SSSZ',
      'YYMMDD_HHmmss',
      'DD,MM,YYYY HH:mm:ss,SSS',
    ],
    decimalSeparator: ['.', ','],
    decimals: [0, 1, 2, 3, 4],
    compression: ['none', 'gzip', 'zip'],
    trailer: [false, true, { label: '#EOF' }],
    maxFileSize: [64 * 1024, 100_000],
    fileName: ['barcodes_{interface}_{start}_{end}.csv', 'x_{date}_{part}of{parts}.tsv'],
  };
  for (const [field, values] of Object.entries(variations)) {
    for (const value of values) {
      if (field === 'fileName' && value === 'x_{date}_{part}of{parts}.tsv') {
        await assertSameBytes(
          `${field}=${JSON.stringify(value)}`,
          spec({ [field]: value, maxFileSize: 64 * 1024 }),
          'UTC',
        );
        continue;
      }
      await assertSameBytes(`${field}=${JSON.stringify(value)}`, spec({ [field]: value }), 'UTC');
    }
  }
});

test('every tested time zone, across its daylight saving changes', async () => {
  for (const timeZone of DATABASE_RENDERED_TIME_ZONES) {
    await assertSameBytes(timeZone, spec({ dateTimeFormat: 'YYYY-MM-DD HH:mm:ss.SSS' }), timeZone);
  }
});

test('combinations of options, parts included', async () => {
  let seed = 7;
  const pick = <T>(values: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return values[seed % values.length]!;
  };
  for (let i = 0; i < 24; i++) {
    const fields = {
      separator: pick([';', ',', '\t', '|']),
      quoting: pick(['minimal', 'all']),
      lineEnding: pick(['LF', 'CRLF']),
      encoding: pick(['utf-8', 'utf-8-bom']),
      header: pick([true, false]),
      dateFormat: pick(['YYYY-MM-DD', 'DD.MM.YYYY', 'DD,MM,YY']),
      dateTimeFormat: pick([
        'YYYY-MM-DD HH:mm:ss',
        'DD.MM.YYYY HH:mm',
        'YYYY-MM-DDTHH:mm:ss.SSSZ',
        'HH:mm,ss',
      ]),
      decimalSeparator: pick(['.', ',']),
      decimals: pick([0, 2, 4]),
      compression: pick(['none', 'gzip', 'zip']),
      trailer: pick([false, true]),
      maxFileSize: pick([64 * 1024, 5 * 1024 * 1024]),
      emptyWindow: pick(['skip', 'header-only']),
    };
    const timeZone = pick([...DATABASE_RENDERED_TIME_ZONES]);
    await assertSameBytes(
      `combination ${i} ${JSON.stringify(fields)} in ${timeZone}`,
      spec(fields),
      timeZone,
    );
  }
});

test('an empty window: nothing with skip, the header (and trailer) with header-only', async () => {
  const empty = { ...window, from: new Date('2030-01-01T00:00:00Z'), to: new Date('2030-01-02T00:00:00Z') };
  const skipped = await assertSameBytes('skip', spec({}), 'UTC', empty);
  assert.equal(skipped.parts.length, 0);
  const headed = await assertSameBytes(
    'header-only',
    spec({ emptyWindow: 'header-only', trailer: true, encoding: 'utf-8-bom' }),
    'UTC',
    empty,
  );
  assert.equal(headed.parts.length, 1);
});

test('specs the database does not render are refused by the one decision function', () => {
  assert.match(
    databaseRenderRefusal(parseFormatSpec({ encoding: 'iso-8859-1', unmappable: 'transliterate' }), 'UTC')!,
    /encoding/,
  );
  assert.match(databaseRenderRefusal(parseFormatSpec({ injectionGuard: true }), 'UTC')!, /injection guard/);
  assert.match(databaseRenderRefusal(parseFormatSpec({ quoting: 'none' }), 'UTC')!, /quoting/);
  // Formats of the other renderers: a workbook, and CSV cells wrapped for spreadsheets.
  assert.match(databaseRenderRefusal(parseFormatSpec({ type: 'xlsx' }), 'UTC')!, /file type xlsx/);
  assert.match(
    databaseRenderRefusal(parseFormatSpec({ spreadsheetText: ['BAR_CODE'] }), 'UTC')!,
    /spreadsheetText/,
  );
  assert.match(databaseRenderRefusal(parseFormatSpec({}), 'Asia/Kathmandu')!, /time zone/);
  assert.equal(databaseRenderRefusal(parseFormatSpec({}), 'UTC'), null);
  assert.match(
    databaseRenderRefusal(
      { ...parseFormatSpec({}), columns: [{ field: 'NO_SUCH', header: 'X' }] } as unknown as FormatSpec,
      'UTC',
    )!,
    /invalid/,
  );
});

test('rows that break the contract fail the window with the same error both ways', async () => {
  await pool.query(`
    ALTER TABLE ${schema}.ticket DROP CONSTRAINT ticket_state_check,
      ALTER COLUMN bar_code DROP NOT NULL, ALTER COLUMN state DROP NOT NULL, ALTER COLUMN price DROP NOT NULL,
      DROP CONSTRAINT ticket_product_code_fkey;
    ALTER TABLE ${schema}.ticket_order ALTER COLUMN file_number DROP NOT NULL;
    ALTER TABLE ${schema}.ticket ALTER COLUMN created_at DROP NOT NULL;
    -- The state-change log would refuse a NULL state before the window could.
    ALTER TABLE ${schema}.ticket DISABLE TRIGGER USER;
    INSERT INTO ${schema}.sales_channel (code, name) VALUES ('BAD', 'Broken rows')`);
  const cases: [string, string][] = [
    ['a NULL bar code', 'bar_code = NULL'],
    ['an empty bar code', `bar_code = ''`],
    ['a state outside the list', `state = 'LOST'`],
    ['a NULL state', 'state = NULL'],
    ['a NaN price', `price = 'NaN'`],
    ['an infinite price', `price = '-Infinity'`],
    ['a positive infinite price', `price = 'Infinity'`],
    ['a validity date of five digits', `validity_date = '10000-01-01'`],
    ['a missing product', `product_code = 'NO-SUCH-PRODUCT'`],
    ['an infinite validity date', `validity_date = 'infinity'`],
    ['a BC validity date', `validity_date = '0044-03-15 BC'`],
  ];
  let day = 0;
  for (const [label, set] of cases) {
    day += 1;
    const from = new Date(Date.UTC(2031, 0, day));
    const order = await pool.query<{ id: string }>(
      `INSERT INTO ${schema}.ticket_order (id, file_number, contact_number, sales_channel_code, order_date) VALUES (10000 + $1, 'F', NULL, 'BAD', $2) RETURNING id`,
      [day, from],
    );
    await pool.query(
      `INSERT INTO ${schema}.ticket (bar_code, order_id, product_code, tariff_code, price, state, created_at)
       VALUES ('GOOD-' || $1, $2, 'P1', 'T;1', 1, 'PRINTED', $3), ('BAD-' || $1, $2, 'P1', 'T;1', 1, 'PRINTED', $3::timestamptz + interval '1 ms')`,
      [day, order.rows[0]!.id, from],
    );
    await pool.query(`UPDATE ${schema}.ticket SET ${set} WHERE bar_code = $1`, [`BAD-${day}`]);
    const selection = { contacts: [], channels: ['BAD'], from, to: new Date(from.getTime() + 86_400_000) };
    const ctx = { interfaceName: 'x', timeZone: 'UTC', windowStart: selection.from, windowEnd: selection.to };
    const jsError = await renderWindow(
      source.streamWindow(selection),
      parseFormatSpec({}),
      ctx,
      new MemorySink(),
    ).then(
      () => assert.fail(`${label}: the JavaScript path accepted it`),
      (error: Error) => error,
    );
    const dbError = await renderWindowInDatabase(
      source,
      selection,
      parseFormatSpec({}),
      ctx,
      new MemorySink(),
    ).then(
      () => assert.fail(`${label}: the database path accepted it`),
      (error: Error) => error,
    );
    assert.equal(
      dbError.constructor,
      jsError.constructor,
      `${label}: ${dbError.message} vs ${jsError.message}`,
    );
    assert.equal(dbError.message, jsError.message, label);
  }
});

test('a time the database would not write alike (before 1900) hands the window back to the JavaScript renderer', async () => {
  const from = new Date(Date.UTC(2032, 0, 1));
  await pool.query(
    `INSERT INTO ${schema}.sales_channel (code, name) VALUES ('OLD', 'Old orders') ON CONFLICT DO NOTHING`,
  );
  await pool.query(
    `INSERT INTO ${schema}.ticket_order (id, file_number, contact_number, sales_channel_code, order_date) VALUES (20000, 'F', NULL, 'OLD', '1850-06-01 12:00:00+00')`,
  );
  await pool.query(
    `INSERT INTO ${schema}.ticket (bar_code, order_id, product_code, tariff_code, price, state, created_at) VALUES ('OLD-1', 20000, 'P1', 'T;1', 1, 'PRINTED', $1)`,
    [from],
  );
  const selection = { contacts: [], channels: ['OLD'], from, to: new Date(from.getTime() + 86_400_000) };
  const ctx = {
    interfaceName: 'x',
    timeZone: 'Europe/Zurich',
    windowStart: selection.from,
    windowEnd: selection.to,
  };
  await assert.rejects(
    renderWindowInDatabase(source, selection, parseFormatSpec({}), ctx, new MemorySink()),
    DatabaseRenderFallback,
  );

  // What the freeze does with it: drop what the database path wrote, render in JavaScript.
  const opened: MemorySink[] = [];
  const discarded: MemorySink[] = [];
  const fallbacks: string[] = [];
  const chosen = await renderWindowChoosingPath({
    source,
    selection,
    stateChanges: false,
    javascriptRows: () => source.streamWindow(selection),
    spec: parseFormatSpec({}),
    ctx,
    sinks: {
      open: async () => opened[opened.push(new MemorySink()) - 1]!,
      discard: async (sink) => void discarded.push(sink),
    },
    onFallback: (reason) => fallbacks.push(reason),
  });
  assert.equal(chosen.path, 'javascript');
  assert.deepEqual(discarded, [opened[0]]);
  assert.equal(chosen.sink, opened[1]);
  assert.match(fallbacks[0]!, /ticket \d+ holds a time outside/);
  assert.equal(chosen.rendered.ticketCount, 1);
  const reference = new MemorySink();
  await renderWindow(source.streamWindow(selection), parseFormatSpec({}), ctx, reference);
  assert.deepEqual(chosen.sink.parts, reference.parts);

  // What preview does on stdout, which cannot take bytes back: the second attempt skips what was printed.
  const printedChunks: Buffer[] = [];
  const printed = new ResumableSink(async (chunk) => void printedChunks.push(chunk));
  const resumed = await renderWindowChoosingPath({
    source,
    selection,
    stateChanges: false,
    javascriptRows: () => source.streamWindow(selection),
    spec: parseFormatSpec({}),
    ctx,
    sinks: { open: async () => printed, discard: async () => printed.restart() },
  });
  printed.finish();
  assert.equal(resumed.path, 'javascript');
  assert.deepEqual(Buffer.concat(printedChunks), Buffer.concat(reference.parts));
});

test('a resumed output refuses a second attempt that does not start with the bytes already written', async () => {
  const printed = new ResumableSink(async () => {});
  await printed.write(Buffer.from('abc'));
  printed.restart();
  await assert.rejects(printed.write(Buffer.from('abd')), ResumeMismatchError);
  const short = new ResumableSink(async () => {});
  await short.write(Buffer.from('abc'));
  short.restart();
  await short.write(Buffer.from('ab'));
  assert.throws(() => short.finish(), ResumeMismatchError);
});

test('the path is chosen once, in one place: the database for the default format, JavaScript for state changes and what it refuses', async () => {
  const choose = async (stateChanges: boolean, fields: Record<string, unknown>) =>
    (
      await renderWindowChoosingPath({
        source,
        selection: window,
        stateChanges,
        javascriptRows: () => source.streamWindow(window),
        spec: parseFormatSpec(fields),
        ctx: { interfaceName: 'x', timeZone: 'UTC', windowStart: window.from, windowEnd: window.to },
        sinks: { open: async () => new MemorySink(), discard: async () => {} },
      })
    ).path;
  assert.equal(await choose(false, {}), 'database');
  assert.equal(await choose(true, {}), 'javascript');
  assert.equal(await choose(false, { injectionGuard: true }), 'javascript');
});
