import { InputError } from './errors';

const UNIT_MILLIS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;
const SECOND = 1000;
const DAY = UNIT_MILLIS.d!;

/** Inclusive range of a duration option, in milliseconds. */
interface DurationLimit {
  min: number;
  max: number;
}

/**
 * Every bound on a duration the product accepts, in one place (docs/operators.md "Command line" lists them).
 * The maxima keep each value far from where a consumer breaks: `interval_seconds` and
 * `lag_seconds` are 32-bit integer columns (2^31 s ≈ 24855 days); Node's timers fire at once
 * beyond 2^31-1 ms (≈ 24.8 days); PostgreSQL intervals and exact JavaScript numbers end too.
 * Within those, each maximum is what a sane setting could want.
 */
export const DURATION_LIMITS = {
  /** `--every` (interface, demo): a window at least every month. */
  interval: { min: SECOND, max: 31 * DAY },
  /** `--lag`: a safety margin, not a delay. */
  lag: { min: 0, max: DAY },
  /** `run --timeout`: below Node's 32-bit timer limit. */
  timeout: { min: SECOND, max: 24 * DAY },
  /** `BARCODES_HTTPS_TIMEOUT`: a receiver gets at least a second to answer (0s would time out every POST). */
  httpsTimeout: { min: SECOND, max: DAY },
  /** `BARCODES_MAX_HOLDBACK`: how long a window may wait for an open source transaction. */
  holdback: { min: 0, max: 7 * DAY },
  /** `purge --older-than`, `BARCODES_FILE_RETENTION`: ten years. */
  retention: { min: 0, max: 3650 * DAY },
} as const satisfies Record<string, DurationLimit>;

/** What any other duration is held to. */
const ANY_DURATION: DurationLimit = DURATION_LIMITS.retention;

/**
 * Parses a duration as the CLI takes it (`90s`, `15m`, `1h`, `2d`, `0s`) into milliseconds, and
 * checks it against `limit`. `what` names the option in the error, so the user sees which value
 * was wrong.
 */
export function parseDuration(text: string, what = 'duration', limit: DurationLimit = ANY_DURATION): number {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) {
    throw new InputError(`${what}: invalid duration ${JSON.stringify(text)} (expected e.g. 90s, 15m, 1h)`);
  }
  // Huge digit strings become Infinity or an inexact float here: both fail the range check.
  const millis = Number(match[1]) * UNIT_MILLIS[match[2]!]!;
  if (!(millis >= limit.min && millis <= limit.max)) {
    throw new InputError(
      `${what}: duration ${JSON.stringify(text)} is out of range (${formatDuration(limit.min)} to ${formatDuration(limit.max)})`,
    );
  }
  return millis;
}

/** Formats milliseconds back into the shortest exact CLI form (`900000` → `15m`). */
export function formatDuration(millis: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MILLIS[unit]!;
    if (millis >= size && millis % size === 0) return `${millis / size}${unit}`;
  }
  return millis === 0 ? '0s' : `${millis}ms`;
}

/**
 * The instants the product accepts (`--start`, `--from`, `--to`): from the Unix epoch to the
 * start of 2100. Earlier or later is a typo (year 0001, 9999), and the far ends break
 * PostgreSQL/JavaScript round trips and the window arithmetic.
 */
const INSTANT_LIMITS = {
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('2100-01-01T00:00:00Z'),
} as const;

const INSTANT_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2}):?(\d{2}))$/;
const MAX_OFFSET_MINUTES = 18 * 60;

/**
 * Parses an ISO 8601 time that carries an offset (`2026-11-29T10:00:00Z`, `…+01:00`). Computed
 * from its fields rather than by `new Date(text)`, which rolls impossible dates over
 * (`2026-02-30` → 2 March) instead of refusing them.
 */
export function parseInstant(text: string, what = 'time'): Date {
  const invalid = (why: string) =>
    new InputError(
      `${what}: invalid time ${JSON.stringify(text)} (${why}; expected ISO 8601 with an offset, e.g. 2026-11-29T10:00:00Z)`,
    );
  const match = INSTANT_PATTERN.exec(text.trim());
  if (!match) throw invalid('not in the form YYYY-MM-DDTHH:mm[:ss[.ffffff]] with Z or ±HH:MM');
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((field) => Number(field ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = Number(((match[7] ?? '') + '000').slice(0, 3));
  if (!isRealDateTime(year, month, day, hour, minute, second)) throw invalid('no such date or time');
  const offsetMinutes =
    match[8] === 'Z' ? 0 : (match[9] === '-' ? -1 : 1) * (Number(match[10]) * 60 + Number(match[11]));
  if (Number(match[11] ?? 0) > 59 || Math.abs(offsetMinutes) > MAX_OFFSET_MINUTES)
    throw invalid('offset out of range');
  // Not Date.UTC: it reads years 0-99 as 1900-1999, so year 0001 would land in 1901.
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millis);
  const date = new Date(utc.getTime() - offsetMinutes * 60_000);
  if (date < INSTANT_LIMITS.min || date >= INSTANT_LIMITS.max) {
    throw new InputError(
      `${what}: time ${JSON.stringify(text)} is out of range (from ${INSTANT_LIMITS.min.toISOString()} to before ${INSTANT_LIMITS.max.toISOString()})`,
    );
  }
  return date;
}

/** Whether the fields name a real calendar day and time of day (no 30 February, no 24:00, no :60). */
function isRealDateTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): boolean {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  return day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
