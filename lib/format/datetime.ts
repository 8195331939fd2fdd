/**
 * Dates and times for the file: a small token language (validated when a spec is parsed) and fast
 * formatters. The hot path never touches Intl: UTC fields come from integer arithmetic, and for
 * other time zones the zone's offset is looked up once per hour of time (Intl only on a miss).
 */

import { FormatError } from '../errors';
import type { FormatSpec } from './spec';

const DATE_TOKENS = ['YYYY', 'YY', 'MM', 'DD'] as const;
export const DATETIME_TOKENS = [...DATE_TOKENS, 'HH', 'mm', 'ss', 'SSS'] as const;
export type DateToken = (typeof DATETIME_TOKENS)[number];

/** Characters a format may hold between tokens. Letters other than T and Z are refused so a typo such as `YYYY-MM-D` cannot silently print a literal D. */
const FORMAT_LITERALS = ' -/.:_TZ,';

export type FormatPiece = { readonly token: DateToken } | { readonly literal: string };

/** Longest first, so `YYYY` is never read as two `YY`. */
const TOKENS_BY_LENGTH: readonly DateToken[] = ['YYYY', 'SSS', 'YY', 'MM', 'DD', 'HH', 'mm', 'ss'];

/**
 * Splits a format into tokens and literals. Returns a one-line reason instead when the format is
 * not valid, for parseFormatSpec to report with the field's path.
 */
export function tokenizeDateFormat(
  format: string,
  allowed: readonly DateToken[],
): FormatPiece[] | { error: string } {
  const pieces: FormatPiece[] = [];
  let literal = '';
  let hasToken = false;
  for (let i = 0; i < format.length;) {
    const token = TOKENS_BY_LENGTH.find((t) => format.startsWith(t, i));
    if (token !== undefined) {
      if (!allowed.includes(token))
        return {
          error: `has ${token}, which only a date and time format may use (use ${allowed.join(' ')})`,
        };
      if (literal) pieces.push({ literal });
      literal = '';
      pieces.push({ token });
      hasToken = true;
      i += token.length;
      continue;
    }
    const char = format[i]!;
    if (!FORMAT_LITERALS.includes(char)) {
      return {
        error: `has ${JSON.stringify(char)} at position ${i + 1}; use the tokens ${allowed.join(' ')} and the characters ${JSON.stringify(FORMAT_LITERALS)}`,
      };
    }
    literal += char;
    i += 1;
  }
  if (literal) pieces.push({ literal });
  if (!hasToken) return { error: `has no token (use ${allowed.join(' ')})` };
  return pieces;
}

/** A column of dates (the spec's dateFormat) or of dates and times (its dateTimeFormat). */
export type DateColumnKind = 'date' | 'datetime';

/** The spec's format for a `kind` column, split into pieces, or why it is not valid. */
export function tokenizeColumnFormat(
  spec: Pick<FormatSpec, 'dateFormat' | 'dateTimeFormat'>,
  kind: DateColumnKind,
): FormatPiece[] | { error: string } {
  return kind === 'date'
    ? tokenizeDateFormat(spec.dateFormat, DATE_TOKENS)
    : tokenizeDateFormat(spec.dateTimeFormat, DATETIME_TOKENS);
}

/**
 * The pieces every renderer (CSV, xlsx, the database) formats a `kind` column by. parseFormatSpec
 * refused invalid formats already; a hand-made spec that skipped it is refused here, never guessed.
 */
export function columnFormatPieces(
  spec: Pick<FormatSpec, 'dateFormat' | 'dateTimeFormat'>,
  kind: DateColumnKind,
): FormatPiece[] {
  const result = tokenizeColumnFormat(spec, kind);
  if ('error' in result) {
    const format = kind === 'date' ? spec.dateFormat : spec.dateTimeFormat;
    throw new FormatError(`format: date format ${JSON.stringify(format)} ${result.error}`);
  }
  return result;
}

/** The field each two-digit token prints, zero-padded. */
const TWO_DIGIT_FIELDS = { MM: 'month', DD: 'day', HH: 'hour', mm: 'minute', ss: 'second' } as const;

const PAD2: readonly string[] = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));
const PAD3: readonly string[] = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));

