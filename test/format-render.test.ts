import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { FormatError } from '../lib/errors';
import {
  MemorySink,
  parseFormatSpec,
  renderWindow,
  type FormatSpec,
  type PartSink,
  type RenderContext,
} from '../lib/format';
import {
  createDateTimeFormatter,
  DATETIME_TOKENS,
  tokenizeDateFormat,
  type FormatPiece,
} from '../lib/format/datetime';
import { formatDecimal, createPriceFormatter } from '../lib/format/decimal';
import { crc32Fallback } from '../lib/format/crc32';
import type { TicketRow } from '../lib/tickets';

const CTX: RenderContext = {
  interfaceName: 'Reseller Ltd',
  timeZone: 'UTC',
  windowStart: new Date('2025-05-01T10:00:00Z'),
  windowEnd: new Date('2025-05-01T10:15:00Z'),
};
const BASE_NAME = 'barcodes_reseller-ltd_20250501T100000Z_20250501T101500Z';

function ticket(i: number, overrides: Partial<TicketRow> = {}): TicketRow {
  return {
    id: String(10_000 + i),
    barCode: `BC${String(i).padStart(12, '0')}`,
    state: 'PRINTED',
    fileNumber: `F${Math.floor(i / 3)}`,
    productCode: `P${i % 7}`,
    productName: `Product ${i % 7} — édition ${i}`,
    validityDate: i % 5 === 0 ? null : '2025-06-01',
    tariffCode: 'T1',
    tariffName: 'Plein tarif',
    price: `${i % 100}.${String(i % 100).padStart(2, '0')}`,
    orderDate: new Date(Date.UTC(2025, 4, 1, 10, 0, i % 60)),
    contactNumber: i % 4 === 0 ? null : `C${i % 10}`,
    contactName: null,
    salesChannelCode: 'WEB',
    orderId: String(Math.floor(i / 3)),
    createdAt: new Date(Date.UTC(2025, 4, 1, 10, 0, 0, i)),
    ...overrides,
  };
}

async function* rows(
  count: number,
  make: (i: number) => TicketRow = (i) => ticket(i),
): AsyncGenerator<TicketRow> {
  for (let i = 1; i <= count; i++) yield make(i);
}

async function render(
  spec: unknown,
  source: AsyncIterable<TicketRow | readonly TicketRow[]>,
  ctx: Partial<RenderContext> = {},
) {
  const sink = new MemorySink();
  const result = await renderWindow(source, parseFormatSpec(spec), { ...CTX, ...ctx }, sink);
  return { result, files: sink.parts };
}

/** Records every call, and checks that the renderer awaits each before the next. */
class RecordingSink implements PartSink {
  readonly calls: string[] = [];
  readonly chunkSizes: number[] = [];
  private busy = false;
  constructor(private readonly delayMs = 0) {}
  private async step(call: string): Promise<void> {
    assert.equal(this.busy, false, `${call} while the previous call was still running`);
    this.busy = true;
    this.calls.push(call);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    else await Promise.resolve();
    this.busy = false;
  }
  beginPart(index: number) {
    return this.step(`begin ${index}`);
  }
  write(chunk: Buffer) {
    this.chunkSizes.push(chunk.length);
    return this.step('write');
  }
  endPart() {
    return this.step('end');
  }
}

test('render: rows may come in arrays, with the same bytes as one by one', async () => {
  async function* inArrays(count: number, size: number): AsyncGenerator<TicketRow[]> {
    for (let i = 1; i <= count; i += size)
      yield Array.from({ length: Math.min(size, count - i + 1) }, (_, j) => ticket(i + j));
  }
  const spec = { maxFileSize: 65536, trailer: true };
  const one = await render(spec, rows(2500));
  for (const size of [1, 7, 1000, 5000]) {
    const batched = await render(spec, inArrays(2500, size));
    assert.deepEqual(batched.result, one.result, `arrays of ${size}`);
    assert.deepEqual(batched.files, one.files, `arrays of ${size}`);
  }
  const empty = await render(
    {},
    (async function* () {
      yield [] as TicketRow[];
    })(),
  );
  assert.deepEqual(empty.result, { ticketCount: 0, parts: [] });
});

test('render: an empty window sends nothing by default, and calls nothing on the sink', async () => {
  const sink = new RecordingSink();
  const result = await renderWindow(rows(0), parseFormatSpec({}), CTX, sink);
  assert.deepEqual(result, { ticketCount: 0, parts: [] });
  assert.deepEqual(sink.calls, []);
});

