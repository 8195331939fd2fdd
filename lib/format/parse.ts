/**
 * parseFormatSpec: the only way a FormatSpec is made. Shape and types are checked with zod; the
 * rules that span fields (quoting "none" against the separator, headers the encoding cannot hold,
 * file name templates) right after, so that a spec that parses can render any window: the only
 * failures left at render time are the two the user chose, the encoding's "fail" policy and
 * quoting "none" meeting a value it cannot write.
 */

import { z } from 'zod';
import { InputError } from '../errors';
import { formatCodePoint, getCharset, mapToCharset } from './charset';
import { tokenizeColumnFormat } from './datetime';
import { FIELD_NAMES, type FieldName } from './fields';
import { parseFileNameTemplate } from './filename';
import {
  DEFAULT_FORMAT_SPEC,
  DEFAULT_TRAILER_LABEL,
  DEFAULT_XLSX_FILE_NAME_TEMPLATE,
  DEFAULT_XLSX_MAX_ROWS_PER_FILE,
  deepFreeze,
  LIMITS,
  SPEC_CHOICES,
  type ColumnSpec,
  type FormatSpec,
} from './spec';

/** Spelling variants accepted on input and stored in their canonical form. */
const ENCODING_ALIASES: Readonly<Record<string, string>> = {
  utf8: 'utf-8',
  'utf8-bom': 'utf-8-bom',
  latin1: 'iso-8859-1',
  'latin-1': 'iso-8859-1',
  'iso8859-1': 'iso-8859-1',
  cp1252: 'windows-1252',
};

const lowerCase = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value);

const columnInput = z.preprocess(
  (value) => (typeof value === 'string' ? { field: value } : value),
  z.strictObject({
    field: z.enum(FIELD_NAMES).optional(),
    constant: z.string().max(LIMITS.maxConstantLength).optional(),
    header: z.string().min(1).max(LIMITS.maxHeaderLength).optional(),
  }),
);

/** Sizes as a number of bytes or a string such as `5MiB`, `500 KB`. */
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB)?\s*$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 * 1024 };

const sizeInput = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const match = SIZE.exec(value);
  if (match === null) return value;
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]!);
}, z.number().int().min(LIMITS.minFileSize).max(LIMITS.maxFileSize));

const specInput = z.strictObject({
  version: z.literal(1).optional(),
  type: z.preprocess(lowerCase, z.enum(SPEC_CHOICES.type)).optional(),
  columns: z.array(columnInput).min(1).max(LIMITS.maxColumns).optional(),
  // "\\t" is how a tab often ends up in a hand-written JSON file.
  separator: z
    .preprocess((v) => (v === 'tab' || v === '\\t' ? '\t' : v), z.enum(SPEC_CHOICES.separator))
    .optional(),
  header: z.boolean().optional(),
  quoting: z.preprocess(lowerCase, z.enum(SPEC_CHOICES.quoting)).optional(),
  lineEnding: z
    .preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(SPEC_CHOICES.lineEnding))
    .optional(),
  encoding: z
    .preprocess(
      (v) => (typeof v === 'string' ? (ENCODING_ALIASES[v.toLowerCase()] ?? v.toLowerCase()) : v),
      z.enum(SPEC_CHOICES.encoding),
    )
    .optional(),
  unmappable: z.preprocess(lowerCase, z.enum(SPEC_CHOICES.unmappable)).optional(),
  dateFormat: z.string().min(1).max(LIMITS.maxFormatLength).optional(),
  dateTimeFormat: z.string().min(1).max(LIMITS.maxFormatLength).optional(),
  decimalSeparator: z.enum(SPEC_CHOICES.decimalSeparator).optional(),
  decimals: z.number().int().min(0).max(LIMITS.maxDecimals).optional(),
  fileName: z.string().min(1).max(LIMITS.maxFileNameTemplateLength).optional(),
  compression: z.preprocess(lowerCase, z.enum(SPEC_CHOICES.compression)).optional(),
  maxFileSize: sizeInput.optional(),
  emptyWindow: z.preprocess(lowerCase, z.enum(SPEC_CHOICES.emptyWindow)).optional(),
  trailer: z
    .union([
      z.boolean(),
      z.null(),
      z.strictObject({ label: z.string().min(1).max(LIMITS.maxTrailerLabelLength).optional() }),
    ])
    .optional(),
  injectionGuard: z.boolean().optional(),
  spreadsheetText: z.array(z.string().min(1).max(LIMITS.maxHeaderLength)).max(LIMITS.maxColumns).optional(),
  maxRowsPerFile: z
    .union([z.null(), z.number().int().min(LIMITS.minRowsPerFile).max(LIMITS.maxRowsPerFile)])
    .optional(),
});

