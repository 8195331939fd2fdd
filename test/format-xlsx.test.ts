/**
 * The xlsx file type and CSV's spreadsheetText, read back by implementations other than the
 * writer (exceljs): SheetJS (@e965/xlsx) cell by cell, and LibreOffice headless, which opens the
 * files as a reseller's spreadsheet does (installed by apt-get when missing, see
 * test/support/libreoffice.ts).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as XLSX from '@e965/xlsx';
import type * as OpenPGP from 'openpgp' with { 'resolution-mode': 'import' };
import { parse } from 'csv-parse/sync';
import { InputError } from '../lib/errors';
import { FIELD_NAMES, MemorySink, parseFormatSpec, renderWindow, type RenderContext } from '../lib/format';
import { pgpPartEncryption, readRecipientKey } from '../lib/security/openpgp';
import type { TicketRow } from '../lib/tickets';
import { expectedSerial } from './support/spreadsheet';
import {
  convertWithLibreOffice,
  CSV_EXPORT_AS_SHOWN,
  CSV_IMPORT_SEMICOLON,
  libreOffice,
} from './support/libreoffice';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp: typeof OpenPGP = require('openpgp');
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const FIXTURES = [
  path.resolve(__dirname, '../../test/fixtures/format'),
  path.resolve('test/fixtures/format'),
].find((dir) => fs.existsSync(path.join(dir, 'tickets.json')))!;
type JsonTicket = Omit<TicketRow, 'orderDate' | 'createdAt'> & { orderDate: string; createdAt: string };
const FIXTURE_TICKETS: TicketRow[] = (
  JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tickets.json'), 'utf8')) as { tickets: JsonTicket[] }
).tickets.map((t) => ({ ...t, orderDate: new Date(t.orderDate), createdAt: new Date(t.createdAt) }));

/** The values the issue saw corrupted, and text XML cannot hold as it is. */
const HARD_CODES = [
  '0001234567890123',
  '4360257278797631',
  '439714505107E908',
  '1e5',
  '-12',
  '=SUM(A1)',
  'a\rb',
  'tab\there',
  'bell\u0007',
  'del\u007f',
  'lone\ud800',
];

const TICKETS: TicketRow[] = [
  ...FIXTURE_TICKETS,
  ...HARD_CODES.map((code, i) => ({
    ...FIXTURE_TICKETS[0]!,
    id: String(2000 + i),
    barCode: code,
    fileNumber: `000${i}`,
    contactNumber: i % 2 ? '00042' : null,
    price: ['0.00', '-3.00', '0.285', '1234567890.99'][i % 4]!,
    validityDate: i % 3 ? '2025-10-26' : null,
    orderDate: new Date(Date.UTC(2025, 9, 26, 0, 30 + i * 7, 0, i)), // across the end of summer time in Zurich
  })),
];

const CTX: RenderContext = {
  interfaceName: 'Barcodes for MyResellerCompany',
  timeZone: 'Europe/Zurich',
  windowStart: new Date('2025-03-30T00:45:00Z'),
  windowEnd: new Date('2025-03-30T01:00:00Z'),
};

async function* rowsOf(rows: readonly TicketRow[]): AsyncGenerator<readonly TicketRow[]> {
  yield rows;
}

async function render(spec: unknown, rows: readonly TicketRow[] = TICKETS, ctx: RenderContext = CTX) {
  const sink = new MemorySink();
  const result = await renderWindow(rowsOf(rows), parseFormatSpec(spec), ctx, sink);
  return { result, files: sink.parts };
}

/**
 * What a text cell reads back as (README, the xlsx file): a lone surrogate as U+FFFD, C0 controls
 * other than tab, CR, LF and DEL dropped, CR as LF (XML line ends).
 */
function expectedText(
  value: string | null,
  reader: 'sheetjs' | 'libreoffice' = 'libreoffice',
): string | undefined {
  if (value === null || value === '') return undefined;
  const text = value
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    // LibreOffice applies XML's line-end rule; SheetJS only folds CRLF.
    .replace(reader === 'libreoffice' ? /\r\n?/g : /\r\n/g, '\n');
  return text === '' ? undefined : text;
}

/** Two decimals, half away from zero, on the digits (0.285 is 0.29, not the float's 0.28). */
function expectedPrice(text: string): number {
  const negative = text.startsWith('-');
  const [integer, fraction = ''] = text.replace('-', '').split('.');
  const cents =
    BigInt(integer!) * 100n + BigInt((fraction + '00').slice(0, 2)) + ((fraction[2] ?? '0') >= '5' ? 1n : 0n);
  const value = Number(cents) / 100;
  return negative && value !== 0 ? -value : value;
}