test('render: an empty window with "header-only" is one file with the header (and trailer)', async () => {
  const plain = await render({ emptyWindow: 'header-only' }, rows(0));
  assert.equal(plain.result.ticketCount, 0);
  assert.equal(plain.result.parts.length, 1);
  assert.equal(plain.result.parts[0]!.rowCount, 0);
  assert.equal(plain.result.parts[0]!.fileName, `${BASE_NAME}.csv`);
  assert.equal(
    plain.files[0]!.toString(),
    `${parseFormatSpec({})
      .columns.map((c) => c.header)
      .join(';')}\n`,
  );

  const withTrailer = await render(
    { emptyWindow: 'header-only', trailer: true, header: false, encoding: 'utf-8-bom' },
    rows(0),
  );
  const emptyHash = createHash('sha256').digest('hex');
  assert.equal(
    withTrailer.files[0]!.toString(),
    `\ufeffTRAILER;0;2025-05-01T10:00:00.000Z;2025-05-01T10:15:00.000Z;1;${emptyHash}\n`,
  );

  const gzip = await render({ emptyWindow: 'header-only', compression: 'gzip' }, rows(0));
  assert.equal(zlib.gunzipSync(gzip.files[0]!).toString(), plain.files[0]!.toString());
  const zip = await render({ emptyWindow: 'header-only', compression: 'zip', header: false }, rows(0));
  assert.deepEqual(
    readZip(zip.files[0]!).map((e) => [e.name, e.data.length]),
    [[`${BASE_NAME}.csv`, 0]],
  );
});

test('render: a window over maxFileSize is split into complete files, never inside a row', async () => {
  const spec = { maxFileSize: 64 * 1024, trailer: true };
  const count = 3000;
  const { result, files } = await render(spec, rows(count));
  assert.ok(result.parts.length >= 3, `${result.parts.length} parts`);
  assert.equal(result.ticketCount, count);
  const header = files[0]!.toString().split('\n')[0];
  const seen: string[] = [];
  result.parts.forEach((part, i) => {
    const file = files[i]!;
    assert.ok(file.length <= 64 * 1024, `part ${i + 1} is ${file.length} bytes`);
    assert.equal(part.index, i + 1);
    assert.equal(part.byteCount, file.length);
    assert.equal(part.sha256, createHash('sha256').update(file).digest('hex'));
    assert.equal(
      part.fileName,
      `${BASE_NAME}_part${String(i + 1).padStart(2, '0')}of${String(result.parts.length).padStart(2, '0')}.csv`,
    );
    const records = parse(file, { delimiter: ';', relax_column_count: true }) as string[][];
    assert.equal(records[0]!.join(';'), header, 'each part has its header');
    const trailer = records.at(-1)!;
    const data = records.slice(1, -1);
    assert.equal(data.length, part.rowCount);
    assert.ok(
      data.every((r) => r.length === 11),
      'every row whole',
    );
    // The trailer: label, rows, window, part, SHA-256 of the data lines as written.
    const dataBytes = file.subarray(
      Buffer.byteLength(`${header}\n`),
      file.length - Buffer.byteLength(`${trailer.join(';')}\n`),
    );
    assert.deepEqual(trailer, [
      'TRAILER',
      String(part.rowCount),
      CTX.windowStart.toISOString(),
      CTX.windowEnd.toISOString(),
      String(i + 1),
      createHash('sha256').update(dataBytes).digest('hex'),
    ]);
    seen.push(...data.map((r) => r[0]!));
  });
  assert.deepEqual(
    seen,
    Array.from({ length: count }, (_, i) => ticket(i + 1).barCode),
    'all rows, in order, once',
  );
  // The parts are filled: only the last may be much smaller than the limit.
  for (const file of files.slice(0, -1))
    assert.ok(file.length > 64 * 1024 - 1024, `part of ${file.length} bytes`);
});

test('render: sizes are counted in bytes of the encoding (multi-byte UTF-8 near the limit)', async () => {
  const wide = (i: number) => ticket(i, { productName: '€'.repeat(200 + (i % 50)) });
  for (const encoding of ['utf-8', 'utf-8-bom', 'windows-1252']) {
    const { result, files } = await render({ maxFileSize: 65536, encoding }, rows(400, wide));
    assert.ok(result.parts.length > 1, encoding);
    files.forEach((file) => assert.ok(file.length <= 65536, `${encoding}: ${file.length}`));
    assert.equal(
      result.parts.reduce((n, p) => n + p.rowCount, 0),
      400,
    );
  }
});

