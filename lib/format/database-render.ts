/**
 * Letting PostgreSQL write the lines of a file (DESIGN.md, "Let the database work"): for a spec the
 * database can render exactly as the JavaScript renderer does, the window query returns each
 * ticket's finished line (fields formatted with to_char/round, quoted, joined, line ending
 * included), so the exporter only frames the bytes into parts. The JavaScript renderer
 * (row-encoder.ts) stays the reference: test/database-render.test.ts renders windows both ways
 * over the option matrix and compares the bytes.
 *
 * Two questions, answered here and nowhere else:
 * - databaseRenderRefusal: can this spec, in this time zone, be rendered by the database? Anything
 *   not proven identical says no (encodings with a policy for unmappable characters, the
 *   injection guard, quoting "none" and its refusals, time zones outside a tested list);
 * - lineSql: the SQL expression of one line, given the SQL of each ticket field.
 */

import pg from 'pg';
import type { TicketRow } from '../tickets';
import { guardFormula } from './csv';
import { columnFormatPieces, tokenizeColumnFormat, type DateColumnKind, type DateToken } from './datetime';
import { FIELDS } from './fields';
import { parseFormatSpec } from './parse';
import type { FormatSpec } from './spec';

/**
 * Time zones the same-bytes test renders across their daylight saving changes both ways. IANA
 * zones are converted by the runtime's ICU in JavaScript and by the server's tz database in SQL:
 * two copies of the rules that agree on these zones for the times a ticket can have (1900 on,
 * see DATABASE_RENDERED_TIMES) and may not on a zone whose rules changed recently.
 */
export const DATABASE_RENDERED_TIME_ZONES: ReadonlySet<string> = new Set([
  'UTC',
  'Etc/UTC',
  'GMT',
  'Etc/GMT',
  'Europe/Zurich',
  'Europe/Paris',
  'Europe/Berlin',
  'Europe/London',
  'America/New_York',
  'Australia/Sydney',
]);

/**
 * Instants both renderers write alike (in every zone above): before 1900 zones used local mean
 * time, which ICU and the tz database round differently; after 9999 the year has five digits.
 * Rows outside are flagged by the query and the window falls back to the JavaScript renderer.
 */
export const DATABASE_RENDERED_TIMES = {
  from: '1900-01-02 00:00:00+00',
  to: '9999-12-30 00:00:00+00',
} as const;

/** Why the database cannot render this spec (the JavaScript renderer will), or null when it can. */
export function databaseRenderRefusal(spec: FormatSpec, timeZone: string): string | null {
  // A spec cast from stored JSON or made by hand: the JavaScript renderer refuses it with the reason.
  try {
    spec = parseFormatSpec(spec);
  } catch {
    return 'an invalid specification';
  }
  // Only CSV is lines; its spreadsheet-text wrapping is the JavaScript renderer's alone.
  if (spec.type !== 'csv') return `file type ${spec.type}`;
  if (spec.spreadsheetText.length > 0) return 'spreadsheetText';
  if (spec.encoding !== 'utf-8' && spec.encoding !== 'utf-8-bom')
    return `encoding ${spec.encoding} (unmappable characters need the JavaScript policy)`;
  if (spec.injectionGuard) return 'the injection guard';
  if (spec.quoting === 'none') return 'quoting "none" (its refusals name the character)';
  if (!DATABASE_RENDERED_TIME_ZONES.has(timeZone))
    return `time zone ${timeZone} (not in the list proven to convert alike)`;
  for (const column of spec.columns) {
    // Constants go into the query as finished text: nothing for the database to get wrong.
    if ('constant' in column) continue;
    const kind = FIELDS[column.field].kind;
    if (kind === 'date' && 'error' in tokenizeColumnFormat(spec, kind))
      return `dateFormat ${spec.dateFormat}`;
    if (kind === 'datetime' && 'error' in tokenizeColumnFormat(spec, kind))
      return `dateTimeFormat ${spec.dateTimeFormat}`;
  }
  return null;
}

/**
 * The SQL of one window row's field, by TicketRow property, as the source's window query names it
 * (e.g. `t.bar_code`); null for a property the query does not have (state-change fields of a
 * window without state changes: rendered as the constants a NEW row shows).
 */
type FieldSql = (property: keyof TicketRow) => string | null;

/**
 * The SQL expression of one finished line of `spec`, line ending included, as text. Valid rows
 * only: the caller flags rows that break the contract (see the source's copy-window.ts) and never
 * writes their line. Assumes `databaseRenderRefusal(spec, timeZone)` is null.
 */
