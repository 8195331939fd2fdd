import { DEFAULT_COLUMNS } from '../tickets';
import type { FieldName } from './fields';

/**
 * The validated, normalised format specification of an interface. Every field is present (defaults
 * filled in by parseFormatSpec), so the object is stored as JSON with the interface and read back
 * with parseFormatSpec unchanged. The defaults render CONTRACT.md §3 exactly.
 */
export interface FormatSpec {
  /** Shape version of this object, so a later change can migrate stored specs. */
  readonly version: 1;
  /** `csv`: a delimited text file (every field below applies); `xlsx`: an Excel workbook, see lib/format/xlsx/. */
  readonly type: Choice<'type'>;
  /** The file's columns, in order: ticket fields (optionally renamed) and constant columns. */
  readonly columns: readonly ColumnSpec[];
  /** Field separator. */
  readonly separator: Choice<'separator'>;
  /** Whether the file starts with a line of column headers. */
  readonly header: boolean;
  /** `minimal`: RFC 4180, only fields that need it; `all`: every field; `none`: never, and refuse values that would break the line. */
  readonly quoting: Choice<'quoting'>;
  /** Line ending of every line, the last one included. */
  readonly lineEnding: Choice<'lineEnding'>;
  /** Character encoding of the file. */
  readonly encoding: Choice<'encoding'>;
  /** What to do with a character the encoding cannot hold (ignored for UTF-8). */
  readonly unmappable: Choice<'unmappable'>;
  /** Rendering of VALIDITY_DATE, tokens YYYY YY MM DD. */
  readonly dateFormat: string;
  /** Rendering of ORDER_DATE and CREATED_AT in the interface's time zone, tokens YYYY YY MM DD HH mm ss SSS. */
  readonly dateTimeFormat: string;
  /** Decimal separator of PRICE. */
  readonly decimalSeparator: Choice<'decimalSeparator'>;
  /** Number of decimals of PRICE (0 to 4), rounded half away from zero. */
  readonly decimals: number;
  /** File name template, placeholders {interface} {start} {end} {date} {part} {parts}; must end with an extension such as `.csv`. */
  readonly fileName: string;
  /** Compression of each file: `gzip` appends `.gz`, `zip` puts the file in a `.zip` of its own. */
  readonly compression: Choice<'compression'>;
  /** Maximum size in bytes of one file before compression; a larger window is split into parts. */
  readonly maxFileSize: number;
  /** `skip`: a window without tickets sends nothing; `header-only`: it sends a file with no rows. */
  readonly emptyWindow: Choice<'emptyWindow'>;
  /** When set, each file ends with a trailer line (label, row count, window, part, SHA-256 of the rows). */
  readonly trailer: TrailerSpec | null;
  /** Prefix `'` to values starting with = + - @ tab or CR, so spreadsheets never run them as formulas. */
  readonly injectionGuard: boolean;
  /**
   * CSV only: headers of the columns written as spreadsheet text formulas (`="0123"`), so a
   * spreadsheet keeps them as text instead of turning them into numbers. Breaks plain importers.
   */
  readonly spreadsheetText: readonly string[];
  /** xlsx only (null for CSV): data rows per file; a larger window is split into parts. */
  readonly maxRowsPerFile: number | null;
}

/** A column showing a ticket field, under a header (the field's name unless renamed). */
export interface FieldColumnSpec {
  readonly field: FieldName;
  readonly header: string;
}

/** A column with the same value on every row. */
export interface ConstantColumnSpec {
  readonly constant: string;
  readonly header: string;
}

export type ColumnSpec = FieldColumnSpec | ConstantColumnSpec;

export interface TrailerSpec {
  /** First field of the trailer line, telling it apart from the data rows. */
  readonly label: string;
}

/** The values each enumerated option of a FormatSpec may take (parseFormatSpec accepts no other). */
export const SPEC_CHOICES = {
  type: ['csv', 'xlsx'],
  separator: [';', ',', '\t', '|'],
  quoting: ['minimal', 'all', 'none'],
  lineEnding: ['LF', 'CRLF'],
  encoding: ['utf-8', 'utf-8-bom', 'iso-8859-1', 'windows-1252'],
  unmappable: ['fail', 'replace', 'transliterate'],
  decimalSeparator: ['.', ','],
  compression: ['none', 'gzip', 'zip'],
  emptyWindow: ['skip', 'header-only'],
} as const;

/** One value of the enumerated option `K`. */
type Choice<K extends keyof typeof SPEC_CHOICES> = (typeof SPEC_CHOICES)[K][number];

/** Bounds of the validated values, in one place. */
export const LIMITS = {
  maxColumns: 64,
  maxHeaderLength: 100,
  maxConstantLength: 1000,
  maxDecimals: 4,
  maxFormatLength: 40,
  maxFileNameTemplateLength: 200,
  /**
   * A part must always have room for its header and trailer plus rows; 64 KiB is far above the
   * largest header the other limits allow.
   */
  minFileSize: 64 * 1024,
  /** Files are attachments: beyond this no mail server would take them anyway. */
  maxFileSize: 256 * 1024 * 1024,
  maxTrailerLabelLength: 32,
  minRowsPerFile: 1000,
  /** Excel's own limit is 1,048,576 rows per sheet, the header included. */
  maxRowsPerFile: 1_000_000,
} as const;

/**
 * 5 MiB before compression: base64 makes it about 6.8 MB, well under the 10 to 25 MB limits of
 * common SMTP servers, with room for the rest of the message.
 */
export const DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024;

export const DEFAULT_FILE_NAME_TEMPLATE = 'barcodes_{interface}_{start}_{end}.csv';

export const DEFAULT_XLSX_FILE_NAME_TEMPLATE = 'barcodes_{interface}_{start}_{end}.xlsx';

/**
 * Rows per xlsx file: the benchmark's default rows take about 75 bytes each once zipped (bar codes
 * barely compress), so 50,000 rows make a file of about 3.6 MiB, under the 5 MiB CSV default
 * (about 6.8 MB in base64), with room for longer names.
 */
export const DEFAULT_XLSX_MAX_ROWS_PER_FILE = 50_000;

export const DEFAULT_TRAILER_LABEL = 'TRAILER';

/** Specs are shared between windows and callers: frozen, so none can change another's. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** CONTRACT.md §3: the SecuTix file. Every default of the specification lives here. */
export const DEFAULT_FORMAT_SPEC: FormatSpec = deepFreeze({
  version: 1,
  type: 'csv',
  columns: DEFAULT_COLUMNS.map((field) => ({ field, header: field })),
  separator: ';',
  header: true,
  quoting: 'minimal',
  lineEnding: 'LF',
  encoding: 'utf-8',
  unmappable: 'fail',
  dateFormat: 'YYYY-MM-DD',
  dateTimeFormat: 'YYYY-MM-DD HH:mm:ss',
  decimalSeparator: '.',
  decimals: 2,
  fileName: DEFAULT_FILE_NAME_TEMPLATE,
  compression: 'none',
  maxFileSize: DEFAULT_MAX_FILE_SIZE,
  emptyWindow: 'skip',
  trailer: null,
  injectionGuard: false,
  spreadsheetText: [],
  maxRowsPerFile: null,
});
