import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../lib/config';
import { InputError } from '../lib/errors';

/** Refused at start: one line, starting with the variable's name, never the password. */
function assertRefused(env: NodeJS.ProcessEnv, variable: string, mentions?: string) {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) =>
      error instanceof InputError &&
      error.message.startsWith(`${variable}: `) &&
      !error.message.includes('hunter2') &&
      !/[\r\n]/.test(error.message) &&
      (mentions === undefined || error.message.includes(mentions)),
    `${JSON.stringify(env)} is refused naming ${variable}`,
  );
}

test('the defaults load', () => {
  const config = loadConfig({});
  assert.equal(config.logLevel, 'INFO');
  assert.equal(config.mailFrom, 'barcodes@localhost');
  assert.equal(config.allowShortIntervals, false);
});

test('MAIL_FROM must be one plain address: no display name, no second address, no header', () => {
  assert.equal(loadConfig({ MAIL_FROM: 'barcodes@exporter.example' }).mailFrom, 'barcodes@exporter.example');
  for (const bad of [
    'Barcodes <barcodes@exporter.example>',
    'barcodes@exporter.example\r\nBcc: x@evil.example',
    'a@b.example, c@d.example',
    'barcodes',
    'barcodes@exporter.example\u202e',
  ]) {
    assertRefused({ MAIL_FROM: bad }, 'MAIL_FROM');
  }
});

test('BARCODES_LOG_LEVEL is one of the logger levels, in any case', () => {
  assert.equal(loadConfig({ BARCODES_LOG_LEVEL: 'debug' }).logLevel, 'DEBUG');
  assert.equal(loadConfig({ BARCODES_LOG_LEVEL: 'WARN' }).logLevel, 'WARN');
  for (const bad of ['verbose', 'WARNING', '0', 'INFO\n'])
    assertRefused({ BARCODES_LOG_LEVEL: bad }, 'BARCODES_LOG_LEVEL', 'TRACE, DEBUG, INFO, WARN, ERROR');
});

test('malformed URLs are refused naming the variable, the password masked', () => {
  assert.equal(
    loadConfig({ DATABASE_URL: 'postgresql://u:hunter2@db.example:5432/barcodes' }).sourceDatabaseUrl,
    'postgresql://u:hunter2@db.example:5432/barcodes',
  );
  for (const [variable, bad] of [
    ['DATABASE_URL', 'postgres://u:hunter2@db.example:99999/x'],
    ['DATABASE_URL', 'mysql://u:hunter2@db.example/x'],
    ['DATABASE_URL', '//u:hunter2@db.example/x'],
    ['SOURCE_DATABASE_URL', 'postgres//u:hunter2@db.example/x'],
    ['SMTP_URL', 'smtp//u:hunter2@relay.example'],
    ['SMTP_URL', 'http://u:hunter2@relay.example'],
    ['SMTP_URL', 'smtp://u:hunter2@:587'],
  ] as const) {
    assertRefused({ [variable]: bad }, variable);
  }
});

test('TEMPORAL_ADDRESS and BARCODES_METRICS_ADDRESS are host:port with a real port', () => {
  for (const good of ['127.0.0.1:7233', '[::1]:7233', 'ns.acct.tmprl.cloud:7233', 'temporal-frontend:7233'])
    assert.equal(loadConfig({ TEMPORAL_ADDRESS: good }).temporalAddress, good);
  for (const bad of [
    'localhost',
    'localhost:',
    ':7233',
    'host:0',
    'host:65536',
    'host:7233/x',
    'http://host:7233',
    'a:b:7233',
    'host :7233',
  ]) {
    assertRefused({ TEMPORAL_ADDRESS: bad }, 'TEMPORAL_ADDRESS');
  }
  assertRefused({ BARCODES_METRICS_ADDRESS: '0.0.0.0:99999' }, 'BARCODES_METRICS_ADDRESS');
});

test('flags and durations of the environment are checked at start', () => {
  assert.equal(loadConfig({ BARCODES_ALLOW_SHORT_INTERVALS: '1' }).allowShortIntervals, true);
  assert.equal(loadConfig({ BARCODES_ALLOW_SHORT_INTERVALS: '0' }).allowShortIntervals, false);
  assertRefused({ BARCODES_ALLOW_SHORT_INTERVALS: 'yes' }, 'BARCODES_ALLOW_SHORT_INTERVALS');
  assertRefused(
    { BARCODES_FILE_RETENTION: '99999999999999999999d' },
    'BARCODES_FILE_RETENTION',
    'out of range',
  );
  assertRefused({ BARCODES_MAX_HOLDBACK: '24856d' }, 'BARCODES_MAX_HOLDBACK', 'out of range');
});

test('BARCODES_HTTPS_TIMEOUT is 1s to 1d: 0s would time out every POST', () => {
  assert.equal(loadConfig({}).httpsTimeoutMillis, 60_000);
  assert.equal(loadConfig({ BARCODES_HTTPS_TIMEOUT: '1s' }).httpsTimeoutMillis, 1000);
  assert.equal(loadConfig({ BARCODES_HTTPS_TIMEOUT: '1d' }).httpsTimeoutMillis, 86_400_000);
  for (const value of ['0s', '0ms', '999ms', '2d']) {
    assertRefused(
      { BARCODES_HTTPS_TIMEOUT: value },
      'BARCODES_HTTPS_TIMEOUT',
      `duration ${JSON.stringify(value)} is out of range (1s to 1d)`,
    );
  }
  assertRefused({ BARCODES_HTTPS_TIMEOUT: 'soon' }, 'BARCODES_HTTPS_TIMEOUT', '"soon"');
});

test('BARCODES_PAUSE_AFTER_FAILURES is 1 to 999999, and the refusal says so', () => {
  assert.equal(loadConfig({ BARCODES_PAUSE_AFTER_FAILURES: '999999' }).pauseAfterFailures, 999_999);
  for (const value of ['0', '1000000', '07', '-1', 'three'])
    assertRefused(
      { BARCODES_PAUSE_AFTER_FAILURES: value },
      'BARCODES_PAUSE_AFTER_FAILURES',
      `${JSON.stringify(value)} (a whole number from 1 to 999999)`,
    );
});
