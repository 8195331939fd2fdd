import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../lib/errors';
import { DEFAULT_FORMAT_SPEC, defaultFileName, parseFormatSpec, slugify } from '../lib/format';
import { DEFAULT_COLUMNS } from '../lib/tickets';

function refusal(input: unknown): string {
  try {
    parseFormatSpec(input);
  } catch (error) {
    assert.ok(error instanceof InputError, `InputError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_INPUT');
    assert.equal(error.message.includes('\n'), false, 'one line');
    assert.ok(error.message.startsWith('format: '), error.message);
    return error.message;
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

test('spec: the default is CONTRACT.md §3', () => {
  const d = DEFAULT_FORMAT_SPEC;
  assert.deepEqual(
    d.columns.map((c) => ('field' in c ? c.field : null)),
    [...DEFAULT_COLUMNS],
  );
  assert.deepEqual(
    d.columns.map((c) => c.header),
    [...DEFAULT_COLUMNS],
  );
  assert.equal(d.separator, ';');
  assert.equal(d.header, true);
  assert.equal(d.quoting, 'minimal');
  assert.equal(d.lineEnding, 'LF');
  assert.equal(d.encoding, 'utf-8');
  assert.equal(d.dateFormat, 'YYYY-MM-DD');
  assert.equal(d.dateTimeFormat, 'YYYY-MM-DD HH:mm:ss');
  assert.equal(d.decimalSeparator, '.');
  assert.equal(d.decimals, 2);
  assert.equal(d.fileName, 'barcodes_{interface}_{start}_{end}.csv');
  assert.equal(d.compression, 'none');
  assert.equal(d.emptyWindow, 'skip');
  assert.equal(d.trailer, null);
  assert.equal(d.injectionGuard, false);
  assert.ok(d.maxFileSize <= 8 * 1024 * 1024, 'base64 of a part stays well under a 10 MB SMTP limit');
  assert.ok(Object.isFrozen(d) && Object.isFrozen(d.columns) && Object.isFrozen(d.columns[0]));
});

test('spec: nothing, null and {} mean the default', () => {
  assert.deepEqual(parseFormatSpec(undefined), DEFAULT_FORMAT_SPEC);
  assert.deepEqual(parseFormatSpec(null), DEFAULT_FORMAT_SPEC);
  assert.deepEqual(parseFormatSpec({}), DEFAULT_FORMAT_SPEC);
});

test('spec: a parsed spec survives JSON storage unchanged', () => {
  const inputs: unknown[] = [
    {},
    {
      columns: [
        'BAR_CODE',
        { field: 'PRICE', header: 'Prix' },
        { constant: 'ACME', header: 'Vendor' },
        'CREATED_AT',
      ],
      separator: 'tab',
      header: false,
      quoting: 'ALL',
      lineEnding: 'crlf',
      encoding: 'latin1',
      unmappable: 'transliterate',
      dateFormat: 'DD.MM.YYYY',
      dateTimeFormat: 'YYYYMMDDTHHmmssZ',
      decimalSeparator: ',',
      decimals: 0,
      fileName: 'tickets_{interface}_{date}_{part}.txt',
      compression: 'gzip',
      maxFileSize: '2 MiB',
      emptyWindow: 'header-only',
      trailer: true,
      injectionGuard: true,
    },
  ];
  for (const input of inputs) {
    const spec = parseFormatSpec(input);
    const stored = JSON.parse(JSON.stringify(spec)) as unknown;
    assert.deepEqual(parseFormatSpec(stored), spec);
    assert.deepEqual(stored, spec);
  }
});

test('spec: spelling variants are stored in their canonical form', () => {
  const spec = parseFormatSpec({
    separator: 'tab',
    quoting: 'ALL',
    lineEnding: 'crlf',
    encoding: 'CP1252',
    maxFileSize: '2MiB',
    trailer: true,
    columns: ['PRICE', { field: 'BAR_CODE' }],
  });
  assert.equal(spec.separator, '\t');
  assert.equal(spec.quoting, 'all');
  assert.equal(spec.lineEnding, 'CRLF');
  assert.equal(spec.encoding, 'windows-1252');
  assert.equal(spec.maxFileSize, 2 * 1024 * 1024);
  assert.deepEqual(spec.trailer, { label: 'TRAILER' });
  assert.deepEqual(spec.columns, [
    { field: 'PRICE', header: 'PRICE' },
    { field: 'BAR_CODE', header: 'BAR_CODE' },
  ]);
  assert.equal(parseFormatSpec({ maxFileSize: '500 KB' }).maxFileSize, 500_000);
  assert.equal(parseFormatSpec({ trailer: false }).trailer, null);
  assert.equal(parseFormatSpec({ separator: '\\t' }).separator, '\t');
  assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.columns[0]));
});

test('spec: refusals name the field and the value', () => {
  const cases: Array<[unknown, string]> = [
    [{ separator: ':' }, 'format: separator must be one of ";", ",", "\\t", "|" (got ":")'],
    [{ seperator: ';' }, 'format: unknown field "seperator"'],
    [{ quoting: 'some' }, 'format: quoting must be one of "minimal", "all", "none" (got "some")'],
    [{ lineEnding: 'CR' }, 'format: lineEnding must be one of "LF", "CRLF" (got "CR")'],
    [
      { encoding: 'utf-16' },
      'format: encoding must be one of "utf-8", "utf-8-bom", "iso-8859-1", "windows-1252" (got "utf-16")',
    ],
    [{ header: 'yes' }, 'format: header must be true or false (got "yes")'],
    [{ decimals: 5 }, 'format: decimals must be at most 4 (got 5)'],
    [{ decimals: 1.5 }, 'format: decimals must be an integer (got 1.5)'],
    [{ decimalSeparator: "'" }, `format: decimalSeparator must be one of ".", "," (got "'")`],
    [{ maxFileSize: 1000 }, 'format: maxFileSize must be at least 65536 (got 1000)'],
    [{ maxFileSize: '3 parsecs' }, 'format: maxFileSize must be a number (got "3 parsecs")'],
    [{ columns: [] }, 'format: columns must have at least 1 item (got [])'],
    [{ columns: 'BAR_CODE' }, 'format: columns must be an array (got "BAR_CODE")'],
    [{ columns: ['BAR_CODE', 'BARCODE'] }, 'format: columns[1] must be one of "BAR_CODE"'],
    [{ columns: [{ field: 'PRICE', heading: 'Prix' }] }, 'format: columns[0] has an unknown field "heading"'],
    [
      { columns: [{ constant: 'x' }] },
      'format: columns[0].header is missing: a constant column needs a header',
    ],
    [
      { columns: [{ field: 'PRICE', constant: 'x', header: 'P' }] },
      'format: columns[0] must have either "field" or "constant", not both',
    ],
    [{ columns: [{ field: 'PRICE', header: '' }] }, 'format: columns[0].header must not be empty (got "")'],
    [
      { columns: ['PRICE', { field: 'BAR_CODE', header: 'PRICE' }] },
      'format: columns[1].header repeats the header of columns[0] (got "PRICE")',
    ],
    [
      { columns: [{ constant: 'a\nb', header: 'X' }] },
      'format: columns[0].constant cannot contain control characters (tab, CR, LF...) (got "a\\nb")',
    ],
    [
      { quoting: 'none', columns: [{ constant: 'a;b', header: 'X' }] },
      'format: columns[0].constant cannot contain ";" with quoting "none" (got "a;b")',
    ],
    [
      { quoting: 'none', separator: ',', columns: [{ field: 'PRICE', header: 'Price, EUR' }] },
      'format: columns[0].header cannot contain "," with quoting "none" (got "Price, EUR")',
    ],
    [
      { quoting: 'none', separator: ',', decimalSeparator: ',' },
      'format: decimalSeparator cannot be the separator with quoting "none" (got ",")',
    ],
    [
      { quoting: 'none', separator: ',', dateTimeFormat: 'DD.MM.YYYY, HH:mm' },
      'format: dateTimeFormat cannot contain the separator with quoting "none" (got "DD.MM.YYYY, HH:mm")',
    ],
    [
      { encoding: 'iso-8859-1', columns: [{ field: 'PRICE', header: 'Prix €' }] },
      'format: columns[0].header has U+20AC, which iso-8859-1 cannot encode (unmappable is "fail") (got "Prix €")',
    ],
    [{ dateFormat: 'YYYY-MM-D' }, 'format: dateFormat has "D" at position 9'],
    [
      { dateFormat: 'YYYY-MM-DD HH:mm' },
      'format: dateFormat has HH, which only a date and time format may use',
    ],
    [{ dateTimeFormat: '---' }, 'format: dateTimeFormat has no token'],
    [{ dateTimeFormat: 'YYYY-MM-DD hh:mm' }, 'format: dateTimeFormat has "h" at position 12'],
    [
      { trailer: 'yes' },
      'format: trailer must be true, false, null or an object such as {"label": "TRAILER"} (got "yes")',
    ],
    [{ trailer: { label: '=SUM(A1)' } }, 'format: trailer.label must start with a letter or "#"'],
    [{ version: 2 }, 'format: version must be 1 (got 2)'],
    [[], 'format: the format must be an object (got [])'],
    [
      { compression: 'zip', fileName: 'x_{part}of{parts}.csv' },
      'format: fileName cannot use {parts} with zip compression',
    ],
  ];
  for (const [input, expected] of cases) {
    assert.ok(
      refusal(input).startsWith(expected),
      `${JSON.stringify(input)}\n  gave    ${refusal(input)}\n  expected ${expected}`,
    );
  }
});

test('spec: file name templates cannot escape the name or hide it', () => {
  const tricks: Array<[string, RegExp]> = [
    [
      '../barcodes.csv',
      /fileName may only use letters, digits, "\.", "_", "-" and placeholders \(has "\/"\)/,
    ],
    ['..\\barcodes.csv', /has "\\\\"/],
    ['/etc/passwd.csv', /has "\/"/],
    ['a/../../b.csv', /has "\/"/],
    ['x..csv', /cannot contain "\.\."/],
    ['..csv', /cannot contain "\.\."/],
    ['.hidden.csv', /cannot start with "\."/],
    ['.{interface}.csv', /cannot start with "\."/],
    ['name\u0000.csv', /has "\\u0000"/],
    ['name\n.csv', /has "\\n"/],
    ['new name.csv', /has " "/],
    ['naïve.csv', /has "ï"/],
    ['barcodes_{interface}', /must end with an extension such as "\.csv"/],
    ['barcodes_{interface}.{date}', /must end with an extension/],
    ['.csv', /cannot start with "\."/],
    ['{interfaces}.csv', /unknown placeholder \{interfaces\}/],
    ['{interface.csv', /unmatched "\{"/],
    ['interface}.csv', /unmatched "\}"/],
    ['{{interface}}.csv', /unmatched/],
    [`${'{interface}'.repeat(5)}.csv`, /longer than 255 characters/],
  ];
  for (const [fileName, pattern] of tricks) {
    const message = refusal({ fileName });
    assert.match(message, /^format: fileName /, fileName);
    assert.match(message, pattern, `${JSON.stringify(fileName)}: ${message}`);
    assert.ok(message.includes(JSON.stringify(fileName).slice(0, 20)), `names the value: ${message}`);
  }
  for (const ok of [
    'barcodes_{interface}_{start}_{end}.csv',
    'x.tar.csv',
    '{interface}-{date}-{part}of{parts}.TXT',
    'a_b-c.d.tsv',
  ]) {
    assert.equal(parseFormatSpec({ fileName: ok }).fileName, ok);
  }
});

test('spec: slugify keeps names safe, readable and stable', () => {
  assert.equal(slugify('Barcodes for MyResellerCompany'), 'barcodes-for-myresellercompany');
  assert.equal(slugify('  Zürich Oper / Straße ½ '), 'zurich-oper-strasse-1-2');
  assert.equal(slugify('../../etc/passwd'), 'etc-passwd');
  assert.equal(slugify('.hidden'), 'hidden');
  assert.equal(slugify('😀'), 'interface');
  assert.equal(slugify(''), 'interface');
  assert.equal(slugify('a'.repeat(100)).length, 60);
  assert.equal(slugify(`${'a'.repeat(59)} b`), 'a'.repeat(59));
  assert.match(slugify('Ünïcödé — ÉTÉ 2025'), /^[a-z0-9]+(-[a-z0-9]+)*$/);
});

test('spec: defaultFileName is CONTRACT.md §3', () => {
  assert.equal(
    defaultFileName(
      'Barcodes for MyResellerCompany',
      new Date('2025-03-30T00:45:00Z'),
      new Date('2025-03-30T01:00:00.999Z'),
    ),
    'barcodes_barcodes-for-myresellercompany_20250330T004500Z_20250330T010000Z.csv',
  );
});

test("spec: every example in the resellers' documentation is a valid spec", () => {
  const readme = path.resolve(__dirname, '../../docs/resellers.md');
  const examples = [...fs.readFileSync(readme, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(examples.length >= 4, `${examples.length} examples`);
  for (const example of examples) parseFormatSpec(JSON.parse(example));
});
