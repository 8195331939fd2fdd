/**
 * Throughput of renderWindow, not a test: skipped unless FORMAT_BENCH=1, as timings on a shared
 * machine prove nothing in CI. `FORMAT_BENCH=1 FORMAT_BENCH_ROWS=1000000 node --test
 * dist/test/format-perf.test.js` prints rows/s per format. Note that the test runner turns on
 * async hooks, which makes every promise (one per row fed one by one) several times dearer than in
 * a plain `node` process: compare the two feeds. The rows mimic the source join (the
 * same generator as the PostgreSQL table docs/developers.md's comparison with COPY used), and the sink
 * discards, so the figure is the renderer's own cost plus one `for await` per row.
 */

import { test } from 'node:test';
import { MemorySink, parseFormatSpec, renderWindow, type PartSink } from '../lib/format';
import type { TicketRow } from '../lib/tickets';

const ROWS = Number(process.env.FORMAT_BENCH_ROWS ?? 1_000_000);
const POOL = 100_000;
const BASE = Date.UTC(2025, 0, 1);

function makeRow(g: number): TicketRow {
  return {
    id: String(g),
    barCode: `BC${String(g).padStart(14, '0')}X`,
    state: ['NOT_PRINTED', 'CANCELLED', 'PRINTED'][g % 3]!,
    fileNumber: `F${Math.floor(g / 3)}`,
    productCode: `P${g % 50}`,
    productName: `Concert de l'été ${g % 50}`,
    validityDate: g % 7 === 0 ? null : new Date(Date.UTC(2025, 5, 1 + (g % 100))).toISOString().slice(0, 10),
    tariffCode: `T${g % 5}`,
    tariffName: `Tarif réduit ${g % 5}`,
    price: ((g % 10_000) / 100 + 10).toFixed(2),
    orderDate: new Date(BASE + Math.floor(g / 3) * 7000),
    contactNumber: g % 4 === 0 ? null : `C${g % 1000}`,
    contactName: g % 4 === 0 ? null : `Contact ${g % 1000}`,
    salesChannelCode: 'WEB',
    orderId: String(Math.floor(g / 3)),
    createdAt: new Date(BASE + g * 1000),
  };
}

// Rows are made up front (and reused) so that the measure is the renderer, not the generator.
let pool: TicketRow[] = [];

async function* source(count: number): AsyncGenerator<TicketRow> {
  for (let i = 0; i < count; i++) yield pool[i % POOL]!;
}

/** The same rows in arrays of 1000, as a pg-cursor source would read them. */
async function* batches(count: number): AsyncGenerator<TicketRow[]> {
  for (let i = 0; i < count; i += 1000) {
    const batch: TicketRow[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) batch.push(pool[j % POOL]!);
    yield batch;
  }
}

const discard: PartSink = { beginPart: async () => {}, write: async () => {}, endPart: async () => {} };

const SPECS: Record<string, unknown> = {
  default: {},
  'default, Europe/Zurich': {},
  'iso-8859-1 transliterate, CRLF, quoting all': {
    encoding: 'iso-8859-1',
    unmappable: 'transliterate',
    lineEnding: 'CRLF',
    quoting: 'all',
  },
  'excel (BOM, guard, decimal comma)': { encoding: 'utf-8-bom', injectionGuard: true, decimalSeparator: ',' },
  'all 16 fields + trailer': {
    columns: [
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
    ],
    trailer: true,
  },
  gzip: { compression: 'gzip' },
};

test(
  'perf: rows per second of renderWindow',
  { skip: process.env.FORMAT_BENCH !== '1' && 'set FORMAT_BENCH=1 to measure' },
  async (t) => {
    pool = Array.from({ length: POOL }, (_, i) => makeRow(i + 1));
    let start = process.hrtime.bigint();
    let seen = 0;
    for await (const _row of source(ROWS)) seen += 1;
    const sourceSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    t.diagnostic(`source alone (for await over ${seen} rows): ${sourceSeconds.toFixed(2)} s`);
    // Warm up the JIT on a small window first.
    await renderWindow(
      source(50_000),
      parseFormatSpec({}),
      {
        interfaceName: 'bench',
        timeZone: 'UTC',
        windowStart: new Date(BASE),
        windowEnd: new Date(BASE + 900_000),
      },
      new MemorySink(),
    );
    for (const [name, spec] of Object.entries(SPECS)) {
      for (const [feed, rows] of [
        ['rows one by one', source],
        ['rows in arrays of 1000', batches],
      ] as const) {
        const timeZone = name.includes('Zurich') ? 'Europe/Zurich' : 'UTC';
        start = process.hrtime.bigint();
        const result = await renderWindow(
          rows(ROWS),
          parseFormatSpec(spec),
          {
            interfaceName: 'bench',
            timeZone,
            windowStart: new Date(BASE),
            windowEnd: new Date(BASE + 900_000),
          },
          discard,
        );
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const bytes = result.parts.reduce((n, p) => n + p.byteCount, 0);
        t.diagnostic(
          `${name}, ${feed}: ${ROWS} rows in ${seconds.toFixed(2)} s = ${Math.round(ROWS / seconds).toLocaleString('en-US')} rows/s, ${(bytes / 1e6).toFixed(1)} MB in ${result.parts.length} parts`,
        );
      }
    }
  },
);
