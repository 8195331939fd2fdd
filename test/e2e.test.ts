import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStack } from './support/stack';
import { deliveredBarCodes, filesFor } from './support/mail';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';
import { parseFormatSpec } from '../lib/format';
import { parse } from 'csv-parse/sync';
import * as XLSX from '@e965/xlsx';
import { convertWithLibreOffice, CSV_EXPORT_AS_SHOWN, libreOffice } from './support/libreoffice';
import { expectedDateTimeText, expectedSerial } from './support/spreadsheet';

let stack: TestStack;
const schema = () => stack.config.ticketingSchema;

before(async () => {
  stack = await TestStack.start();
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
});

async function sell(
  contactNumber: string | null,
  salesChannelCode: string,
  ticketCount = 2,
): Promise<SoldTicket[]> {
  return insertSale(stack.pool, schema(), { contactNumber, salesChannelCode, ticketCount });
}

function sorted(values: string[]) {
  return [...values].sort();
}

test('every matching ticket arrives exactly once, with its values, and no other interface gets it', async () => {
  const a = await stack.createInterface({
    name: 'Barcodes for Reseller A',
    recipients: ['a@reseller-a.test'],
    contacts: ['C-1001'],
    channels: ['RESELLER-WEB'],
  });
  const b = await stack.createInterface({
    name: 'Barcodes for Agency B',
    recipients: ['b@agency-b.test'],
    channels: ['AGENCY'],
  });

  const forA1 = [
    ...(await sell('C-1001', 'WEB')),
    ...(await sell(null, 'RESELLER-WEB')),
    ...(await sell('C-1001', 'RESELLER-WEB', 1)),
  ];
  const forB1 = await sell('C-2001', 'AGENCY', 3);
  const forNobody = await sell('C-2001', 'BOX');
  const first = await stack.runNow(a.id);
  assert.equal(first.result.windows.length, 1);
  assert.equal(first.result.windows[0]!.status, 'sent');
  assert.equal(first.result.windows[0]!.ticketCount, forA1.length);
  await stack.runNow(b.id);

  const forA2 = await sell('C-1001', 'AGENCY'); // matches A by contact and B by channel: both get it
  const forNobody2 = await sell(null, 'WEB');
  const second = await stack.runNow(a.id);
  await stack.runNow(b.id);
  assert.equal(
    second.result.windows[0]!.windowStart,
    first.result.windows[0]!.windowEnd,
    'consecutive windows share their bound',
  );

  const empty = await stack.runNow(a.id);
  assert.ok(['empty', 'nothing-due'].includes(empty.result.windows[0]?.status ?? 'nothing-due'));

  const expectedA = [...forA1, ...forA2].map((ticket) => ticket.barCode);
  const expectedB = [...forB1, ...forA2].map((ticket) => ticket.barCode);
  await stack.sink.waitFor((mail) => mail.envelope.to.includes('b@agency-b.test'), 10_000, 2);
  assert.deepEqual(sorted(deliveredBarCodes(stack.sink, 'a@reseller-a.test')), sorted(expectedA));
  assert.deepEqual(sorted(deliveredBarCodes(stack.sink, 'b@agency-b.test')), sorted(expectedB));
  const everything = new Set([
    ...deliveredBarCodes(stack.sink, 'a@reseller-a.test'),
    ...deliveredBarCodes(stack.sink, 'b@agency-b.test'),
  ]);
  for (const ticket of [...forNobody, ...forNobody2])
    assert.ok(!everything.has(ticket.barCode), 'a ticket of no interface leaked');
  assert.equal(filesFor(stack.sink, 'a@reseller-a.test').length, 2, 'the empty window sent nothing');

  // The file is the contract's: header, columns, values, name, type, subject, Message-ID.
  const [file] = filesFor(stack.sink, 'a@reseller-a.test');
  assert.deepEqual(file!.header, [
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
  ]);
  assert.match(file!.contentType, /^text\/csv/);
  assert.match(file!.fileName, /^barcodes_barcodes-for-reseller-a_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.csv$/);
  assert.match(file!.mail.parsed.subject ?? '', /Barcodes for Reseller A.*5 tickets/);
  assert.match(
    file!.mail.parsed.messageId ?? '',
    new RegExp(`^<barcodes\\.i${a.id}\\.\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.p1of1@exporter\\.test>$`),
  );
  const { rows } = await stack.pool.query(
    `SELECT t.bar_code, t.state, o.file_number, p.code AS product_code, p.name AS product_name,
            coalesce(to_char(t.validity_date, 'YYYY-MM-DD'), '') AS validity_date, ta.code AS tariff_code, ta.name AS tariff_name,
            t.price::text AS price, to_char(o.order_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS order_date,
            coalesce(o.contact_number, '') AS contact_number
       FROM ${schema()}.ticket t JOIN ${schema()}.ticket_order o ON o.id = t.order_id
       JOIN ${schema()}.product p ON p.code = t.product_code JOIN ${schema()}.tariff ta ON ta.code = t.tariff_code
      WHERE t.bar_code = ANY($1)`,
    [file!.records.map((record) => record.BAR_CODE)],
  );
  for (const row of rows) {
    const record = file!.records.find((candidate) => candidate.BAR_CODE === row.bar_code)!;
    assert.deepEqual(record, {
      BAR_CODE: row.bar_code,
      TICKET_STATE: row.state,
      FILE_NUMBER: row.file_number,
      PRODUCT_CODE: row.product_code,
      PRODUCT_NAME: row.product_name,
      VALIDITY_DATE: row.validity_date,
      TARIFF_CODE: row.tariff_code,
      TARIFF_NAME: row.tariff_name,
      PRICE: row.price,
      ORDER_DATE: row.order_date,
      CONTACT_NUMBER: row.contact_number,
    });
  }

  const deliveries = await stack.ledger.list(a.id);
  assert.deepEqual(
    deliveries.map((delivery) => delivery.status).filter((status) => status === 'sent').length,
    2,
  );
  assert.ok(deliveries.every((delivery) => delivery.kind === 'run'));
});

