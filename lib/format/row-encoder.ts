/**
 * Compiles a FormatSpec, once per window, into the function the renderer calls per row, so that no
 * option is looked at per row:
 * - a field that needs no quotes costs one regex test (or none, for formats that cannot produce
 *   a special character);
 * - for ISO-8859-1 and Windows-1252 a whole line is tested once for characters the encoding
 *   cannot hold, and only a line that has one is encoded again field by field (the careful
 *   path), applying the unmappable policy;
 * - every refusal is made by the careful path, so the first problem in column order is the one
 *   reported, naming the ticket id and the column (never the value: it may be a bar code).
 */

import { FormatError } from '../errors';
import type { TicketRow } from '../tickets';
import { formatCodePoint, getCharset, mapToCharset, type Charset } from './charset';
import { createQuoter, guardFormula, quote, specialCharacters, spreadsheetTextFormula } from './csv';
import { columnFormatPieces, createDateFormatter, createDateTimeFormatter } from './datetime';
import { createPriceFormatter } from './decimal';
import { FIELDS, type FieldKind } from './fields';
import type { ColumnSpec, FormatSpec } from './spec';

export interface CompiledFormat {
  readonly charset: Charset;
  /** `\n` or `\r\n`. */
  readonly lineEnding: string;
  /** The header line with its line ending, or null without a header. */
  readonly headerLine: string | null;
  /** One data line with its line ending, every character encodable. Throws FormatError under the "fail" and "none" policies. */
  encodeRow(row: TicketRow): string;
  /** The trailer line with its line ending, or null without a trailer. */
  trailerLine(
    rowCount: number,
    windowStart: Date,
    windowEnd: Date,
    part: number,
    sha256: string,
  ): string | null;
  /** Longest trailer line in bytes: reserved in every part so the trailer never pushes it past maxFileSize. */
  readonly trailerReserve: number;
}

/** Raw text of one column for one row: formatted, before the guard, the encoding and the quotes. */
type RawCell = (row: TicketRow) => string;

interface ColumnPlan {
  /** How errors name the column: the field name, or the header of a constant column. */
  readonly name: string;
  readonly kind: FieldKind | 'constant';
  /** The TicketRow property read, null for a constant column. */
  readonly property: keyof TicketRow | null;
  /** Turns the property's value into text (dates, prices); null to take text as it is. */
  readonly formatter: ((value: never) => string | null) | null;
  readonly raw: RawCell;
  /** Whether the injection guard applies: text that comes from the data, not numbers and dates. */
  readonly guard: boolean;
  /** Written as `="value"` (spec.spreadsheetText): a formula literal, so exempt from the guard. */
  readonly asFormulaText: boolean;
  /** False when the rendering can never hold a separator, quote, CR or LF. */
  readonly mayNeedQuotes: boolean;
  /** Finished text of a constant column (encoded, guarded, quoted): the same on every row. */
  readonly constant: string | null;
  /** Raw text when the value is null or absent (FieldDefinition.whenAbsent); null: a datetime that must be present. */
  readonly whenAbsent: string | null;
}

export function compileFormat(spec: FormatSpec, timeZone: string): CompiledFormat {
  const charset = getCharset(spec.encoding);
  const lineEnding = spec.lineEnding === 'CRLF' ? '\r\n' : '\n';
  const separator = spec.separator;
  const special = specialCharacters(separator);
  // Quoting "none" writes text as it is: what it cannot write is refused before it gets here.
  const quoter = spec.quoting === 'none' ? (text: string) => text : createQuoter(spec.quoting, separator);

  /** Text made ready for the file without any row context (headers, constants, trailer). */
  const finishStatic = (text: string, guard: boolean): string => {
    // parseFormatSpec refused headers and constants the "fail" policy would refuse: never happens.
    const mapped = mapToCharset(text, charset, spec.unmappable === 'fail' ? 'replace' : spec.unmappable);
    return quoter(guard && spec.injectionGuard ? guardFormula(mapped as string) : (mapped as string));
  };

  const formulaText = new Set(spec.spreadsheetText);
  const plans = spec.columns.map((column) => {
    const plan = planColumn(column, spec, timeZone, finishStatic);
    if (!formulaText.has(column.header)) return plan;
    const constant =
      'constant' in column
        ? quoter(
            spreadsheetTextFormula(
              mapToCharset(
                column.constant,
                charset,
                spec.unmappable === 'fail' ? 'replace' : spec.unmappable,
              ) as string,
            ),
          )
        : null;
    return { ...plan, asFormulaText: true, guard: false, mayNeedQuotes: true, constant };
  });
  const careful = carefulEncoder(plans, spec, charset, special, quoter, lineEnding);
  const encodeFast = compileFastEncoder(plans, spec, special, lineEnding, careful);
  const unmappable = charset.unmappable;
  const encodeRow =
    unmappable === null
      ? encodeFast
      : (row: TicketRow) => {
          const line = encodeFast(row);
          return unmappable.test(line) ? careful(row) : line;
        };

  const headerLine = spec.header
    ? spec.columns.map((c) => finishStatic(c.header, true)).join(separator) + lineEnding
    : null;

  const trailer = spec.trailer;
  const trailerLine = (
    rowCount: number,
    windowStart: Date,
    windowEnd: Date,
    part: number,
    sha256: string,
  ): string | null => {
    if (trailer === null) return null;
    const fields = [
      trailer.label,
      String(rowCount),
      windowStart.toISOString(),
      windowEnd.toISOString(),
      String(part),
      sha256,
    ];
    return fields.map((f) => finishStatic(f, false)).join(separator) + lineEnding;
  };
  const longest = trailerLine(
    1e15,
    new Date(Date.UTC(9999, 0)),
    new Date(Date.UTC(9999, 0)),
    1e6,
    '0'.repeat(64),
  );

  return {
    charset,
    lineEnding,
    headerLine,
    encodeRow,
    trailerLine,
    trailerReserve: longest === null ? 0 : charset.byteLength(longest),
  };
}