const ALL_COLUMNS = [...FIELD_NAMES, { constant: '0099', header: 'VENDOR' }];

test('xlsx spec: CSV-only options, compression, trailer and spreadsheetText are refused in one line naming the field', () => {
  const refusals: Array<[unknown, RegExp]> = [
    [
      { type: 'xlsx', compression: 'gzip' },
      /^format: compression must be "none" with "type": "xlsx" \(an xlsx file is a zip already\) \(got "gzip"\)$/,
    ],
    [{ type: 'xlsx', trailer: true }, /^format: trailer cannot be used with "type": "xlsx"/],
    [{ type: 'xlsx', separator: ',' }, /^format: separator applies to CSV files only/],
    [{ type: 'xlsx', encoding: 'iso-8859-1' }, /^format: encoding applies to CSV files only/],
    [{ type: 'xlsx', quoting: 'all' }, /^format: quoting applies to CSV files only/],
    [{ type: 'xlsx', lineEnding: 'CRLF' }, /^format: lineEnding applies to CSV files only/],
    [{ type: 'xlsx', decimalSeparator: ',' }, /^format: decimalSeparator applies to CSV files only/],
    [{ type: 'xlsx', maxFileSize: '1MiB' }, /^format: maxFileSize applies to CSV files only/],
    [{ type: 'xlsx', fileName: 'x_{end}.csv' }, /^format: fileName must end with "\.xlsx"/],
    [{ type: 'xlsx', spreadsheetText: ['BAR_CODE'] }, /^format: spreadsheetText applies to CSV files only/],
    [{ type: 'xlsx', maxRowsPerFile: 10 }, /^format: maxRowsPerFile must be at least 1000/],
    [{ fileName: 'x_{end}.xlsx' }, /^format: fileName ends with "\.xlsx" but the file is CSV/],
    [{ maxRowsPerFile: 5000 }, /^format: maxRowsPerFile applies to "type": "xlsx" only/],
    [
      { spreadsheetText: ['BAR_CODE'], quoting: 'none' },
      /^format: spreadsheetText cannot be used with quoting "none"/,
    ],
    [{ spreadsheetText: ['NOPE'] }, /^format: spreadsheetText\[0\] names no column of the file/],
    [{ type: 'ods' }, /^format: type must be one of "csv", "xlsx" \(got "ods"\)$/],
  ];
  for (const [spec, message] of refusals) {
    assert.throws(
      () => parseFormatSpec(spec),
      (error: unknown) =>
        error instanceof InputError && message.test(error.message) && !error.message.includes('\n'),
      JSON.stringify(spec),
    );
  }
  const xlsx = parseFormatSpec({ type: 'xlsx' });
  assert.equal(xlsx.fileName, 'barcodes_{interface}_{start}_{end}.xlsx');
  assert.equal(xlsx.maxRowsPerFile, 50_000);
  assert.deepEqual(
    parseFormatSpec(JSON.parse(JSON.stringify(xlsx))),
    xlsx,
    'the stored form reads back unchanged',
  );
  // Named by field, stored by header, in column order.
  const csv = parseFormatSpec({
    columns: [{ field: 'BAR_CODE', header: 'Code' }, 'CONTACT_NUMBER'],
    spreadsheetText: ['CONTACT_NUMBER', 'BAR_CODE'],
  });
  assert.deepEqual(csv.spreadsheetText, ['Code', 'CONTACT_NUMBER']);
});

