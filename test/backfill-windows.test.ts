import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import {
  MAX_BACKFILL_WINDOWS,
  backfillRangeProblem,
  backfillWindowAt,
  countBackfillWindows,
} from '../workflows/backfill-windows';

/** The windows as the first release listed them: the reference the arithmetic must agree with. */
function listedWindows(from: number, to: number, windowMillis: number): { from: number; to: number }[] {
  const windows = [];
  for (let start = from; start < to; start += windowMillis)
    windows.push({ from: start, to: Math.min(start + windowMillis, to) });
  return windows;
}

test('windows computed from their index are the listed windows: same count, same bounds, the last one shorter', () => {
  const cases = [
    { from: 0, to: 900_000 * 4, windowMillis: 900_000 },
    { from: 0, to: 900_000 * 4 + 1_000, windowMillis: 900_000 },
    { from: 5, to: 6, windowMillis: 900_000 },
    ...Array.from({ length: 200 }, () => {
      const windowMillis = 1_000 * (1 + randomInt(3_600));
      const from = Date.UTC(2026, 0, 1) + randomInt(1_000_000) * 1_000;
      return { from, to: from + randomInt(1, 500 * windowMillis), windowMillis };
    }),
  ];
  for (const { from, to, windowMillis } of cases) {
    const listed = listedWindows(from, to, windowMillis);
    const count = countBackfillWindows(from, to, windowMillis);
    assert.equal(count, listed.length, JSON.stringify({ from, to, windowMillis }));
    assert.deepEqual(
      Array.from({ length: count }, (_, index) => backfillWindowAt(from, to, windowMillis, index)),
      listed,
    );
  }
});

test('a range is bounded by counting: the limit passes, one window more does not, a typo costs nothing', () => {
  const to = Date.UTC(2026, 11, 1);
  const quarterHour = 900_000;
  assert.equal(
    backfillRangeProblem(to - 90 * 96 * quarterHour, to, quarterHour),
    null,
    '90 days at 15 minutes',
  );
  assert.equal(backfillRangeProblem(to - MAX_BACKFILL_WINDOWS * quarterHour, to, quarterHour), null);
  assert.match(
    backfillRangeProblem(to - (MAX_BACKFILL_WINDOWS + 1) * quarterHour, to, quarterHour) ?? '',
    /^--from\/--to: .* holds 10001 windows of 900s/,
  );
  const startedAt = Date.now();
  assert.match(
    backfillRangeProblem(Date.parse('0001-01-01T00:00:00Z'), to, quarterHour) ?? '',
    /^--from\/--to: 0001-01-01T00:00:00.000Z .* holds 71\d{6} windows/,
  );
  assert.ok(Date.now() - startedAt < 50);
  assert.match(backfillRangeProblem(to, to, quarterHour) ?? '', /^--to: .* is not after --from/);
  assert.match(backfillRangeProblem(Number.NaN, to, quarterHour) ?? '', /^--from\/--to/);
  assert.match(backfillRangeProblem(0, to, 0) ?? '', /not positive/);
});