function planColumn(
  column: ColumnSpec,
  spec: FormatSpec,
  timeZone: string,
  finishStatic: (text: string, guard: boolean) => string,
): ColumnPlan {
  if ('constant' in column) {
    const value = column.constant;
    const constant = finishStatic(value, true);
    return {
      name: column.header,
      kind: 'constant',
      property: null,
      formatter: null,
      raw: () => value,
      guard: true,
      asFormulaText: false,
      mayNeedQuotes: true,
      constant,
      whenAbsent: null,
    };
  }
  const name = column.field;
  const { kind, property, whenAbsent } = FIELDS[name];
  const absent = whenAbsent ?? (kind === 'datetime' ? null : '');
  const plan = { name, kind, property, constant: null, asFormulaText: false, whenAbsent: absent };
  switch (kind) {
    case 'text': {
      const raw: RawCell = (row) => {
        const value = row[property] as string | null | undefined;
        return value == null ? (absent as string) : value;
      };
      return { ...plan, formatter: null, raw, guard: true, mayNeedQuotes: true };
    }
    case 'date': {
      const format = createDateFormatter(columnFormatPieces(spec, 'date'));
      const raw: RawCell = (row) => {
        const value = row[property] as string | null;
        return value == null ? '' : format(value);
      };
      // Text PostgreSQL did not print as YYYY-MM-DD passes through as is, so it may need quotes.
      return { ...plan, formatter: format, raw, guard: false, mayNeedQuotes: true };
    }
    case 'datetime': {
      const format = createDateTimeFormatter(columnFormatPieces(spec, 'datetime'), timeZone);
      const raw: RawCell = (row) => {
        const value = row[property] as Date | null | undefined;
        if (value == null && absent !== null) return absent;
        return format(value as Date) ?? refuseTime(row, name);
      };
      const mayNeedQuotes = specialCharacters(spec.separator).test(spec.dateTimeFormat);
      return { ...plan, formatter: format, raw, guard: false, mayNeedQuotes };
    }
    case 'price': {
      const format = createPriceFormatter(spec.decimals, spec.decimalSeparator);
      const raw: RawCell = (row) => {
        const value = row[property] as string | null;
        return value == null ? '' : format(value);
      };
      // Not "false": text that is not a decimal (NaN) passes through as is.
      return { ...plan, formatter: format, raw, guard: false, mayNeedQuotes: true };
    }
  }
}

function refuseTime(row: TicketRow, name: string): never {
  throw new FormatError(
    `format: ticket ${row.id}, column ${name}: not a valid date and time; the whole window is refused`,
  );
}

function refuseUnquoted(row: TicketRow, name: string, value: string, special: RegExp): never {
  const char = special.exec(value)![0];
  const what =
    char === '"' ? 'a quote' : char === '\r' ? 'a CR' : char === '\n' ? 'a line feed' : 'the separator';
  throw new FormatError(
    `format: ticket ${row.id}, column ${name}: the value holds ${what} (${formatCodePoint(char.charCodeAt(0))}), which quoting "none" cannot write; the whole window is refused`,
  );
}