test('xlsx: every cell read back by SheetJS is the source value: codes as text, prices as numbers, dates as date cells in the time zone', async () => {
  const spec = { type: 'xlsx', columns: ALL_COLUMNS, dateTimeFormat: 'DD.MM.YYYY HH:mm:ss.SSS' };
  const { result, files } = await render(spec);
  assert.equal(result.parts.length, 1);
  assert.equal(result.parts[0]!.contentType, XLSX_TYPE);
  assert.equal(
    result.parts[0]!.fileName,
    'barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z.xlsx',
  );
  const book = XLSX.read(files[0]!, { type: 'buffer', cellNF: true, cellStyles: true });
  assert.deepEqual(book.SheetNames, ['Barcodes']);
  const sheet = book.Sheets.Barcodes!;
  const cell = (r: number, c: number) =>
    sheet[XLSX.utils.encode_cell({ r, c })] as XLSX.CellObject | undefined;
  const headers = ALL_COLUMNS.map((c) => (typeof c === 'string' ? c : c.header));
  headers.forEach((header, c) => assert.equal(cell(0, c)?.v, header));
  assert.equal(
    XLSX.utils.decode_range(sheet['!ref']!).e.r,
    TICKETS.length,
    'one row per ticket after the header',
  );
  TICKETS.forEach((t, i) => {
    const r = i + 1;
    FIELD_NAMES.forEach((field, c) => {
      const got = cell(r, c);
      const where = `row ${r} ${field}`;
      switch (field) {
        case 'PRICE':
          assert.equal(got?.t, 'n', where);
          assert.equal(got?.v, expectedPrice(t.price), where);
          assert.equal(got?.z, '0.00', where);
          return;
        case 'VALIDITY_DATE':
          if (t.validityDate === null) return assert.equal(got?.v, undefined, where);
          assert.equal(got?.t, 'n', where);
          assert.equal(
            got?.v,
            Date.UTC(
              ...((t.validityDate.split('-').map(Number) as [number, number, number]).map((v, k) =>
                k === 1 ? v - 1 : v,
              ) as [number, number, number]),
            ) /
              86_400_000 +
              25569,
            where,
          );
          assert.equal(got?.z, 'yyyy\\-mm\\-dd', where);
          return;
        case 'CHANGED_AT':
          // A new ticket's row: no change, an empty cell.
          return assert.equal(got?.v, undefined, where);
        case 'ORDER_DATE':
        case 'CREATED_AT': {
          const value = field === 'ORDER_DATE' ? t.orderDate : t.createdAt;
          assert.equal(got?.t, 'n', where);
          assert.ok(
            Math.abs((got!.v as number) - expectedSerial(value, 'Europe/Zurich')) < 1e-9,
            `${where}: ${got?.v} vs ${expectedSerial(value, 'Europe/Zurich')}`,
          );
          assert.equal(got?.z, 'dd\\.mm\\.yyyy\\ hh\\:mm\\:ss.000', where);
          return;
        }
        default: {
          const raw = {
            BAR_CODE: t.barCode,
            TICKET_STATE: t.state,
            FILE_NUMBER: t.fileNumber,
            PRODUCT_CODE: t.productCode,
            PRODUCT_NAME: t.productName,
            TARIFF_CODE: t.tariffCode,
            TARIFF_NAME: t.tariffName,
            CONTACT_NUMBER: t.contactNumber,
            TICKET_ID: t.id,
            ORDER_ID: t.orderId,
            SALES_CHANNEL_CODE: t.salesChannelCode,
            CONTACT_NAME: t.contactName,
            CHANGE: 'NEW',
            PREVIOUS_STATE: null,
          }[field];
          const expected = expectedText(raw, 'sheetjs');
          if (expected === undefined) return assert.equal(got?.v, undefined, where);
          assert.equal(got?.t, 's', `${where} is text`);
          assert.equal(got?.v, expected, where);
          assert.equal(got?.z, '@', where);
        }
      }
    });
    assert.equal(cell(r, FIELD_NAMES.length)?.v, '0099');
  });
});

test('xlsx: the same window gives the same bytes; parts split by maxRowsPerFile, each a workbook with its header', async () => {
  const many = Array.from({ length: 2500 }, (_, i) => ({
    ...FIXTURE_TICKETS[5]!,
    id: String(i),
    barCode: String(i).padStart(16, '0'),
  }));
  const spec = { type: 'xlsx', maxRowsPerFile: 1000 };
  const first = await render(spec, many);
  await new Promise((resolve) => setTimeout(resolve, 1100)); // another second on the clock: no time stamp may leak in
  const second = await render(spec, many);
  assert.equal(first.files.length, 3);
  first.files.forEach((file, i) => assert.ok(file.equals(second.files[i]!), `part ${i + 1} identical`));
  assert.deepEqual(
    first.result.parts.map((p) => [p.fileName, p.rowCount]),
    [
      ['barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z_part01of03.xlsx', 1000],
      ['barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z_part02of03.xlsx', 1000],
      ['barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z_part03of03.xlsx', 500],
    ],
  );
  let next = 0;
  for (const file of first.files) {
    const rows = XLSX.utils.sheet_to_json<Record<string, unknown>>(
      XLSX.read(file, { type: 'buffer' }).Sheets.Barcodes!,
    );
    for (const row of rows) assert.equal(row.BAR_CODE, String(next++).padStart(16, '0'));
  }
  assert.equal(next, 2500);
  const empty = await render({ type: 'xlsx', emptyWindow: 'header-only' }, []);
  assert.equal(empty.files.length, 1);
  assert.deepEqual(
    XLSX.utils.sheet_to_json(XLSX.read(empty.files[0]!, { type: 'buffer' }).Sheets.Barcodes!, { header: 1 }),
    [parseFormatSpec({}).columns.map((c) => c.header)],
  );
  assert.equal(
    (await render({ type: 'xlsx' }, [])).files.length,
    0,
    'an empty window with "skip" writes nothing',
  );
});