test('a worker restarted between windows loses nothing and repeats nothing', async () => {
  const iface = await stack.createInterface({ recipients: ['restart@reseller.test'], contacts: ['C-1002'] });
  const before = await sell('C-1002', 'WEB', 3);
  await stack.runNow(iface.id);
  await stack.workers.pop()!.shutdown();
  const during = await sell('C-1002', 'BOX', 2); // sold while no worker runs
  await stack.startWorker();
  const after = await sell('C-1002', 'WEB', 1);
  await stack.runNow(iface.id);
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'restart@reseller.test')),
    sorted([...before, ...during, ...after].map((ticket) => ticket.barCode)),
  );
});

test('a ticket whose transaction commits after its window was read is delivered once, later', async () => {
  const iface = await stack.createInterface({ recipients: ['late@reseller.test'], channels: ['WEB'] });
  const early = await sell(null, 'WEB', 1);
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // windows end on whole seconds
  const writer = await stack.pool.connect();
  let late: SoldTicket[];
  try {
    await writer.query('BEGIN');
    late = await insertSale(writer, schema(), {
      contactNumber: null,
      salesChannelCode: 'WEB',
      ticketCount: 2,
    }); // created_at = now, invisible
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterStart = await sell(null, 'WEB', 1); // committed, created after the open transaction began
    const held = await stack.runNow(iface.id);
    const window = held.result.windows[0]!;
    const { rows } = await writer.query<{ started: Date }>('SELECT now() AS started');
    assert.ok(
      new Date(window.windowEnd) <= rows[0]!.started,
      'the window end is held at the open transaction start',
    );
    await writer.query('COMMIT');
    await stack.runNow(iface.id);
    const delivered = deliveredBarCodes(stack.sink, 'late@reseller.test');
    assert.deepEqual(
      sorted(delivered),
      sorted([...early, ...late, ...afterStart].map((ticket) => ticket.barCode)),
    );
    const heldDelivery = await stack.ledger.get(window.deliveryId!);
    assert.ok(heldDelivery?.heldBack, 'the ledger records what held the window back');
  } finally {
    await writer.query('ROLLBACK').catch(() => {});
    writer.release();
  }
});