/**
 * The fast path, generated as the source of one function with every column inlined: named
 * property reads the engine can optimise, no call per option, one concatenation per line (a
 * closure per column measured 1.5 times slower on the default format). Only fixed text goes into
 * the source: property names from FIELDS and JSON-quoted separators and column names; everything
 * that comes from the spec (constants, formatters) is passed in as an argument.
 */
function compileFastEncoder(
  plans: readonly ColumnPlan[],
  spec: FormatSpec,
  special: RegExp,
  lineEnding: string,
  careful: (row: TicketRow) => string,
): (row: TicketRow) => string {
  // A value quoting "none" cannot write: let the careful path find the first problem of the row.
  const refuse = (row: TicketRow, name: string, value: string): never => {
    careful(row);
    return refuseUnquoted(row, name, value, special);
  };
  const names = ['S', 'Q', 'G', 'R', 'T', 'X'];
  const values: unknown[] = [special, quote, guardFormula, refuse, refuseTime, spreadsheetTextFormula];
  const body: string[] = [];
  const cells: string[] = [];
  plans.forEach((plan, i) => {
    if (plan.constant !== null) {
      names.push(`C${i}`);
      values.push(plan.constant);
      cells.push(`C${i}`);
      return;
    }
    const read = `r[${JSON.stringify(plan.property)}]`;
    const name = JSON.stringify(plan.name);
    const finish: string[] = [];
    if (plan.guard && spec.injectionGuard) finish.push('w = G(w);');
    if (plan.asFormulaText) finish.push('w = X(w);');
    switch (spec.quoting) {
      case 'all':
        finish.push('w = Q(w);');
        break;
      case 'minimal':
        // createQuoter('minimal'), inlined.
        if (plan.mayNeedQuotes) finish.push('if (S.test(w)) w = Q(w);');
        break;
      case 'none':
        finish.push(`if (S.test(w)) R(r, ${name}, w);`);
        break;
    }
    if (plan.formatter !== null) {
      names.push(`F${i}`);
      values.push(plan.formatter);
    }
    if (plan.kind === 'datetime') {
      // The formatter keeps its own last value; an invalid time is refused, an absent one only
      // where the field may be absent (CHANGED_AT of a NEW row).
      const read2 =
        plan.whenAbsent === null
          ? `F${i}(${read})`
          : `(${read} == null ? ${JSON.stringify(plan.whenAbsent)} : F${i}(${read}))`;
      body.push(
        `let v${i}; { let w = ${read2}; if (w === null) T(r, ${name}); ${finish.join(' ')} v${i} = w; }`,
      );
      cells.push(`v${i}`);
      return;
    }
    const format = plan.formatter === null ? 'x' : `F${i}(x)`;
    body.push(
      `let v${i}; { const x = ${read}; let w = x == null ? ${JSON.stringify(plan.whenAbsent ?? '')} : ${format}; ${finish.join(' ')} v${i} = w; }`,
    );
    cells.push(`v${i}`);
  });
  const line = `${cells.join(` + ${JSON.stringify(spec.separator)} + `)} + ${JSON.stringify(lineEnding)}`;
  const source = `"use strict";\nreturn function encodeRow(r) {\n  ${body.join('\n  ')}\n  return ${line};\n};`;
  return new Function(...names, source)(...values) as (row: TicketRow) => string;
}

/** The slow path for a line holding a character the encoding cannot hold: map each field, then guard and quote it. */
function carefulEncoder(
  plans: readonly ColumnPlan[],
  spec: FormatSpec,
  charset: Charset,
  special: RegExp,
  quoter: (value: string) => string,
  lineEnding: string,
): (row: TicketRow) => string {
  return (row) => {
    let line = '';
    plans.forEach((plan, i) => {
      if (i > 0) line += spec.separator;
      if (plan.constant !== null) {
        line += plan.constant;
        return;
      }
      const mapped = mapToCharset(plan.raw(row), charset, spec.unmappable);
      if (typeof mapped !== 'string') {
        throw new FormatError(
          `format: ticket ${row.id}, column ${plan.name}: character ${formatCodePoint(mapped.codePoint)} cannot be encoded in ${spec.encoding} (unmappable is "fail"); the whole window is refused`,
        );
      }
      const guarded = plan.guard && spec.injectionGuard ? guardFormula(mapped) : mapped;
      const value = plan.asFormulaText ? spreadsheetTextFormula(guarded) : guarded;
      if (spec.quoting === 'none' && special.test(value)) refuseUnquoted(row, plan.name, value, special);
      line += quoter(value);
    });
    return line + lineEnding;
  };
}
