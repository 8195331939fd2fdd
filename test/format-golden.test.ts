/**
 * Golden files: the tickets of test/fixtures/format/tickets.json rendered with the default format
 * and with each option, compared byte for byte with test/fixtures/format/<case>.csv.
 * After an intended change of output, regenerate with `UPDATE_GOLDEN=1 node --test
 * dist/test/format-golden.test.js` and review the diff of the fixtures.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as XLSX from '@e965/xlsx';
import { FormatError } from '../lib/errors';
import {
  MemorySink,
  parseFormatSpec,
  renderWindow,
  type RenderContext,
  type RenderResult,
} from '../lib/format';
import type { TicketRow } from '../lib/tickets';

const FIXTURES = [
  path.resolve(__dirname, '../../test/fixtures/format'),
  path.resolve('test/fixtures/format'),
].find((dir) => fs.existsSync(path.join(dir, 'tickets.json')))!;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

type JsonTicket = Omit<TicketRow, 'orderDate' | 'createdAt'> & { orderDate: string; createdAt: string };
const TICKETS: TicketRow[] = (
  JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tickets.json'), 'utf8')) as { tickets: JsonTicket[] }
).tickets.map((t) => ({ ...t, orderDate: new Date(t.orderDate), createdAt: new Date(t.createdAt) }));

const CTX: RenderContext = {
  interfaceName: 'Barcodes for MyResellerCompany',
  timeZone: 'UTC',
  windowStart: new Date('2025-03-30T00:45:00Z'),
  windowEnd: new Date('2025-03-30T01:00:00Z'),
};

async function* rowsOf(rows: readonly TicketRow[]): AsyncGenerator<TicketRow> {
  yield* rows;
}

async function render(
  spec: unknown,
  options: { timeZone?: string; ids?: string[] } = {},
): Promise<{ result: RenderResult; files: Buffer[] }> {
  const sink = new MemorySink();
  const rows = options.ids === undefined ? TICKETS : TICKETS.filter((t) => options.ids!.includes(t.id));
  const result = await renderWindow(
    rowsOf(rows),
    parseFormatSpec(spec),
    { ...CTX, timeZone: options.timeZone ?? 'UTC' },
    sink,
  );
  assert.equal(result.parts.length, sink.parts.length);
  result.parts.forEach((part, i) => {
    assert.equal(part.byteCount, sink.parts[i]!.length, 'byteCount');
    assert.equal(part.sha256, createHash('sha256').update(sink.parts[i]!).digest('hex'), 'sha256');
  });
  return { result, files: sink.parts };
}

function assertGolden(name: string, actual: Buffer): void {
  const file = path.join(FIXTURES, name);
  if (UPDATE) fs.writeFileSync(file, actual);
  assert.ok(fs.existsSync(file), `golden file ${name} is missing (UPDATE_GOLDEN=1 creates it)`);
  const expected = fs.readFileSync(file);
  if (!expected.equals(actual)) {
    // Show the text, escaped, so the first difference is visible in the failure.
    assert.equal(
      JSON.stringify(actual.toString('latin1')),
      JSON.stringify(expected.toString('latin1')),
      `${name} differs from its golden file`,
    );
    assert.fail(`${name} differs from its golden file`);
  }
}

const SAFE = ['1001', '1005', '1006']; // no separator, quote, CR or LF in any value

/** name → spec and options; each renders to <name>.csv. */
const CASES: Record<string, { spec: unknown; timeZone?: string; ids?: string[]; contentType: string }> = {
  default: { spec: {}, contentType: 'text/csv; charset=utf-8' },
  'time-zone-europe-zurich': { spec: {}, timeZone: 'Europe/Zurich', contentType: 'text/csv; charset=utf-8' },
  'separator-comma-crlf': {
    spec: { separator: ',', lineEnding: 'CRLF' },
    contentType: 'text/csv; charset=utf-8',
  },
  'separator-tab': { spec: { separator: '\t' }, contentType: 'text/csv; charset=utf-8' },
  'separator-pipe-no-header': {
    spec: { separator: '|', header: false },
    contentType: 'text/csv; charset=utf-8',
  },
  'quoting-all': { spec: { quoting: 'all' }, contentType: 'text/csv; charset=utf-8' },
  'quoting-none': { spec: { quoting: 'none' }, ids: SAFE, contentType: 'text/csv; charset=utf-8' },
  'utf-8-bom': { spec: { encoding: 'utf-8-bom' }, contentType: 'text/csv; charset=utf-8' },
  'iso-8859-1-replace': {
    spec: { encoding: 'iso-8859-1', unmappable: 'replace' },
    contentType: 'text/csv; charset=iso-8859-1',
  },
  'iso-8859-1-transliterate': {
    spec: { encoding: 'iso-8859-1', unmappable: 'transliterate' },
    contentType: 'text/csv; charset=iso-8859-1',
  },
  'windows-1252-transliterate': {
    spec: { encoding: 'windows-1252', unmappable: 'transliterate' },
    contentType: 'text/csv; charset=windows-1252',
  },
  columns: {
    spec: {
      columns: [
        'TICKET_ID',
        { field: 'BAR_CODE', header: 'Barcode' },
        { constant: 'MyReseller', header: 'Reseller' },
        'ORDER_ID',
        'SALES_CHANNEL_CODE',
        'CONTACT_NAME',
        { field: 'CREATED_AT', header: 'Created' },
        { constant: '', header: 'Empty' },
      ],
    },
    contentType: 'text/csv; charset=utf-8',
  },
  'date-formats': {
    spec: {
      dateFormat: 'DD.MM.YYYY',
      dateTimeFormat: 'DD/MM/YY HH:mm:ss.SSS',
      columns: ['BAR_CODE', 'VALIDITY_DATE', 'ORDER_DATE', 'CREATED_AT'],
    },
    timeZone: 'Europe/Zurich',
    contentType: 'text/csv; charset=utf-8',
  },
  'price-comma-1-decimal': {
    spec: { decimalSeparator: ',', decimals: 1, columns: ['BAR_CODE', 'PRICE'] },
    contentType: 'text/csv; charset=utf-8',
  },
  'price-0-decimals': {
    spec: { decimals: 0, columns: ['BAR_CODE', 'PRICE'] },
    contentType: 'text/csv; charset=utf-8',
  },
  'price-4-decimals-comma-separator': {
    spec: { separator: ',', decimalSeparator: ',', decimals: 4, columns: ['BAR_CODE', 'PRICE'] },
    contentType: 'text/csv; charset=utf-8',
  },
  trailer: { spec: { trailer: true }, contentType: 'text/csv; charset=utf-8' },
  'trailer-label': {
    spec: { trailer: { label: '#END' }, header: false, columns: ['BAR_CODE'] },
    contentType: 'text/csv; charset=utf-8',
  },
  'injection-guard': { spec: { injectionGuard: true }, contentType: 'text/csv; charset=utf-8' },
  excel: {
    spec: {
      encoding: 'utf-8-bom',
      separator: ';',
      lineEnding: 'CRLF',
      injectionGuard: true,
      decimalSeparator: ',',
      dateTimeFormat: 'DD.MM.YYYY HH:mm',
    },
    timeZone: 'Europe/Zurich',
    contentType: 'text/csv; charset=utf-8',
  },
  'barcode-only': {
    spec: { columns: ['BAR_CODE'], header: false, quoting: 'none' },
    contentType: 'text/csv; charset=utf-8',
  },
  // Wrapped columns are literals, exempt from the guard; the others are guarded as usual.
  'spreadsheet-text': {
    spec: {
      spreadsheetText: ['BAR_CODE', 'FILE_NUMBER', 'CONTACT_NUMBER', 'Vendor'],
      injectionGuard: true,
      columns: [
        'BAR_CODE',
        'FILE_NUMBER',
        'PRODUCT_NAME',
        'CONTACT_NUMBER',
        'PRICE',
        { constant: '=007', header: 'Vendor' },
      ],
    },
    contentType: 'text/csv; charset=utf-8',
  },
};