test('render: a row larger than maxFileSize on its own becomes a part of one row', async () => {
  const huge = (i: number) => ticket(i, { productName: i === 2 ? 'x'.repeat(100_000) : 'small' });
  const { result, files } = await render({ maxFileSize: 65536 }, rows(3, huge));
  assert.deepEqual(
    result.parts.map((p) => p.rowCount),
    [1, 1, 1],
  );
  assert.ok(files[1]!.length > 100_000);
  assert.ok(files[1]!.toString().includes('x'.repeat(100_000)));
});

test('render: part names follow the template, with the count where asked', async () => {
  const spec = { maxFileSize: 65536, fileName: 'export-{interface}-{date}-{part}-of-{parts}.txt' };
  const { result } = await render(spec, rows(1500), { timeZone: 'Pacific/Kiritimati' });
  const n = String(result.parts.length).padStart(2, '0');
  assert.deepEqual(
    result.parts.map((p) => p.fileName),
    result.parts.map((_, i) => `export-reseller-ltd-20250502-${String(i + 1).padStart(2, '0')}-of-${n}.txt`),
  );
  assert.equal(result.parts[0]!.contentType, 'text/plain; charset=utf-8');
});

test('render: gzip parts gunzip to the plain parts', async () => {
  const plain = await render({ maxFileSize: 65536 }, rows(2000));
  const gzip = await render({ maxFileSize: 65536, compression: 'gzip' }, rows(2000));
  assert.equal(gzip.result.parts.length, plain.result.parts.length);
  gzip.result.parts.forEach((part, i) => {
    assert.equal(part.contentType, 'application/gzip');
    assert.equal(part.fileName, `${plain.result.parts[i]!.fileName}.gz`);
    assert.equal(part.rowCount, plain.result.parts[i]!.rowCount);
    assert.ok(zlib.gunzipSync(gzip.files[i]!).equals(plain.files[i]!), `part ${i + 1}`);
    assert.ok(part.byteCount < plain.files[i]!.length);
  });
});