export function lineSql(spec: FormatSpec, timeZone: string, fieldSql: FieldSql): string {
  const separator = spec.separator;
  const cells = spec.columns.map((column): Cell => {
    if ('constant' in column) return fixed(literal(finishedConstant(column.constant, spec)));
    const { kind, property, whenAbsent } = FIELDS[column.field];
    const source = fieldSql(property);
    if (source === null) return fixed(literal(quoteStatic(whenAbsent ?? '', spec)));
    switch (kind) {
      case 'text':
        // A state is one of TICKET_STATES (other rows are refused before their line is written): no quotes.
        return quoteCell(`coalesce(${source}, '')`, spec, property === 'state' ? false : 'test');
      case 'date':
        return quoteCell(
          `coalesce(to_char((${source})::date, ${literal(toCharFormat(spec, 'date'))}), '')`,
          spec,
          formatNeedsQuotes(spec.dateFormat, separator),
        );
      case 'datetime':
        return quoteCell(
          `to_char((${source}) AT TIME ZONE ${literal(timeZone)}, ${literal(toCharFormat(spec, 'datetime'))})`,
          spec,
          formatNeedsQuotes(spec.dateTimeFormat, separator),
        );
      case 'price': {
        // round() on numeric rounds half away from zero on the decimal digits, as decimal.ts does.
        const rounded = `round((${source})::numeric, ${spec.decimals})::text`;
        const text =
          spec.decimalSeparator === '.'
            ? rounded
            : `replace(${rounded}, '.', ${literal(spec.decimalSeparator)})`;
        return quoteCell(text, spec, spec.decimals > 0 && spec.decimalSeparator === separator);
      }
    }
  });
  const lineEnding = spec.lineEnding === 'CRLF' ? '\r\n' : '\n';
  const join = (parts: string[]) =>
    `${parts.join(` || ${literal(separator)} || `)} || ${literal(lineEnding)}`;
  const tested = cells.filter((cell) => cell.tested !== null).map((cell) => cell.tested!);
  if (tested.length === 0) return join(cells.map((cell) => cell.plain));
  // Almost no row needs quotes: one test of all its data text decides, so a plain row costs one
  // regular expression instead of one per column; a row that needs some quotes tests each field.
  const anySpecial = `(${tested.join(' || ')}) ~ ${literal(specialClass(separator))}`;
  return `CASE WHEN ${anySpecial} THEN ${join(cells.map((cell) => cell.careful))} ELSE ${join(cells.map((cell) => cell.plain))} END`;
}

/** One column of a line: its SQL when the row needs no quotes at all, when it may, and the text to test (null: decided statically). */
interface Cell {
  readonly plain: string;
  readonly careful: string;
  readonly tested: string | null;
}

function fixed(sql: string): Cell {
  return { plain: sql, careful: sql, tested: null };
}

/**
 * Quotes one cell as csv.ts does: `all` always; `minimal` when the value holds the separator, a
 * quote, CR or LF. `needs`: true/false when known from the format alone (dates, prices), `test`
 * to decide per value (text from the data).
 */
function quoteCell(cell: string, spec: FormatSpec, needs: boolean | 'test'): Cell {
  const quoted = `'"' || replace(${cell}, '"', '""') || '"'`;
  if (spec.quoting === 'all' || needs === true) return fixed(quoted);
  if (needs === false) return fixed(cell);
  return {
    plain: cell,
    careful: `CASE WHEN ${cell} ~ ${literal(specialClass(spec.separator))} THEN ${quoted} ELSE ${cell} END`,
    tested: cell,
  };
}

/** The regular expression of csv.ts's specialCharacters, for PostgreSQL. */
function specialClass(separator: string): string {
  return `[${separator}"\r\n]`;
}

/** A constant's finished text, as compileFormat's finishStatic makes it (UTF-8: no mapping; no guard). */
function finishedConstant(value: string, spec: FormatSpec): string {
  return quoteStatic(spec.injectionGuard ? guardFormula(value) : value, spec);
}

function quoteStatic(value: string, spec: FormatSpec): string {
  const needs = spec.quoting === 'all' || /["\r\n]/.test(value) || value.includes(spec.separator);
  return needs ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Whether a valid date format's output holds a character that forces quotes. */
function formatNeedsQuotes(format: string, separator: string): boolean {
  return format.includes(separator) || /["\r\n]/.test(format);
}

/** to_char patterns of the tokens (datetime.ts): zero-padded, 24-hour clock, milliseconds truncated. */
const TO_CHAR_PATTERNS: Readonly<Record<DateToken, string>> = {
  YYYY: 'YYYY',
  YY: 'YY',
  MM: 'MM',
  DD: 'DD',
  HH: 'HH24',
  mm: 'MI',
  ss: 'SS',
  SSS: 'MS',
};

/** A to_char format of the spec's `kind` format; literals in double quotes, so `T` or `Z` can never be read as a pattern (`TZ` is one). */
function toCharFormat(spec: FormatSpec, kind: DateColumnKind): string {
  return columnFormatPieces(spec, kind)
    .map((piece) => ('token' in piece ? TO_CHAR_PATTERNS[piece.token] : `"${piece.literal}"`))
    .join('');
}

/** A string literal for the query text; standard_conforming_strings is on (PostgreSQL's default since 9.1), and escapeLiteral handles either. */
function literal(value: string): string {
  return pg.escapeLiteral(value);
}