/**
 * xlsx: the worksheet's XML (cells, types, styles by index, widths, frozen header) and the styles
 * (number formats, bold header), taken out of the package. The package itself is compared byte for
 * byte between two renders in format-xlsx.test.ts: its deflated bytes depend on zlib's version.
 */
const XLSX_CASES: Record<string, { spec: unknown; timeZone?: string }> = {
  'xlsx-default': { spec: { type: 'xlsx' } },
  'xlsx-formats-zurich': {
    spec: {
      type: 'xlsx',
      dateFormat: 'DD.MM.YYYY',
      dateTimeFormat: 'DD.MM.YYYY HH:mm:ss.SSS',
      decimals: 0,
      injectionGuard: true,
      columns: [
        'TICKET_ID',
        'BAR_CODE',
        'VALIDITY_DATE',
        'ORDER_DATE',
        'CREATED_AT',
        'PRICE',
        { constant: '=1+1', header: 'Formula' },
      ],
    },
    timeZone: 'Europe/Zurich',
  },
};

for (const [name, c] of Object.entries(XLSX_CASES)) {
  test(`golden: ${name}`, async () => {
    const { result, files } = await render(c.spec, c);
    assert.equal(result.parts.length, 1);
    assert.equal(
      result.parts[0]!.contentType,
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    );
    assert.match(result.parts[0]!.fileName, /\.xlsx$/);
    const zip = XLSX.CFB.read(files[0]!, { type: 'buffer' });
    for (const entry of ['xl/worksheets/sheet1.xml', 'xl/styles.xml']) {
      const found = XLSX.CFB.find(zip, `/${entry}`);
      assert.ok(found, `${entry} in the package`);
      assertGolden(`${name}.${path.basename(entry)}`, Buffer.from(found.content as Uint8Array));
    }
  });
}

