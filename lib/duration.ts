import { InputError } from './errors';

const UNIT_MILLIS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;

/**
 * Parses a duration as the CLI takes it (`90s`, `15m`, `1h`, `2d`, `0s`) into milliseconds.
 * `what` names the option in the error, so the user sees which value was wrong.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) {
    throw new InputError(`${what}: invalid duration ${JSON.stringify(text)} (expected e.g. 90s, 15m, 1h)`);
  }
  return Number(match[1]) * UNIT_MILLIS[match[2]!]!;
}

/** Formats milliseconds back into the shortest exact CLI form (`900000` → `15m`). */
export function formatDuration(millis: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MILLIS[unit]!;
    if (millis >= size && millis % size === 0) return `${millis / size}${unit}`;
  }
  return millis === 0 ? '0s' : `${millis}ms`;
}

/** Parses an ISO 8601 time that carries an offset (`2026-11-29T10:00:00Z`, `…+01:00`). */
export function parseInstant(text: string, what = 'time'): Date {
  const withOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
  const date = new Date(text);
  if (!withOffset.test(text.trim()) || Number.isNaN(date.getTime())) {
    throw new InputError(`${what}: invalid time ${JSON.stringify(text)} (expected ISO 8601 with an offset, e.g. 2026-11-29T10:00:00Z)`);
  }
  return date;
}