type SpecInput = z.infer<typeof specInput>;

/**
 * Validates and normalises a format specification (a parsed JSON object; null or undefined mean
 * the default). Throws InputError with a one-line message naming the field and the bad value:
 * `format: separator must be one of ";", ",", "\t", "|" (got ":")`.
 */
export function parseFormatSpec(input: unknown): FormatSpec {
  if (input === undefined || input === null) return DEFAULT_FORMAT_SPEC;
  const result = specInput.safeParse(input, { reportInput: true });
  if (!result.success) {
    const [first, ...others] = result.error.issues;
    const more =
      others.length > 0 ? ` (and ${others.length} more problem${others.length > 1 ? 's' : ''})` : '';
    throw new InputError(`format: ${describeIssue(first!, input)}${more}`, { cause: result.error });
  }
  return deepFreeze(normalise(result.data));
}

type Path = readonly PropertyKey[];

function formatPath(path: Path): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** A value as the user wrote it, on one line and not too long. */
function showValue(value: unknown): string {
  let text: string;
  if (value === undefined) return 'nothing';
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'an object',
  array: 'an array',
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
};

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where = formatPath(columnPath(issue.path, input));
  const subject = where || 'the format';
  const got = ` (got ${showValue(issue.input)})`;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `${subject} is missing`;
      return `${subject} must be ${TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`}${got}`;
    case 'invalid_value':
      return `${subject} must be ${issue.values.length === 1 ? showValue(issue.values[0]) : `one of ${issue.values.map(showValue).join(', ')}`}${got}`;
    case 'too_small':
      return `${subject} must ${describeBound(issue.origin, 'at least', issue.minimum)}${got}`;
    case 'too_big':
      return `${subject} must ${describeBound(issue.origin, 'at most', issue.maximum)}${got}`;
    case 'unrecognized_keys':
      return where
        ? `${where} has an unknown field ${showValue(issue.keys[0])}`
        : `unknown field ${showValue(issue.keys[0])}`;
    case 'invalid_union':
      return `${subject} must be true, false, null or an object such as {"label": "TRAILER"}${got}`;
    default:
      return `${subject} ${issue.message}${got}`;
  }
}

/** A column written as a plain string (`"PRICE"`) is reported as `columns[3]`, not `columns[3].field`. */
function columnPath(path: Path, input: unknown): Path {
  if (path.length === 3 && path[0] === 'columns' && path[2] === 'field' && typeof path[1] === 'number') {
    const columns = (input as { columns?: unknown }).columns;
    if (Array.isArray(columns) && typeof columns[path[1]] === 'string') return path.slice(0, 2);
  }
  return path;
}

function describeBound(origin: string, relation: string, bound: number | bigint): string {
  switch (origin) {
    case 'string':
      return Number(bound) === 1 && relation === 'at least'
        ? 'not be empty'
        : `be ${relation} ${bound} characters long`;
    case 'array':
      return `have ${relation} ${bound} item${Number(bound) === 1 ? '' : 's'}`;
    default:
      return `be ${relation} ${bound}`;
  }
}

/** Refuses a spec that is well-typed but cannot work, naming the field and value. */
function refuse(path: Path, message: string, value?: unknown): never {
  const got = value === undefined ? '' : ` (got ${showValue(value)})`;
  throw new InputError(`format: ${formatPath(path)} ${message}${got}`);
}

/** C0 controls, DEL and C1 controls: invisible in a header, and CR/LF would break the line. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function normalise(input: SpecInput): FormatSpec {
  const d = DEFAULT_FORMAT_SPEC;
  const type = input.type ?? d.type;
  const xlsx = type === 'xlsx';
  const columns =
    input.columns === undefined ? d.columns : input.columns.map((column, i) => normaliseColumn(column, i));
  const spec: FormatSpec = {
    version: 1,
    type,
    columns,
    separator: input.separator ?? d.separator,
    header: input.header ?? d.header,
    quoting: input.quoting ?? d.quoting,
    lineEnding: input.lineEnding ?? d.lineEnding,
    encoding: input.encoding ?? d.encoding,
    unmappable: input.unmappable ?? d.unmappable,
    dateFormat: input.dateFormat ?? d.dateFormat,
    dateTimeFormat: input.dateTimeFormat ?? d.dateTimeFormat,
    decimalSeparator: input.decimalSeparator ?? d.decimalSeparator,
    decimals: input.decimals ?? d.decimals,
    fileName: input.fileName ?? (xlsx ? DEFAULT_XLSX_FILE_NAME_TEMPLATE : d.fileName),
    compression: input.compression ?? d.compression,
    maxFileSize: input.maxFileSize ?? d.maxFileSize,
    emptyWindow: input.emptyWindow ?? d.emptyWindow,
    trailer:
      input.trailer === undefined || input.trailer === null || input.trailer === false
        ? null
        : {
            label:
              input.trailer === true ? DEFAULT_TRAILER_LABEL : (input.trailer.label ?? DEFAULT_TRAILER_LABEL),
          },
    injectionGuard: input.injectionGuard ?? d.injectionGuard,
    spreadsheetText: normaliseSpreadsheetText(input.spreadsheetText, columns),
    maxRowsPerFile: xlsx
      ? (input.maxRowsPerFile ?? DEFAULT_XLSX_MAX_ROWS_PER_FILE)
      : (input.maxRowsPerFile ?? null),
  };
  if (xlsx) checkXlsx(spec);
  else checkCsv(spec);
  checkColumns(spec);
  checkFormats(spec);
  checkFileName(spec);
  if (spec.trailer !== null && !TRAILER_LABEL.test(spec.trailer.label)) {
    refuse(
      ['trailer', 'label'],
      'must start with a letter or "#" and hold only letters, digits, "_", "-" and "#"',
      spec.trailer.label,
    );
  }
  return spec;
}

const TRAILER_LABEL = /^[A-Za-z#][A-Za-z0-9_#-]*$/;

/**
 * spreadsheetText names columns by header or by field (`"BAR_CODE"` still finds a renamed bar
 * code column); stored as the headers, in column order, each once.
 */
function normaliseSpreadsheetText(
  names: readonly string[] | undefined,
  columns: readonly ColumnSpec[],
): string[] {
  if (names === undefined) return [];
  const chosen = new Set<string>();
  names.forEach((name, i) => {
    const matches = columns.filter((c) => c.header === name || ('field' in c && c.field === name));
    if (matches.length === 0)
      refuse(['spreadsheetText', i], 'names no column of the file (a header or a field of "columns")', name);
    for (const column of matches) chosen.add(column.header);
  });
  return columns.map((c) => c.header).filter((header) => chosen.has(header));
}

/**
 * The CSV-only fields an xlsx file has no use for: a workbook is zipped XML in UTF-8, its cells
 * carry their own types, so a value other than the default would be silently ignored. Refusing it
 * tells the user at once. The defaults are accepted, so a stored spec reads back unchanged.
 */
const CSV_ONLY_FIELDS = [
  'separator',
  'quoting',
  'lineEnding',
  'encoding',
  'unmappable',
  'decimalSeparator',
  'maxFileSize',
] as const;

function checkXlsx(spec: FormatSpec): void {
  const d = DEFAULT_FORMAT_SPEC;
  for (const key of CSV_ONLY_FIELDS) {
    if (spec[key] !== d[key])
      refuse([key], 'applies to CSV files only; "type": "xlsx" cannot use it', spec[key]);
  }
  if (spec.compression !== 'none') {
    refuse(
      ['compression'],
      'must be "none" with "type": "xlsx" (an xlsx file is a zip already)',
      spec.compression,
    );
  }
  if (spec.trailer !== null) {
    refuse(
      ['trailer'],
      'cannot be used with "type": "xlsx" (a trailer row would be read as a ticket by a spreadsheet user; the part count is in the file name)',
      spec.trailer,
    );
  }
  if (spec.spreadsheetText.length > 0) {
    refuse(
      ['spreadsheetText'],
      'applies to CSV files only; "type": "xlsx" writes every code column as a text cell already',
      spec.spreadsheetText,
    );
  }
  if (!spec.fileName.toLowerCase().endsWith('.xlsx')) {
    refuse(['fileName'], 'must end with ".xlsx" with "type": "xlsx"', spec.fileName);
  }
}

function checkCsv(spec: FormatSpec): void {
  if (spec.fileName.toLowerCase().endsWith('.xlsx')) {
    refuse(['fileName'], 'ends with ".xlsx" but the file is CSV (add "type": "xlsx")', spec.fileName);
  }
  if (spec.maxRowsPerFile !== null) {
    refuse(
      ['maxRowsPerFile'],
      'applies to "type": "xlsx" only; CSV files are split by maxFileSize',
      spec.maxRowsPerFile,
    );
  }
  if (spec.spreadsheetText.length > 0 && spec.quoting === 'none') {
    // ="0123" holds quotes, which quoting "none" cannot write.
    refuse(
      ['spreadsheetText'],
      'cannot be used with quoting "none" (="..." holds quotes)',
      spec.spreadsheetText,
    );
  }
}

function normaliseColumn(
  column: { field?: string | undefined; constant?: string | undefined; header?: string | undefined },
  index: number,
): ColumnSpec {
  const path = ['columns', index];
  if (column.field !== undefined && column.constant !== undefined) {
    refuse(path, 'must have either "field" or "constant", not both');
  }
  if (column.constant !== undefined) {
    if (column.header === undefined)
      refuse([...path, 'header'], 'is missing: a constant column needs a header');
    return { constant: column.constant, header: column.header };
  }
  if (column.field === undefined) refuse(path, 'must have a "field" (or a "constant" and a "header")');
  return { field: column.field as FieldName, header: column.header ?? column.field };
}

function checkColumns(spec: FormatSpec): void {
  const charset = getCharset(spec.encoding);
  const special = [spec.separator, '"'];
  const headers = new Map<string, number>();
  spec.columns.forEach((column, i) => {
    const texts: Array<[string, string]> = [['header', column.header]];
    if ('constant' in column) texts.push(['constant', column.constant]);
    for (const [key, text] of texts) {
      const path = ['columns', i, key];
      if (CONTROL.test(text)) refuse(path, 'cannot contain control characters (tab, CR, LF...)', text);
      if (key === 'header' && !spec.header) continue;
      // As it will be written: under the "fail" policy a character the encoding cannot hold would
      // fail every window, so refuse it now; under the others, transliteration may make a quote.
      const written = mapToCharset(text, charset, spec.unmappable);
      if (typeof written !== 'string') {
        refuse(
          path,
          `has ${formatCodePoint(written.codePoint)}, which ${spec.encoding} cannot encode (unmappable is "fail")`,
          text,
        );
      }
      // With quoting "none" a header or constant that needs quotes would break every file.
      if (spec.quoting === 'none') {
        const bad = special.find((c) => written.includes(c));
        if (bad !== undefined) refuse(path, `cannot contain ${showValue(bad)} with quoting "none"`, text);
      }
    }
    const previous = headers.get(column.header);
    if (previous !== undefined)
      refuse(['columns', i, 'header'], `repeats the header of columns[${previous}]`, column.header);
    headers.set(column.header, i);
  });
}

function checkFormats(spec: FormatSpec): void {
  const date = tokenizeColumnFormat(spec, 'date');
  if ('error' in date) refuse(['dateFormat'], date.error, spec.dateFormat);
  const dateTime = tokenizeColumnFormat(spec, 'datetime');
  if ('error' in dateTime) refuse(['dateTimeFormat'], dateTime.error, spec.dateTimeFormat);
  if (spec.quoting === 'none') {
    // "," is the only separator the formats can hold: it would break every line.
    if (spec.decimalSeparator === spec.separator) {
      refuse(['decimalSeparator'], `cannot be the separator with quoting "none"`, spec.decimalSeparator);
    }
    for (const key of ['dateFormat', 'dateTimeFormat'] as const) {
      if (spec[key].includes(spec.separator))
        refuse([key], `cannot contain the separator with quoting "none"`, spec[key]);
    }
  }
}

function checkFileName(spec: FormatSpec): void {
  const template = parseFileNameTemplate(spec.fileName);
  if ('error' in template) refuse(['fileName'], template.error, spec.fileName);
  if (spec.compression === 'zip' && template.hasParts) {
    refuse(
      ['fileName'],
      'cannot use {parts} with zip compression (the name inside the zip is written before the part count is known)',
      spec.fileName,
    );
  }
}