for (const [name, c] of Object.entries(CASES)) {
  test(`golden: ${name}`, async () => {
    const { result, files } = await render(c.spec, c);
    assert.equal(result.parts.length, 1);
    assert.equal(result.parts[0]!.contentType, c.contentType);
    assert.equal(result.parts[0]!.rowCount, c.ids?.length ?? TICKETS.length);
    assertGolden(`${name}.csv`, files[0]!);
  });
}

test('golden: the default file is CONTRACT.md §3 to the letter', async () => {
  const { result, files } = await render({});
  assert.equal(
    result.parts[0]!.fileName,
    'barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z.csv',
  );
  const lines = files[0]!.toString('utf8').split('\n');
  assert.equal(
    lines[0],
    'BAR_CODE;TICKET_STATE;FILE_NUMBER;PRODUCT_CODE;PRODUCT_NAME;VALIDITY_DATE;TARIFF_CODE;TARIFF_NAME;PRICE;ORDER_DATE;CONTACT_NUMBER',
  );
  assert.equal(
    lines[1],
    'STX0000000000000001;PRINTED;F-2025-0001;CONC01;Concert Opéra;2025-06-21;ADULT;Adulte;45.00;2025-03-30 00:59:59;C100',
  );
  assert.equal(
    lines[2],
    'STX0000000000000002;NOT_PRINTED;F-2025-0002;SHOW02;"Show; ""Late"" edition";;RED;Tarif, réduit|tab\there;1234.50;2025-03-30 01:00:00;',
  );
  assert.equal(files[0]![0], 0x42 /* B */, 'no BOM');
  assert.ok(files[0]!.toString('utf8').endsWith(';C600\n'), 'LF after the last line too');
});

test('golden: gzip holds the default file', async () => {
  const { result, files } = await render({ compression: 'gzip' });
  const part = result.parts[0]!;
  assert.equal(part.contentType, 'application/gzip');
  assert.equal(
    part.fileName,
    'barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z.csv.gz',
  );
  assert.deepEqual([files[0]![0], files[0]![1]], [0x1f, 0x8b]);
  assertGolden('default.csv', zlib.gunzipSync(files[0]!));
});

// zip is checked against default.csv in format-render.test.ts, next to its zip reader.

test('golden: the same window renders the same bytes, compressed or not', async () => {
  for (const compression of ['none', 'gzip', 'zip']) {
    const a = await render({ compression, trailer: true });
    const b = await render({ compression, trailer: true });
    assert.deepEqual(a.files, b.files, compression);
  }
});

test('golden: "none" quoting refuses a value that would break the line, naming the ticket, not the bar code', async () => {
  await assert.rejects(render({ quoting: 'none' }), (error: unknown) => {
    assert.ok(error instanceof FormatError);
    assert.match(
      error.message,
      /ticket 1002, column PRODUCT_NAME: the value holds the separator \(U\+003B\)/,
    );
    assert.doesNotMatch(error.message, /STX/);
    return true;
  });
});

test('golden: the "fail" policy names the ticket, the column and the character, never the bar code', async () => {
  await assert.rejects(render({ encoding: 'iso-8859-1' }), (error: unknown) => {
    assert.ok(error instanceof FormatError);
    assert.equal(error.message.split('\n').length, 1);
    assert.match(
      error.message,
      /ticket 1005, column PRODUCT_NAME: character U\+0152 cannot be encoded in iso-8859-1/,
    );
    assert.doesNotMatch(error.message, /STX/);
    return true;
  });
  // Windows-1252 has Œ, but not the emoji further on.
  await assert.rejects(
    render({ encoding: 'windows-1252', unmappable: 'fail' }),
    /ticket 1005, column PRODUCT_NAME: character U\+1F600 /,
  );
});
