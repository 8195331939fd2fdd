import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFormatFile, readPgpKeyFile } from '../client/commands/interface-options';
import { InputError } from '../lib/errors';
import { checkJsonDepth, INPUT_FILE_LIMITS, readBoundedFile } from '../lib/input-files';

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