test('the schedule delivers on its own, every interval', async () => {
  const iface = await stack.createInterface({
    recipients: ['scheduled@reseller.test'],
    contacts: ['C-2001'],
    intervalSeconds: 2,
  });
  const sold = await sell('C-2001', 'WEB', 2);
  await stack.sink.waitFor((mail) => mail.envelope.to.includes('scheduled@reseller.test'), 30_000);
  await stack.store.update(iface.id, { enabled: false }, 'test');
  await stack.syncSchedules();
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'scheduled@reseller.test')),
    sorted(sold.map((ticket) => ticket.barCode)),
  );
});

test('a custom format reaches the reseller as specified: encoding, separator, line ends, parts with one email each', async () => {
  const format = parseFormatSpec({
    columns: [
      'BAR_CODE',
      { field: 'PRODUCT_NAME', header: 'Produit' },
      'PRICE',
      { constant: 'ACME', header: 'VENDOR' },
    ],
    separator: ',',
    encoding: 'iso-8859-1',
    unmappable: 'replace',
    lineEnding: 'CRLF',
    decimalSeparator: ',',
    maxFileSize: 64 * 1024,
    trailer: true,
  }) as unknown as Record<string, unknown>;
  const iface = await stack.createInterface({
    recipients: ['legacy@reseller.test'],
    contacts: ['C-1002'],
    format,
  });
  const sold: SoldTicket[] = [];
  for (let order = 0; order < 60; order++)
    sold.push(
      ...(await insertSale(stack.pool, schema(), {
        contactNumber: 'C-1002',
        salesChannelCode: 'BOX',
        ticketCount: 50,
      })),
    );
  const run = await stack.runNow(iface.id);
  const window = run.result.windows[0]!;
  assert.ok(window.partCount > 1, 'a 3,000-ticket window is split at 64 KiB');
  const mails = await stack.sink.waitFor(
    (mail) => mail.envelope.to.includes('legacy@reseller.test'),
    20_000,
    window.partCount,
  );
  assert.equal(mails.length, window.partCount, 'one email per part');
  const barCodes: string[] = [];
  for (const [index, mail] of mails.entries()) {
    assert.match(mail.parsed.subject ?? '', new RegExp(`part ${index + 1}/${window.partCount}$`));
    const attachment = mail.parsed.attachments[0]!;
    assert.ok(attachment.content.length <= 64 * 1024);
    assert.match(attachment.contentType, /text\/csv/);
    const text = attachment.content.toString('latin1');
    assert.ok(text.includes('\r\n') && !/[^\r]\n/.test(text), 'CRLF line ends only');
    const rows = parse(text, { delimiter: ',', relax_column_count: true }) as string[][]; // the trailer has its own fields
    assert.deepEqual(rows[0], ['BAR_CODE', 'Produit', 'PRICE', 'VENDOR']);
    assert.match(rows.at(-1)![0]!, /^TRAILER/);
    for (const row of rows.slice(1, -1)) {
      assert.match(row[2]!, /^\d+,\d{2}$/, 'decimal comma');
      assert.equal(row[3], 'ACME');
      barCodes.push(row[0]!);
    }
  }
  assert.ok(
    mails.some((mail) =>
      mail.parsed.attachments[0]!.content.includes(Buffer.from('Th\xe9\xe2tre', 'latin1')),
    ),
    'accents in ISO-8859-1',
  );
  assert.deepEqual(sorted(barCodes), sorted(sold.map((ticket) => ticket.barCode)));
});