test('xlsx: OpenPGP is the last layer: the attachment decrypts to exactly the plain workbook', async () => {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Reseller', email: 'r@example.com' }],
    format: 'object',
  });
  const recipient = await readRecipientKey(publicKey.armor(), 'test key');
  const plain = await render({ type: 'xlsx' });
  const sink = new MemorySink();
  const encrypted = await renderWindow(
    rowsOf(TICKETS),
    parseFormatSpec({ type: 'xlsx' }),
    { ...CTX, encryption: pgpPartEncryption(recipient) },
    sink,
  );
  assert.equal(encrypted.parts[0]!.fileName, `${plain.result.parts[0]!.fileName}.pgp`);
  const message = await openpgp.readMessage({ binaryMessage: sink.parts[0]! });
  const { data, filename } = await openpgp.decrypt({ message, decryptionKeys: privateKey, format: 'binary' });
  assert.equal(filename, plain.result.parts[0]!.fileName);
  assert.ok(Buffer.from(data as Uint8Array).equals(plain.files[0]!));
});

test('LibreOffice opens the xlsx and shows every cell as the CSV file of the same window writes it', async (t) => {
  const lo = libreOffice();
  if ('skip' in lo) return t.skip(lo.skip);
  // C0 controls other than tab, CR, LF: xlsx keeps them, but LibreOffice's CSV export is not the place to compare them.
  const rows = TICKETS.filter(
    (r) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(Object.values(r).join('')),
  );
  const formats = { dateFormat: 'DD.MM.YYYY', dateTimeFormat: 'YYYY-MM-DD HH:mm:ss', columns: ALL_COLUMNS };
  const xlsx = await render({ type: 'xlsx', ...formats }, rows);
  const csv = await render({ ...formats }, rows);
  const shown = convertWithLibreOffice(lo.soffice, xlsx.files[0]!, 'window.xlsx', CSV_EXPORT_AS_SHOWN);
  const read = (bytes: Buffer) => parse(bytes, { delimiter: ';', relaxColumnCount: false }) as string[][];
  const fromLibreOffice = read(shown);
  const fromCsv = read(csv.files[0]!);
  assert.equal(fromLibreOffice.length, fromCsv.length);
  fromCsv.forEach((line, r) =>
    assert.deepEqual(
      fromLibreOffice[r],
      line.map((v) => expectedText(v) ?? ''),
      `line ${r + 1}`,
    ),
  );
});

test('CSV in LibreOffice: the default file loses bar codes; spreadsheetText keeps them as text', async (t) => {
  const lo = libreOffice();
  if ('skip' in lo) return t.skip(lo.skip);
  const codes = ['0001234567890123', '4360257278797631', '439714505107E908', 'say "hi"'];
  const rows = codes.map((code, i) => ({
    ...FIXTURE_TICKETS[5]!,
    id: String(i),
    barCode: code,
    contactNumber: '00042',
  }));
  const open = async (spec: unknown) => {
    const { files } = await render(
      { columns: ['BAR_CODE', 'CONTACT_NUMBER', 'PRICE'], ...(spec as object) },
      rows,
    );
    const book = XLSX.read(
      convertWithLibreOffice(lo.soffice, files[0]!, 'window.csv', 'xlsx', CSV_IMPORT_SEMICOLON),
      { type: 'buffer' },
    );
    const sheet = book.Sheets[book.SheetNames[0]!]!;
    return rows.map((_, i) =>
      [0, 1, 2].map((c) => sheet[XLSX.utils.encode_cell({ r: i + 1, c })] as XLSX.CellObject),
    );
  };
  const plain = await open({});
  assert.equal(plain[0]![0]!.v, 1234567890123, 'the default file: leading zeros lost');
  assert.equal(plain[1]![0]!.v, 4360257278797630, 'the default file: last digit lost');
  assert.equal(plain[2]![0]!.t, 'n', 'the default file: 439714505107E908 read as a number');
  const kept = await open({ spreadsheetText: ['BAR_CODE', 'CONTACT_NUMBER'] });
  kept.forEach((cells, i) => {
    assert.equal(cells[0]!.t, 's', `${codes[i]} is text`);
    assert.equal(cells[0]!.v, codes[i]);
    assert.equal(cells[1]!.v, '00042');
    assert.equal(cells[2]!.v, 99999.99, 'columns not listed are left as they were');
  });
});
