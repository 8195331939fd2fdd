/**
 * What each column of an xlsx file holds, compiled once per window: the value of a cell (text,
 * number or date), its number format, and how wide its text looks (for column widths).
 *
 * - Every "as is" field (bar codes, codes, numbers of files, contacts, ids) and every constant is
 *   a text cell with the text format `@`: a spreadsheet never turns `0001234567890123` into a
 *   number, and a user's edit of the cell stays text.
 * - PRICE is a number with the spec's decimals (rounded on the decimal text, as in CSV, then
 *   converted: a numeric(12,2) has at most 12 significant digits, which a double holds exactly).
 * - VALIDITY_DATE, ORDER_DATE and CREATED_AT are date cells. An Excel date has no time zone: it is
 *   the wall-clock time in the interface's time zone, which is what the CSV file prints.
 */

import { FormatError } from '../../errors';
import type { TicketRow } from '../../tickets';
import { guardFormula } from '../csv';
import { columnFormatPieces, ZoneOffsets, type DateColumnKind } from '../datetime';
import { formatDecimal } from '../decimal';
import { FIELDS } from '../fields';
import type { ColumnSpec, FormatSpec } from '../spec';
import { excelDateFormat, excelPriceFormat, TEXT_FORMAT } from './number-formats';

/** A cell's value as exceljs takes it: null leaves the cell empty. */
export type CellValue = string | number | Date | null;

export interface XlsxColumn {
  readonly header: string;
  /** Excel number format of the column's cells. */
  readonly numFmt: string;
  /** The cell of one row. Throws FormatError for an invalid date and time, like the CSV renderer. */
  readonly cell: (row: TicketRow) => CellValue;
  /** Characters the cell shows, for the column width. */
  readonly shownLength: (value: CellValue) => number;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function compileXlsxColumns(spec: FormatSpec, timeZone: string): XlsxColumn[] {
  return spec.columns.map((column) => compileColumn(column, spec, timeZone));
}

/**
 * Text as an xlsx cell can hold it. A lone surrogate cannot be written in UTF-8: it becomes
 * U+FFFD, as TextEncoder does for CSV. XML 1.0 cannot hold C0 control characters other than tab,
 * CR and LF, and exceljs drops them (and DEL); a CR reads back as LF (XML line-end handling).
 * OOXML's escape `_x000D_` would keep them for Excel, but LibreOffice shows it literally in these
 * cells, so the loss is documented instead (docs/resellers.md: the xlsx file).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function xmlText(value: string): string {
  return value.replace(LONE_SURROGATE, '\uFFFD');
}

const textLength = (value: CellValue) => (typeof value === 'string' ? value.length : 0);

function compileColumn(column: ColumnSpec, spec: FormatSpec, timeZone: string): XlsxColumn {
  if ('constant' in column) {
    const text = xmlText(spec.injectionGuard ? guardFormula(column.constant) : column.constant);
    return { header: column.header, numFmt: TEXT_FORMAT, cell: () => text, shownLength: textLength };
  }
  const name = column.field;
  const { kind, property, whenAbsent } = FIELDS[name];
  switch (kind) {
    case 'text': {
      const guard = spec.injectionGuard;
      const cell = (row: TicketRow): CellValue => {
        // A field a row does not carry (CHANGE of a new ticket) shows its documented default.
        const value = (row[property] as string | null | undefined) ?? whenAbsent ?? null;
        if (value == null || value === '') return null;
        return xmlText(guard ? guardFormula(value) : value);
      };
      return { header: column.header, numFmt: TEXT_FORMAT, cell, shownLength: textLength };
    }
    case 'price': {
      const decimals = spec.decimals;
      const cell = (row: TicketRow): CellValue => {
        const value = row[property] as string | null;
        if (value == null) return null;
        const rounded = formatDecimal(value, decimals, '.');
        const number = Number(rounded);
        // Text that is not a decimal (NaN) is written as it is, as in CSV.
        return Number.isFinite(number) && rounded !== '' ? number : xmlText(value);
      };
      const shownLength = (value: CellValue) =>
        typeof value === 'number' ? value.toFixed(decimals).length : textLength(value);
      return { header: column.header, numFmt: excelPriceFormat(decimals), cell, shownLength };
    }
    case 'date': {
      const cell = (row: TicketRow): CellValue => {
        const value = row[property] as string | Date | null;
        if (value == null) return null;
        // A Date is what node-postgres makes of a `date` column unless told not to: local midnight.
        if (value instanceof Date)
          return Number.isNaN(value.getTime())
            ? null
            : new Date(Date.UTC(value.getFullYear(), value.getMonth(), value.getDate()));
        const match = ISO_DATE.exec(value);
        // `infinity` or a BC date: no Excel date can hold it, so it stays the text PostgreSQL printed.
        if (match === null) return xmlText(value);
        return new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
      };
      return dateColumn(column.header, spec, kind, cell);
    }
    case 'datetime': {
      const zone = timeZone === 'UTC' || timeZone === 'Etc/UTC' ? null : new ZoneOffsets(timeZone);
      const cell = (row: TicketRow): CellValue => {
        const value = row[property] as unknown;
        // Only CHANGED_AT may be absent (a new ticket's row); the contract's others are checked at the source.
        if (value == null) return null;
        const ms = value instanceof Date ? value.getTime() : Number.NaN;
        if (!Number.isFinite(ms)) {
          throw new FormatError(
            `format: ticket ${row.id}, column ${name}: not a valid date and time; the whole window is refused`,
          );
        }
        // exceljs turns a Date into a serial number from its UTC fields: give it the wall-clock time.
        return new Date(zone === null ? ms : ms + zone.offsetAt(ms));
      };
      return dateColumn(column.header, spec, kind, cell);
    }
  }
}

/** A date column shows the spec's format as Excel's, as wide as that format prints; other cells as text. */
function dateColumn(
  header: string,
  spec: FormatSpec,
  kind: DateColumnKind,
  cell: (row: TicketRow) => CellValue,
): XlsxColumn {
  const shown = (kind === 'date' ? spec.dateFormat : spec.dateTimeFormat).length;
  return {
    header,
    numFmt: excelDateFormat(columnFormatPieces(spec, kind)),
    cell,
    shownLength: (value) => (value instanceof Date ? shown : textLength(value)),
  };
}
