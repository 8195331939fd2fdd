/**
 * Turning the window query's rows into TicketRow objects cheaply. On a million-ticket window the
 * driver's decoding cost more CPU than rendering the file (docs/performance.md): pg decodes every
 * column into its own string (16 UTF-8 decodes a row) and parses timestamps with a regex. The
 * window cursor therefore returns each row packed into one text column (one decode, one split)
 * and timestamps go through a parser without regex. A row that cannot be unpacked unambiguously
 * (a value holding the separator) is read again the ordinary way, by id.
 */
import pg from 'pg';
import { SourceRowError } from '../errors';
import { TICKET_STATES, type TicketRow } from '../tickets';

const TIMESTAMPTZ_OID = 1184;
const DATE_OID = 1082;
const genericTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

/** Separates the packed values: the ASCII unit separator, which no ticket field should hold. */
const SEPARATOR = '\x1f';
const SEPARATOR_SQL = 'chr(31)';

/**
 * The window query's columns in select order: the SQL expression, the TicketRow property it fills,
 * and whether it may be null (the others are NOT NULL in CONTRACT.md §2).
 */
export const WINDOW_COLUMNS: readonly (readonly [
  sql: string,
  property: keyof TicketRow,
  nullable: boolean,
])[] = [
  ['t.id::text', 'id', false],
  ['t.bar_code', 'barCode', false],
  ['t.state', 'state', false],
  ['o.file_number', 'fileNumber', false],
  ['t.product_code', 'productCode', false],
  ['p.name', 'productName', false],
  ['t.validity_date', 'validityDate', true],
  ['t.tariff_code', 'tariffCode', false],
  ['ta.name', 'tariffName', false],
  ['t.price::text', 'price', false],
  ['o.order_date', 'orderDate', false],
  ['o.contact_number', 'contactNumber', true],
  ['c.name', 'contactName', true],
  ['o.sales_channel_code', 'salesChannelCode', false],
  ['o.id::text', 'orderId', false],
  ['t.created_at', 'createdAt', false],
];

const NULLABLE = WINDOW_COLUMNS.filter(([, , nullable]) => nullable).map(([sql]) => sql);

const KNOWN_STATES: ReadonlySet<string> = new Set(TICKET_STATES);

/** The query aliases of the source tables, to name a column as `table.column` in an error. */
const TABLE_OF_ALIAS: Readonly<Record<string, string>> = {
  t: 'ticket',
  o: 'ticket_order',
  p: 'product',
  ta: 'tariff',
  c: 'contact',
};
const COLUMN_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  WINDOW_COLUMNS.map(([sql, property]) => {
    const [alias, column] = sql.replace(/::text$/, '').split('.') as [string, string];
    return [property, `${TABLE_OF_ALIAS[alias] ?? alias}.${column}`];
  }),
);

/**
 * Refuses a row that breaks CONTRACT.md §2 rather than deliver an empty barcode or `NaN` to a
 * reseller: the bar code must be non-empty, the state one of TICKET_STATES, the price a finite
 * decimal (numeric holds `NaN` and `Infinity`), the dates real dates. Runs on every row of a window
 * (the hot path of a million-row export): comparisons only, nothing allocated unless it throws.
 * A NULL in a NOT NULL column never unpacks (the value count is off), so `checkPlainTicketRow`
 * covers those on the rows read again by id.
 */
export function checkTicketRow(row: TicketRow): void {
  const barCode = row.barCode;
  if (barCode === null || barCode.length === 0)
    refuse(row, 'barCode', barCode === null ? 'is null' : 'is empty');
  if (!KNOWN_STATES.has(row.state)) refuse(row, 'state', unknownStateProblem(row.state));
  if (!isFiniteDecimal(row.price))
    refuse(
      row,
      'price',
      row.price === null ? 'is null' : `is ${JSON.stringify(row.price.slice(0, 40))}, not a finite number`,
    );
  if (row.orderDate === null) refuse(row, 'orderDate', 'is null or not a finite time');
  if (row.createdAt === null) refuse(row, 'createdAt', 'is null or not a finite time');
  const validity = row.validityDate;
  // PostgreSQL's ISO output of a date is YYYY-MM-DD; `infinity` or a BC date is not a date a reseller can use.
  if (validity !== null && (validity.length !== 10 || validity.charCodeAt(4) !== 45))
    refuse(row, 'validityDate', `is ${JSON.stringify(validity.slice(0, 40))}, not a date`);
}

