import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DURATION_LIMITS, formatDuration, parseDuration, parseInstant } from '../lib/duration';
import { fileRetentionMillis } from '../lib/ledger/retention';
import { loadConfig } from '../lib/config';
import { InputError } from '../lib/errors';
import { checkActor, checkCode, checkEmail, checkName } from '../lib/interfaces/validate';
import { maskUrl } from '../lib/config';

test('durations parse in the CLI form and refuse anything else, naming the value', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(formatDuration(900_000), '15m');
  for (const bad of ['15', 'm', '-1m', '1.5h', '15 minutes', '']) {
    assert.throws(
      () => parseDuration(bad, '--every'),
      (error: unknown) => error instanceof InputError && error.message.includes(JSON.stringify(bad)),
    );
  }
});

test('times need an offset', () => {
  assert.equal(parseInstant('2026-11-29T10:00:00+01:00').toISOString(), '2026-11-29T09:00:00.000Z');
  assert.throws(() => parseInstant('2026-11-29T10:00:00'), /invalid time/);
  assert.throws(() => parseInstant('yesterday'), /"yesterday"/);
});

test('durations out of range are refused naming the option and the bounds', () => {
  const outOfRange = (what: string) => (error: unknown) =>
    error instanceof InputError &&
    error.message.startsWith(`${what}: `) &&
    /out of range/.test(error.message);
  assert.equal(parseDuration('31d', '--every', DURATION_LIMITS.interval), 31 * 86_400_000);
  assert.throws(() => parseDuration('24856d', '--every', DURATION_LIMITS.interval), outOfRange('--every'));
  assert.throws(() => parseDuration('32d', '--every', DURATION_LIMITS.interval), outOfRange('--every'));
  assert.throws(() => parseDuration('2d', '--lag', DURATION_LIMITS.lag), outOfRange('--lag'));
  assert.throws(() => parseDuration('25d', '--timeout', DURATION_LIMITS.timeout), outOfRange('--timeout'));
  assert.throws(() => parseDuration('0s', '--timeout', DURATION_LIMITS.timeout), outOfRange('--timeout'));
  // Any duration, bounded or not: no float overflow, no Infinity slipping through.
  for (const huge of ['99999999999999999999d', '9'.repeat(400) + 'ms', '3651d']) {
    assert.throws(() => parseDuration(huge, '--older-than'), outOfRange('--older-than'));
  }
  assert.throws(
    () => fileRetentionMillis({ BARCODES_FILE_RETENTION: '99999999999999999999d' }),
    outOfRange('BARCODES_FILE_RETENTION'),
  );
  assert.throws(() => loadConfig({ BARCODES_MAX_HOLDBACK: '8d' }), outOfRange('BARCODES_MAX_HOLDBACK'));
});

test('impossible calendar dates and times are refused, not rolled over', () => {
  for (const bad of [
    '2026-02-30T00:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-11-29T24:00:00Z',
    '2026-11-29T10:60:00Z',
    '2026-11-29T10:00:60Z',
    '2026-11-29T10:00:00+01:75',
    '2026-11-29T10:00:00+19:00',
  ]) {
    assert.throws(
      () => parseInstant(bad, '--start'),
      (error: unknown) =>
        error instanceof InputError &&
        error.message.startsWith('--start: ') &&
        error.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
  assert.equal(parseInstant('2028-02-29T23:59:59.5-01:30').toISOString(), '2028-03-01T01:29:59.500Z');
  assert.equal(parseInstant('2026-11-29T10:00:00+0100').toISOString(), '2026-11-29T09:00:00.000Z');
  assert.equal(parseInstant('2026-11-29T10:00Z').toISOString(), '2026-11-29T10:00:00.000Z');
});

test('times outside 1970 to 2099 are refused naming the option', () => {
  for (const bad of [
    '0001-01-01T00:00:00Z',
    '0070-01-01T00:00:00Z',
    '1969-12-31T23:59:59Z',
    '9999-12-31T00:00:00Z',
    '2100-01-01T00:00:00Z',
    '2099-12-31T23:30:00-01:00',
  ]) {
    assert.throws(
      () => parseInstant(bad, '--from'),
      (error: unknown) =>
        error instanceof InputError && /^--from: time .* is out of range/.test(error.message),
      bad,
    );
  }
  assert.equal(parseInstant('1970-01-01T01:00:00+01:00').getTime(), 0);
  assert.equal(parseInstant('2099-12-31T23:59:59Z').toISOString(), '2099-12-31T23:59:59.000Z');
});

test('addresses and names that could inject headers are refused', () => {
  assert.equal(checkEmail('ops@reseller.example'), 'ops@reseller.example');
  for (const bad of [
    'ops@reseller.example\r\nBcc: x@evil.example',
    'a@b.example, c@d.example',
    'Name <a@b.example>',
    'no-at-sign',
  ]) {
    assert.throws(() => checkEmail(bad), InputError);
  }
  assert.throws(() => checkName('Reseller\r\nBcc: x@evil.example'), InputError);
});

test('names, codes and actors refuse control and bidirectional characters with one rule, naming the option', () => {
  const unsafe = [
    '\u0000',
    '\u0007',
    '\r',
    '\n',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u009b',
    '\u2028',
    '\u2029',
    '\u202a',
    '\u202b',
    '\u202c',
    '\u202d',
    '\u202e',
    '\u2066',
    '\u2067',
    '\u2068',
    '\u2069',
    '\u200e',
    '\u200f',
    '\u061c',
  ];
  const checks: [string, (text: string) => string][] = [
    ['--name', checkName],
    ['--contact', (text) => checkCode(text, '--contact')],
    ['--actor', (text) => checkActor(text)],
  ];
  for (const [what, check] of checks) {
    for (const character of unsafe) {
      const text = `Reseller${character}gpj.exe`;
      assert.throws(
        () => check(text),
        (error: unknown) =>
          error instanceof InputError &&
          error.message.startsWith(`${what}: `) &&
          !/[\r\n]/.test(error.message),
        `${what} refuses U+${character.codePointAt(0)!.toString(16)}`,
      );
    }
  }
  // Letters of any script, accents, emoji stay allowed.
  assert.equal(checkName('Billets für Zürich – الموزع 🎟'), 'Billets für Zürich – الموزع 🎟');
  assert.equal(checkActor('jdoe'), 'jdoe');
  assert.throws(() => checkActor('  '), /--actor: invalid actor/);
  assert.throws(() => checkActor('x'.repeat(101)), /--actor: invalid actor/);
});

test('passwords in URLs are masked', () => {
  assert.equal(
    maskUrl('postgres://exporter:s3cret@db.example:5432/tickets'),
    'postgres://exporter:***@db.example:5432/tickets',
  );
  assert.equal(maskUrl('smtp://user:p%40ss@mail.example:587'), 'smtp://user:***@mail.example:587');
});