test('render: zip parts hold one entry each, named after the window and the part', async () => {
  const plain = await render({ maxFileSize: 65536 }, rows(2000));
  const zip = await render({ maxFileSize: 65536, compression: 'zip' }, rows(2000));
  assert.equal(zip.result.parts.length, plain.result.parts.length);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'format-zip-'));
  try {
    zip.result.parts.forEach((part, i) => {
      const index = String(i + 1).padStart(2, '0');
      assert.equal(part.contentType, 'application/zip');
      assert.equal(part.fileName, plain.result.parts[i]!.fileName.replace(/\.csv$/, '.zip'));
      const entries = readZip(zip.files[i]!);
      assert.deepEqual(
        entries.map((e) => e.name),
        [`${BASE_NAME}_part${index}.csv`],
      );
      assert.ok(entries[0]!.data.equals(plain.files[i]!), `part ${i + 1}`);
      // A second opinion from a real unzip, where the system has one.
      if (hasUnzip()) {
        const file = path.join(dir, part.fileName);
        fs.writeFileSync(file, zip.files[i]!);
        execFileSync('unzip', ['-tq', file]);
        assert.ok(execFileSync('unzip', ['-p', file]).equals(plain.files[i]!));
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function hasUnzip(): boolean {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('render: zip holds the default file (test/fixtures/format/default.csv) under the default name', async () => {
  const fixtures = [
    path.resolve(__dirname, '../../test/fixtures/format'),
    path.resolve('test/fixtures/format'),
  ].find((dir) => fs.existsSync(path.join(dir, 'tickets.json')))!;
  type JsonTicket = Omit<TicketRow, 'orderDate' | 'createdAt'> & { orderDate: string; createdAt: string };
  const tickets = (
    JSON.parse(fs.readFileSync(path.join(fixtures, 'tickets.json'), 'utf8')) as { tickets: JsonTicket[] }
  ).tickets.map((t): TicketRow => ({
    ...t,
    orderDate: new Date(t.orderDate),
    createdAt: new Date(t.createdAt),
  }));
  const ctx = {
    interfaceName: 'Barcodes for MyResellerCompany',
    windowStart: new Date('2025-03-30T00:45:00Z'),
    windowEnd: new Date('2025-03-30T01:00:00Z'),
  };
  const { result, files } = await render(
    { compression: 'zip' },
    rows(tickets.length, (i) => tickets[i - 1]!),
    ctx,
  );
  const name = 'barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z';
  assert.equal(result.parts[0]!.fileName, `${name}.zip`);
  assert.equal(result.parts[0]!.contentType, 'application/zip');
  const entries = readZip(files[0]!);
  assert.deepEqual(
    entries.map((e) => e.name),
    [`${name}.csv`],
  );
  assert.ok(entries[0]!.data.equals(fs.readFileSync(path.join(fixtures, 'default.csv'))));
});

test('render: the sink gets ~64 KiB writes, each awaited before the next (backpressure)', async () => {
  const sink = new RecordingSink(1);
  const result = await renderWindow(rows(5000), parseFormatSpec({ maxFileSize: '256KiB' }), CTX, sink);
  assert.ok(result.parts.length >= 2);
  assert.equal(sink.calls[0], 'begin 1');
  assert.equal(sink.calls.at(-1), 'end');
  assert.equal(sink.calls.filter((c) => c.startsWith('begin')).length, result.parts.length);
  assert.ok(
    sink.chunkSizes.every((size) => size <= 256 * 1024),
    `largest write ${Math.max(...sink.chunkSizes)}`,
  );
  assert.ok(sink.chunkSizes.length < 5000 / 50, `${sink.chunkSizes.length} writes for 5000 rows`);
});

test('render: a refused character fails before the first write when it is in the first rows', async () => {
  const sink = new RecordingSink();
  const bad = (i: number) =>
    ticket(i, { productName: 'Produit été', tariffName: i === 3 ? 'Tarif 😀' : 'Tarif' });
  await assert.rejects(
    renderWindow(rows(10, bad), parseFormatSpec({ encoding: 'iso-8859-1' }), CTX, sink),
    (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.equal(error.code, 'FORMAT');
      assert.match(
        error.message,
        /^format: ticket 10003, column TARIFF_NAME: character U\+1F600 cannot be encoded in iso-8859-1/,
      );
      assert.match(error.message, /whole window/);
      assert.doesNotMatch(error.message, /BC0000/);
      return true;
    },
  );
  assert.deepEqual(
    sink.calls.filter((c) => c === 'write'),
    [],
  );
});

test('render: a refusal deep in a window still fails the whole window', async () => {
  const bad = (i: number) => ticket(i, { productName: i === 4000 ? 'a;b' : 'ab' });
  await assert.rejects(
    render({ quoting: 'none' }, rows(5000, bad)),
    /ticket 14000, column PRODUCT_NAME: the value holds the separator/,
  );
});

test('render: an invalid time zone or window is refused before anything is written', async () => {
  const sink = new RecordingSink();
  await assert.rejects(
    renderWindow(rows(3), parseFormatSpec({}), { ...CTX, timeZone: 'Mars/Olympus' }, sink),
    /unknown time zone "Mars\/Olympus"/,
  );
  await assert.rejects(
    renderWindow(rows(3), parseFormatSpec({}), { ...CTX, windowEnd: new Date(Number.NaN) }, sink),
    /windowEnd is not a valid date/,
  );
  assert.deepEqual(sink.calls, []);
});

test('render: a spec that did not go through parseFormatSpec is checked before anything is written', async () => {
  const sink = new RecordingSink();
  const handMade = { ...parseFormatSpec({}), separator: ':', fileName: '../x.csv' } as unknown as FormatSpec;
  await assert.rejects(renderWindow(rows(3), handMade, CTX, sink), (error: unknown) => {
    assert.ok(error instanceof FormatError);
    assert.match(error.message, /^format: separator must be one of/);
    return true;
  });
  assert.deepEqual(sink.calls, []);
});

test('render: a date node-postgres parsed into a Date is written as the date it holds', async () => {
  const { files } = await render(
    { columns: ['VALIDITY_DATE'], header: false, dateFormat: 'DD.MM.YYYY' },
    rows(1, (i) => ticket(i, { validityDate: new Date(2025, 5, 21) as unknown as string })),
  );
  assert.equal(files[0]!.toString(), '21.06.2025\n');
});

test('render: an invalid time in a row names the ticket', async () => {
  const bad = (i: number) => ticket(i, { orderDate: new Date(Number.NaN) });
  await assert.rejects(
    render({}, rows(1, bad)),
    /ticket 10001, column ORDER_DATE: not a valid date and time/,
  );
});

test('render: an error from the rows stops the window and reaches the caller', async () => {
  async function* failing(): AsyncGenerator<TicketRow> {
    yield ticket(1);
    throw new Error('connection lost');
  }
  await assert.rejects(render({ compression: 'gzip' }, failing()), /connection lost/);
});

test('render: the injection guard prefixes text values, not the numbers and dates the exporter writes', async () => {
  const row = ticket(1, {
    productName: '=1+1',
    tariffName: '\tTab',
    fileNumber: '+1',
    contactNumber: '@x',
    tariffCode: '-',
    price: '-3.00',
    productCode: '＝1',
  });
  const { files } = await render(
    {
      injectionGuard: true,
      columns: [
        'PRODUCT_NAME',
        'TARIFF_NAME',
        'FILE_NUMBER',
        'CONTACT_NUMBER',
        'TARIFF_CODE',
        'PRICE',
        'PRODUCT_CODE',
        { constant: '=A1', header: '+H' },
      ],
    },
    rows(1, () => row),
  );
  assert.equal(
    files[0]!.toString(),
    `PRODUCT_NAME;TARIFF_NAME;FILE_NUMBER;CONTACT_NUMBER;TARIFF_CODE;PRICE;PRODUCT_CODE;'+H\n'=1+1;'\tTab;'+1;'@x;'-;-3.00;'＝1;'=A1\n`,
  );
});

test('datetime: zone offsets cached per hour agree with Intl at every instant, across DST changes', () => {
  const pieces = tokenizeDateFormat('YYYY-MM-DD HH:mm:ss', DATETIME_TOKENS) as FormatPiece[];
  const zones = [
    'Europe/Zurich',
    'America/New_York',
    'Australia/Lord_Howe',
    'Asia/Kathmandu',
    'America/St_Johns',
    'Pacific/Chatham',
    'UTC',
  ];
  let seed = 12345;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (const timeZone of zones) {
    const format = createDateTimeFormatter(pieces, timeZone);
    const intl = new Intl.DateTimeFormat('sv-SE', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    // Random instants over two years, and every 10 minutes around each day's transitions.
    const instants: number[] = [];
    for (let i = 0; i < 2000; i++)
      instants.push(Date.UTC(2024, 0, 1) + Math.floor(random() * 2 * 365 * 86_400_000));
    for (let t = Date.UTC(2025, 2, 28); t < Date.UTC(2025, 3, 7); t += 600_000) instants.push(t, t + 599_999);
    for (let t = Date.UTC(2025, 8, 26); t < Date.UTC(2025, 10, 5); t += 600_000)
      instants.push(t, t + 599_999);
    for (const ms of instants) {
      assert.equal(format(new Date(ms)), intl.format(ms), `${timeZone} at ${new Date(ms).toISOString()}`);
    }
  }
});

test('decimal: string arithmetic, rounding half away from zero', () => {
  const cases: Array<[string, number, string, string]> = [
    ['1234.50', 2, '.', '1234.50'],
    ['1234.5', 2, '.', '1234.50'],
    ['1234', 2, ',', '1234,00'],
    ['0.285', 2, '.', '0.29'],
    ['1.005', 2, '.', '1.01'],
    ['2.45', 1, '.', '2.5'],
    ['-2.45', 1, '.', '-2.5'],
    ['-2.44', 1, '.', '-2.4'],
    ['9.995', 2, '.', '10.00'],
    ['999.5', 0, '.', '1000'],
    ['-0.004', 2, '.', '0.00'],
    ['-0.00', 2, '.', '0.00'],
    ['-0.5', 0, '.', '-1'],
    ['0.49', 0, '.', '0'],
    ['007.10', 2, '.', '7.10'],
    ['12345678901234567890.123456', 4, ',', '12345678901234567890,1235'],
    ['NaN', 2, '.', 'NaN'],
    ['1e5', 2, '.', '1e5'],
  ];
  for (const [input, decimals, separator, expected] of cases) {
    assert.equal(formatDecimal(input, decimals, separator), expected, `${input} with ${decimals}`);
    assert.equal(
      createPriceFormatter(decimals, separator)(input),
      expected,
      `fast path: ${input} with ${decimals}`,
    );
  }
});

test('crc32: the fallback for older Node agrees with zlib', () => {
  const data = Buffer.from('The quick brown fox jumps over the lazy dog — ünïcödé');
  assert.equal(crc32Fallback(data), zlib.crc32(data));
  assert.equal(crc32Fallback(data.subarray(10), crc32Fallback(data.subarray(0, 10))), zlib.crc32(data));
});

/** Reads a zip by its central directory, checking every CRC: independent of lib/format/zip.ts. */
function readZip(zip: Buffer): Array<{ name: string; data: Buffer }> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: Array<{ name: string; data: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, 'central directory header');
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('latin1');
    assert.equal(zip.readUInt32LE(local), 0x04034b50, 'local header');
    assert.equal(
      zip.subarray(local + 30, local + 30 + zip.readUInt16LE(local + 26)).toString('latin1'),
      name,
      'local and central names agree',
    );
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    const data = method === 8 ? zlib.inflateRawSync(raw) : raw;
    assert.equal(data.length, size, 'size');
    assert.equal(zlib.crc32(data), crc, 'crc');
    entries.push({ name, data });
    at += 46 + nameLength + extra;
  }
  return entries;
}