/** checkTicketRow, and no NULL where the contract says NOT NULL: for rows read the ordinary way. */
export function checkPlainTicketRow(row: TicketRow): void {
  for (const [, property, nullable] of WINDOW_COLUMNS) {
    if (!nullable && row[property] === null) refuse(row, property, 'is null');
  }
  checkTicketRow(row);
}

/**
 * A state read from the change log (the state at a window's end or start) is checked like
 * ticket.state: an operator's log without the contract's constraints could hold anything, and a
 * state-change row shows these, not ticket.state. `column` names where it came from.
 */
export function checkLoggedState(ticketId: string, column: string, state: string | null): void {
  if (state === null || !KNOWN_STATES.has(state))
    throw new SourceRowError(ticketId, column, unknownStateProblem(state));
}

function unknownStateProblem(state: string | null): string {
  if (state === null || state === '') return state === null ? 'is null' : 'is empty';
  return `is ${JSON.stringify(state.slice(0, 40))}, not one of ${TICKET_STATES.join(', ')}`;
}

function refuse(row: TicketRow, property: keyof TicketRow, problem: string): never {
  throw new SourceRowError(String(row.id), COLUMN_NAMES[property] ?? property, problem);
}

/** `-?digits[.digits]`: what numeric prints for a number, unlike its `NaN`, `Infinity`, `-Infinity`. */
function isFiniteDecimal(text: string | null): boolean {
  if (text === null) return false;
  const first = text.charCodeAt(text.charCodeAt(0) === 45 /* - */ ? 1 : 0);
  return first >= 48 && first <= 57;
}

/**
 * The select list of the packed row: one text value, `<null mask>␟<id>␟…␟<created_at>`. The mask's
 * bit i is set when the i-th nullable column is null (concat_ws would silently drop a null, and an
 * empty string is not null). Dates and timestamps are written by PostgreSQL's output functions,
 * as the text protocol writes them.
 */
export function packedSelectList(): string {
  const mask = NULLABLE.map((sql, bit) => `((${sql}) IS NULL)::int * ${1 << bit}`).join(' + ');
  const values = WINDOW_COLUMNS.map(([sql, , nullable]) => (nullable ? `coalesce((${sql})::text, '')` : sql));
  return `concat_ws(${SEPARATOR_SQL}, ${mask}, ${values.join(', ')}) AS packed`;
}

/** The select list of ordinary rows (rowMode 'array', in WINDOW_COLUMNS order). */
export function plainSelectList(): string {
  return WINDOW_COLUMNS.map(([sql, property]) => `${sql} AS "${property}"`).join(', ');
}

/**
 * Unpacks one packed row, or returns null when it holds more or fewer values than columns (a value
 * contains the separator, or a view returned null where the contract says NOT NULL): the caller
 * reads that row again with `plainSelectList`.
 */
export function unpackTicketRow(packed: string): TicketRow | null {
  const values = packed.split(SEPARATOR);
  if (values.length !== WINDOW_COLUMNS.length + 1) return null;
  const nulls = Number(values[0]);
  return {
    id: values[1]!,
    barCode: values[2]!,
    state: values[3]!,
    fileNumber: values[4]!,
    productCode: values[5]!,
    productName: values[6]!,
    validityDate: nulls & 1 ? null : values[7]!,
    tariffCode: values[8]!,
    tariffName: values[9]!,
    price: values[10]!,
    orderDate: timestamptz(values[11]!),
    contactNumber: nulls & 2 ? null : values[12]!,
    contactName: nulls & 4 ? null : values[13]!,
    salesChannelCode: values[14]!,
    orderId: values[15]!,
    createdAt: timestamptz(values[16]!),
  };
}

/** The ticket id of a packed row, even one that does not unpack (the mask and the id never hold the separator). */
export function packedTicketId(packed: string): string {
  const start = packed.indexOf(SEPARATOR) + 1;
  return packed.slice(start, packed.indexOf(SEPARATOR, start));
}

/**
 * One ordinary row (rowMode 'array', `plainSelectList` order, WINDOW_ROW_TYPES) as a TicketRow.
 * An object literal with a fixed property order gives every row the same hidden class, as
 * unpackTicketRow does, so the renderer's property reads stay monomorphic.
 */
