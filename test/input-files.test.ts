import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFormatFile, readPgpKeyFile } from '../client/commands/interface-options';
import { InputError } from '../lib/errors';
import { checkJsonDepth, INPUT_FILE_LIMITS, readBoundedFile, readCaCertificates } from '../lib/input-files';
import { execFileSync } from 'node:child_process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-input-files-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const full = path.join(dir, name);
  fs.writeFileSync(full, content);
  return full;
}

const refused = (pattern: RegExp) => (error: unknown) =>
  error instanceof InputError && pattern.test(error.message) && !error.message.includes('\n');

test('files are read up to their cap, and one byte more is refused naming the option and the file', () => {
  const exact = file('exact.bin', Buffer.alloc(1000, 0x61));
  assert.equal(readBoundedFile(exact, '--x', 1000).length, 1000);
  assert.throws(() => readBoundedFile(exact, '--x', 999), refused(/^--x: ".*exact\.bin" is larger than/));
  assert.throws(
    () => readBoundedFile(path.join(dir, 'missing'), '--x', 10),
    refused(/^--x: cannot read ".*missing" \(ENOENT\)/),
  );
});

test('a device that never ends is refused at the cap instead of filling memory', (t) => {
  if (!fs.existsSync('/dev/zero')) return t.skip('no /dev/zero here');
  assert.throws(
    () => readFormatFile('/dev/zero'),
    refused(/^--format: "\/dev\/zero" is larger than 256 KiB/),
  );
});

test('a format file over its size cap, or nested too deep, is refused in one line naming the file', async () => {
  const padded = file(
    'padded.json',
    JSON.stringify({ separator: ';', note: 'x'.repeat(INPUT_FILE_LIMITS.formatFileBytes) }),
  );
  assert.throws(() => readFormatFile(padded), refused(/^--format: ".*padded\.json" is larger than 256 KiB/));
  const deep = file('deep.json', `{"columns": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  assert.throws(
    () => readFormatFile(deep),
    refused(/^--format: ".*deep\.json": nests objects and arrays more than 16 deep/),
  );
  await assert.rejects(
    readPgpKeyFile(file('big.asc', Buffer.alloc(INPUT_FILE_LIMITS.pgpKeyFileBytes + 1, 0x41))),
    refused(/^--pgp-key: ".*big\.asc" is larger than 1 MiB/),
  );
});

test('the depth check ignores brackets inside strings and accepts a real format', () => {
  checkJsonDepth('{"header": "[[[[[[[[[[[[[[[[[[[[\\\\\\"{{{{{{{{{{{{{{{{{{{{"}', 2, 'x');
  const real = file(
    'real.json',
    JSON.stringify({
      separator: ',',
      columns: [{ field: 'BAR_CODE', header: 'code [[[{{{' }],
      trailer: { label: 'END' },
    }),
  );
  assert.equal(readFormatFile(real).separator, ',');
  assert.throws(() => checkJsonDepth('[[[', 2, '--format: "f"'), refused(/more than 2 deep/));
});

test('a --format file that is not JSON is refused saying where, never quoting the file (it may be the wrong, secret one)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-format-json-'));
  const cases: [string, string][] = [
    ['127.0.0.1:5432:*:exporter:s3cret-password\n', 'at line 1, column 6'],
    ['exporter:s3cret-password\n', 'unexpected "e"'],
    ['{\n  "columns": ["BAR_CODE",]\n}', 'unexpected "]"'],
    ['{\n  "columns": ["BAR_CODE"],\n  x\n}', 'at line 3, column 3'],
    ['', 'it ends too early'],
  ];
  for (const [text, place] of cases) {
    const file = path.join(dir, 'format.json');
    fs.writeFileSync(file, text);
    assert.throws(
      () => readFormatFile(file),
      (error: unknown) =>
        error instanceof InputError &&
        error.message === `--format: ${JSON.stringify(file)} is not valid JSON (${place})` &&
        !error.message.includes('s3cret'),
    );
  }
});

test('a CA file is read with its cap and every certificate in it parsed: a garbled one fails at once, naming the variable', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-ca-'));
  const file = (name: string) => path.join(dir, name);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=barcodes test CA'].concat([
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]),
    { stdio: 'ignore' },
  );
  const good = fs.readFileSync(file('ca.pem'), 'utf8');
  assert.equal(readCaCertificates(file('ca.pem'), 'SOME_CA_FILE'), good);
  // The body damaged in the middle, the markers intact: Node's TLS would take it without a word.
  const lines = good.split('\n');
  lines[5] = lines[5]!.replace(/[A-Za-z]/g, '!');
  fs.writeFileSync(file('garbled.pem'), good + lines.join('\n'));
  fs.writeFileSync(file('key.pem'), fs.readFileSync(file('ca.key')));
  const refusals: [string, string][] = [
    ['garbled.pem', 'certificate 2 of 2 does not parse'],
    ['key.pem', 'holds no PEM certificate'],
    ['missing.pem', 'cannot read'],
  ];
  for (const [name, problem] of refusals) {
    assert.throws(
      () => readCaCertificates(file(name), 'SOME_CA_FILE'),
      (error: unknown) =>
        error instanceof InputError &&
        error.message.startsWith('SOME_CA_FILE: ') &&
        error.message.includes(JSON.stringify(file(name))) &&
        error.message.includes(problem) &&
        !/[\r\n]/.test(error.message),
      name,
    );
  }
});
