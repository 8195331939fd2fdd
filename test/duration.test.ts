import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, parseInstant } from '../lib/duration';
import { InputError } from '../lib/errors';
import { checkEmail, checkName } from '../lib/interfaces/validate';
import { maskUrl } from '../lib/config';

test('durations parse in the CLI form and refuse anything else, naming the value', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(formatDuration(900_000), '15m');
  for (const bad of ['15', 'm', '-1m', '1.5h', '15 minutes', '']) {
    assert.throws(() => parseDuration(bad, '--every'), (error: unknown) => error instanceof InputError && error.message.includes(JSON.stringify(bad)));
  }
});

test('times need an offset', () => {
  assert.equal(parseInstant('2026-11-29T10:00:00+01:00').toISOString(), '2026-11-29T09:00:00.000Z');
  assert.throws(() => parseInstant('2026-11-29T10:00:00'), /invalid time/);
  assert.throws(() => parseInstant('yesterday'), /"yesterday"/);
});

test('addresses and names that could inject headers are refused', () => {
  assert.equal(checkEmail('ops@reseller.example'), 'ops@reseller.example');
  for (const bad of ['ops@reseller.example\r\nBcc: x@evil.example', 'a@b.example, c@d.example', 'Name <a@b.example>', 'no-at-sign']) {
    assert.throws(() => checkEmail(bad), InputError);
  }
  assert.throws(() => checkName('Reseller\r\nBcc: x@evil.example'), InputError);
});

test('passwords in URLs are masked', () => {
  assert.equal(maskUrl('postgres://exporter:s3cret@db.example:5432/tickets'), 'postgres://exporter:***@db.example:5432/tickets');
  assert.equal(maskUrl('smtp://user:p%40ss@mail.example:587'), 'smtp://user:***@mail.example:587');
});