function year4(year: number): string {
  return year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : String(year);
}

/** Calendar fields of one instant, reused between calls so the hot path allocates nothing. */
interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const MS_PER_DAY = 86_400_000;
const MS_PER_HOUR = 3_600_000;

/** Fields of `ms` read as UTC (proleptic Gregorian, Howard Hinnant's days-to-civil algorithm). */
function utcFields(ms: number, out: Fields): void {
  const days = Math.floor(ms / MS_PER_DAY);
  civilFields(days, out);
  timeFields(ms - days * MS_PER_DAY, out);
}

function civilFields(days: number, out: Fields): void {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  out.year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out.month = month;
  out.day = doy - Math.floor((153 * mp + 2) / 5) + 1;
}

/** `msOfDay` in [0, 86 400 000). */
function timeFields(msOfDay: number, out: Fields): void {
  let rest = msOfDay;
  out.hour = Math.floor(rest / MS_PER_HOUR);
  rest -= out.hour * MS_PER_HOUR;
  out.minute = Math.floor(rest / 60_000);
  rest -= out.minute * 60_000;
  out.second = Math.floor(rest / 1000);
  out.millisecond = rest - out.second * 1000;
}

type FieldsFormatter = (f: Fields) => string;

/** Turns the pieces into one function; the default formats get a hand-written one. */
function compilePieces(pieces: readonly FormatPiece[]): FieldsFormatter {
  const signature = pieces.map((p) => ('token' in p ? `{${p.token}}` : p.literal)).join('');
  if (signature === '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}') {
    // The date half changes once a day: keep its text.
    let year = -1;
    let month = -1;
    let day = -1;
    let date = '';
    return (f) => {
      if (f.day !== day || f.month !== month || f.year !== year) {
        year = f.year;
        month = f.month;
        day = f.day;
        date = `${year4(year)}-${PAD2[month]}-${PAD2[day]} `;
      }
      return date + PAD2[f.hour]! + ':' + PAD2[f.minute]! + ':' + PAD2[f.second]!;
    };
  }
  if (signature === '{YYYY}-{MM}-{DD}') return (f) => `${year4(f.year)}-${PAD2[f.month]}-${PAD2[f.day]}`;
  const parts = pieces.map((piece): FieldsFormatter => {
    if ('literal' in piece) {
      const literal = piece.literal;
      return () => literal;
    }
    switch (piece.token) {
      case 'YYYY':
        return (f) => year4(f.year);
      case 'YY':
        return (f) => PAD2[((f.year % 100) + 100) % 100]!;
      case 'SSS':
        return (f) => PAD3[f.millisecond]!;
      default: {
        const field = TWO_DIGIT_FIELDS[piece.token];
        return (f) => PAD2[f[field]]!;
      }
    }
  });
  return (f) => {
    let out = '';
    for (const part of parts) out += part(f);
    return out;
  };
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = zoneFormatters.get(timeZone);
  if (formatter === undefined) {
    // Throws RangeError for an unknown zone; renderWindow calls this before writing anything.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    zoneFormatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    zoneFormatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

function isUtc(timeZone: string): boolean {
  return timeZone === 'UTC' || timeZone === 'Etc/UTC' || timeZone === 'Etc/GMT' || timeZone === 'GMT';
}

/**
 * Offset (local minus UTC, in ms) of a time zone, cached per hour of UTC time. An hour whose start
 * and last second have the same offset has that offset throughout (zones change at most once an
 * hour); an hour holding a change is marked and resolved per instant with Intl, which is exact.
 */
export class ZoneOffsets {
  private readonly formatter: Intl.DateTimeFormat;
  private readonly byHour = new Map<number, number>();

  constructor(timeZone: string) {
    this.formatter = zoneFormatter(timeZone);
  }

  offsetAt(ms: number): number {
    const hour = Math.floor(ms / MS_PER_HOUR);
    let offset = this.byHour.get(hour);
    if (offset === undefined) {
      const first = this.exactOffset(hour * MS_PER_HOUR);
      const last = this.exactOffset(hour * MS_PER_HOUR + MS_PER_HOUR - 1000);
      offset = first === last ? first : Number.NaN;
      if (this.byHour.size > 100_000) this.byHour.clear();
      this.byHour.set(hour, offset);
    }
    return offset === offset ? offset : this.exactOffset(ms);
  }

  private exactOffset(ms: number): number {
    const wholeSecond = Math.floor(ms / 1000) * 1000;
    const wall = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    let bc = false;
    for (const part of this.formatter.formatToParts(wholeSecond)) {
      if (part.type === 'era') bc = part.value === 'BC' || part.value === 'B';
      else if (part.type in wall) wall[part.type as keyof typeof wall] = Number(part.value);
    }
    const { month, day, hour, minute, second } = wall;
    const year = bc ? 1 - wall.year : wall.year;
    const local = Date.UTC(2000, month - 1, day, hour, minute, second);
    // Date.UTC maps years 0..99 to 1900..1999, so set the year separately.
    const date = new Date(local);
    date.setUTCFullYear(year);
    return date.getTime() - wholeSecond;
  }
}

/**
 * Formats instants in a time zone. Returns null for an invalid Date (or anything that is not a
 * Date), so the caller can name the ticket. The last instant is cached: the tickets of one order
 * share its order date, and consecutive tickets often share their creation time.
 */
export function createDateTimeFormatter(
  pieces: readonly FormatPiece[],
  timeZone: string,
): (value: Date) => string | null {
  const format = compilePieces(pieces);
  const fields: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 };
  const zone = isUtc(timeZone) ? null : new ZoneOffsets(timeZone);
  let lastMs = Number.NaN;
  let lastText = '';
  let lastDay = Number.NaN;
  return (value) => {
    const ms = value instanceof Date ? value.getTime() : Number.NaN;
    if (ms === lastMs) return lastText;
    if (!Number.isFinite(ms)) return null;
    const local = zone === null ? ms : ms + zone.offsetAt(ms);
    const day = Math.floor(local / MS_PER_DAY);
    if (day !== lastDay) {
      civilFields(day, fields);
      lastDay = day;
    }
    timeFields(local - day * MS_PER_DAY, fields);
    lastMs = ms;
    lastText = format(fields);
    return lastText;
  };
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Formats a calendar date given as PostgreSQL prints it (`YYYY-MM-DD`). Text of another shape
 * (`infinity`, a BC date) is returned as it is rather than guessed at. A Date, as node-postgres
 * parses a `date` column unless told not to (local midnight), is read with the local getters.
 */
export function createDateFormatter(pieces: readonly FormatPiece[]): (value: string | Date) => string {
  const signature = pieces.map((p) => ('token' in p ? `{${p.token}}` : p.literal)).join('');
  const isDefault = signature === '{YYYY}-{MM}-{DD}';
  const format = compilePieces(pieces);
  const fields: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 };
  let lastValue = '';
  let lastText = '';
  return (input) => {
    const value = typeof input === 'string' ? input : localDate(input);
    if (isDefault) return value;
    if (value === lastValue) return lastText;
    const match = ISO_DATE.exec(value);
    if (match === null) return value;
    fields.year = Number(match[1]);
    fields.month = Number(match[2]);
    fields.day = Number(match[3]);
    lastValue = value;
    lastText = format(fields);
    return lastText;
  };
}

function localDate(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return String(date);
  return `${year4(date.getFullYear())}-${PAD2[date.getMonth() + 1]}-${PAD2[date.getDate()]}`;
}

/** `YYYYMMDDTHHmmssZ` in UTC: the time stamps of file names (CONTRACT.md §3), sortable as text. */
export function compactUtcStamp(date: Date): string {
  const f: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 };
  utcFields(date.getTime(), f);
  return `${year4(f.year)}${PAD2[f.month]}${PAD2[f.day]}T${PAD2[f.hour]}${PAD2[f.minute]}${PAD2[f.second]}Z`;
}

/** `YYYYMMDD` of an instant in a time zone. */
export function compactLocalDate(date: Date, timeZone: string): string {
  const ms = date.getTime();
  const zone = isUtc(timeZone) ? null : new ZoneOffsets(timeZone);
  const f: Fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, millisecond: 0 };
  utcFields(zone === null ? ms : ms + zone.offsetAt(ms), f);
  return `${year4(f.year)}${PAD2[f.month]}${PAD2[f.day]}`;
}