test('an xlsx window reaches the reseller by SMTP and reads back cell by cell in SheetJS and LibreOffice', async (t) => {
  const format = parseFormatSpec({ type: 'xlsx' }) as unknown as Record<string, unknown>;
  const iface = await stack.createInterface({
    recipients: ['sheet@reseller.test'],
    contacts: ['C-2001'],
    timeZone: 'Europe/Zurich',
    format,
  });
  const sold = [...(await sell('C-2001', 'WEB', 3)), ...(await sell('C-2001', 'BOX', 2))];
  // The bar codes a spreadsheet used to corrupt: leading zeros, 16 digits, an "E" read as an exponent.
  const hard = ['0001234567890123', '4360257278797631', '439714505107E908'];
  for (const [i, code] of hard.entries())
    await stack.pool.query(`UPDATE ${schema()}.ticket SET bar_code = $1 WHERE bar_code = $2`, [
      code,
      sold[i]!.barCode,
    ]);
  const run = await stack.runNow(iface.id);
  assert.equal(run.result.windows[0]!.status, 'sent');
  const [mail] = await stack.sink.waitFor((m) => m.envelope.to.includes('sheet@reseller.test'), 20_000, 1);
  const attachment = mail!.parsed.attachments[0]!;
  assert.equal(attachment.contentType, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  assert.match(attachment.filename ?? '', /^barcodes_.*\.xlsx$/);

  const { rows: expected } = await stack.pool.query<{
    bar_code: string;
    state: string;
    file_number: string;
    product_code: string;
    product_name: string;
    validity_date: string | null;
    tariff_code: string;
    tariff_name: string;
    price: string;
    order_date: Date;
    contact_number: string | null;
  }>(
    `SELECT t.bar_code, t.state, o.file_number, p.code AS product_code, p.name AS product_name, to_char(t.validity_date, 'YYYY-MM-DD') AS validity_date,
            ta.code AS tariff_code, ta.name AS tariff_name, t.price::text AS price, o.order_date, o.contact_number
       FROM ${schema()}.ticket t JOIN ${schema()}.ticket_order o ON o.id = t.order_id
       JOIN ${schema()}.product p ON p.code = t.product_code JOIN ${schema()}.tariff ta ON ta.code = t.tariff_code
      WHERE t.id = ANY($1::bigint[]) ORDER BY t.created_at, t.id`,
    [sold.map((ticket) => ticket.id)],
  );
  assert.equal(expected.length, sold.length);
  assert.deepEqual(
    expected
      .slice(0, 3)
      .map((r) => r.bar_code)
      .sort(),
    [...hard].sort(),
  );

  // SheetJS: types and values.
  const sheet = XLSX.read(attachment.content, { type: 'buffer' }).Sheets.Barcodes!;
  const cell = (r: number, c: number) =>
    sheet[XLSX.utils.encode_cell({ r, c })] as XLSX.CellObject | undefined;
  expected.forEach((row, i) => {
    const r = i + 1;
    const texts = [
      row.bar_code,
      row.state,
      row.file_number,
      row.product_code,
      row.product_name,
      null,
      row.tariff_code,
      row.tariff_name,
      null,
      null,
      row.contact_number,
    ];
    texts.forEach((text, c) => {
      if (text === null) return;
      assert.equal(cell(r, c)?.t, 's', `row ${r} column ${c} is text`);
      assert.equal(cell(r, c)?.v, text);
    });
    assert.equal(cell(r, 8)?.v, Number(row.price));
    assert.equal(cell(r, 8)?.t, 'n');
    if (row.validity_date === null) assert.equal(cell(r, 5), undefined);
    else assert.equal(cell(r, 5)?.v, Date.parse(`${row.validity_date}T00:00:00Z`) / 86_400_000 + 25569);
    assert.ok(
      Math.abs((cell(r, 9)!.v as number) - expectedSerial(row.order_date, 'Europe/Zurich')) < 1e-9,
      `row ${r} ORDER_DATE`,
    );
  });

  // LibreOffice: what a reseller sees.
  const lo = libreOffice();
  if ('skip' in lo) return t.skip(lo.skip);
  const shown = parse(
    convertWithLibreOffice(lo.soffice, attachment.content, 'window.xlsx', CSV_EXPORT_AS_SHOWN),
    { delimiter: ';' },
  ) as string[][];
  assert.deepEqual(shown[0], [
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
  ]);
  assert.deepEqual(
    shown.slice(1),
    expected.map((row) => [
      row.bar_code,
      row.state,
      row.file_number,
      row.product_code,
      row.product_name,
      row.validity_date ?? '',
      row.tariff_code,
      row.tariff_name,
      row.price,
      expectedDateTimeText(row.order_date, 'Europe/Zurich'),
      row.contact_number ?? '',
    ]),
  );
});