export function toTicketRow(row: unknown[]): TicketRow {
  return {
    id: row[0] as string,
    barCode: row[1] as string,
    state: row[2] as string,
    fileNumber: row[3] as string,
    productCode: row[4] as string,
    productName: row[5] as string,
    validityDate: row[6] as string | null,
    tariffCode: row[7] as string,
    tariffName: row[8] as string,
    price: row[9] as string,
    orderDate: row[10] as Date,
    contactNumber: row[11] as string | null,
    contactName: row[12] as string | null,
    salesChannelCode: row[13] as string,
    orderId: row[14] as string,
    createdAt: row[15] as Date,
  };
}

/**
 * Type parsers of the window queries: timestamptz through the fast path, `date` kept as text (as
 * lib/db/pool.ts does: a local-midnight Date would shift the day west of UTC), text as is.
 */
export const WINDOW_ROW_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID && format !== 'binary') return timestamptz;
    if (oid === DATE_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * A timestamptz as a Date, or null for a value that is no point in time (`infinity`): pg's parser
 * gives the number Infinity there, which would render as `Invalid Date`; checkTicketRow refuses it.
 */
function timestamptz(text: string): Date {
  const fast = parseIsoTimestamptz(text);
  if (fast !== null) return fast;
  const parsed = genericTimestamptz(text) as unknown;
  return (parsed instanceof Date && Number.isFinite(parsed.getTime()) ? parsed : null) as Date;
}

/**
 * Parses PostgreSQL's ISO output of timestamptz (`2026-11-29 10:15:00.123456+01`, any offset,
 * optional `:MM`/`:SS` in the offset) without a regex. Returns null for anything else (BC dates,
 * years before 100 or after 9999, infinity, other DateStyles), which the caller leaves to pg's
 * parser. Sub-millisecond digits are dropped, as pg's parser drops them.
 */
export function parseIsoTimestamptz(text: string): Date | null {
  const length = text.length;
  if (
    length < 22 ||
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  ) {
    return null;
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  // Date.UTC reads years 0..99 as 1900..1999; a negative value is a non-digit.
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return null;
  let at = 19;
  let millis = 0;
  if (text.charCodeAt(at) === 46) {
    at++;
    let scale = 100;
    const start = at;
    while (at < length && at - start < 6) {
      const digit = text.charCodeAt(at) - 48;
      if (digit < 0 || digit > 9) break;
      millis += digit * scale;
      scale /= 10;
      at++;
    }
    if (at === start) return null;
    millis = Math.floor(millis);
  }
  const sign = text.charCodeAt(at);
  if (sign !== 43 && sign !== 45) return null;
  let offsetSeconds = digits(text, at + 1, 2) * 3600;
  at += 3;
  for (const unit of [60, 1]) {
    if (at === length) break;
    if (text.charCodeAt(at) !== 58) return null;
    const value = digits(text, at + 1, 2);
    if (value < 0) return null;
    offsetSeconds += value * unit;
    at += 3;
  }
  if (at !== length || offsetSeconds < 0) return null;
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return new Date(sign === 43 ? local - offsetSeconds * 1000 : local + offsetSeconds * 1000);
}

/** The decimal value of `count` digits at `at`, or -1 when one of them is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

// unpackTicketRow and toTicketRow read by position: refuse to load if they and the column list
// ever disagree.
{
  const positions = WINDOW_COLUMNS.map((_column, index) => index);
  const plain = toTicketRow(positions);
  const allNull = (1 << NULLABLE.length) - 1;
  const packed = [
    unpackTicketRow(['0', ...positions].join(SEPARATOR)),
    unpackTicketRow([String(allNull), ...positions].join(SEPARATOR)),
  ];
  WINDOW_COLUMNS.forEach(([, property, nullable], index) => {
    if ((plain[property] as unknown) !== index)
      throw new Error(`row-decoding: toTicketRow reads column ${index} as something else than ${property}`);
    if (property === 'orderDate' || property === 'createdAt') return;
    if (
      packed[0]?.[property] !== String(index) ||
      packed[1]?.[property] !== (nullable ? null : String(index))
    ) {
      throw new Error(
        `row-decoding: unpackTicketRow reads column ${index} as something else than ${property}`,
      );
    }
  });
}
