/**
 * The hand-written quoting of lib/format/csv.ts against csv-stringify, on adversarial values:
 * identical output once csv-stringify is told to quote CR and LF too (by default it only quotes
 * its record delimiter, so a lone CR would go out unquoted), and the same formula guard.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse/sync';
import { createQuoter, guardFormula, quote } from '../lib/format/csv';
import { SPEC_CHOICES } from '../lib/format/spec';
import { seededRandom } from './support/seeded-random';

const PIECES = [
  '',
  ';',
  ',',
  '\t',
  '|',
  '"',
  '""',
  '\r',
  '\n',
  '\r\n',
  '=',
  '+',
  '-',
  '@',
  ' ',
  'a',
  'é',
  '😀',
  '\u2028',
  '\u0000',
  "'",
  '＝',
  '＋',
  'x,y',
  '"quoted"',
];

function adversarialValues(): string[] {
  const random = seededRandom(20250501);
  const values = new Set<string>(PIECES);
  for (const a of PIECES) for (const b of PIECES) values.add(a + b);
  for (let i = 0; i < 3000; i++) {
    let value = '';
    const length = Math.floor(random() * 7);
    for (let j = 0; j < length; j++) value += PIECES[Math.floor(random() * PIECES.length)];
    values.add(value);
  }
  return [...values];
}

const VALUES = adversarialValues();

test('csv: minimal quoting is csv-stringify quoting CR and LF too', () => {
  for (const separator of SPEC_CHOICES.separator) {
    const quoter = createQuoter('minimal', separator);
    for (const value of VALUES) {
      const expected = stringify([[value]], {
        delimiter: separator,
        record_delimiter: 'unix',
        quoted_match: /[\r\n]/,
      });
      assert.equal(`${quoter(value)}\n`, expected, `${JSON.stringify(separator)} ${JSON.stringify(value)}`);
    }
  }
});

test('csv: csv-stringify alone leaves a lone CR unquoted (why csv.ts does not use it)', () => {
  assert.equal(stringify([['a\rb']], { delimiter: ';', record_delimiter: 'unix' }), 'a\rb\n');
  assert.equal(createQuoter('minimal', ';')('a\rb'), '"a\rb"');
});

test('csv: quoting "all" is csv-stringify with quoted and quoted_empty', () => {
  for (const value of VALUES) {
    const expected = stringify([[value]], {
      delimiter: ';',
      record_delimiter: 'unix',
      quoted: true,
      quoted_empty: true,
    });
    assert.equal(`${quote(value)}\n`, expected, JSON.stringify(value));
  }
});

test('csv: the formula guard is csv-stringify escape_formulas', () => {
  for (const separator of SPEC_CHOICES.separator) {
    const quoter = createQuoter('minimal', separator);
    for (const value of VALUES) {
      const expected = stringify([[value]], {
        delimiter: separator,
        record_delimiter: 'unix',
        quoted_match: /[\r\n]/,
        escape_formulas: true,
      });
      assert.equal(
        `${quoter(guardFormula(value))}\n`,
        expected,
        `${JSON.stringify(separator)} ${JSON.stringify(value)}`,
      );
    }
  }
});

test('csv: every quoted record reads back with csv-parse', () => {
  const random = seededRandom(7);
  for (const separator of SPEC_CHOICES.separator) {
    const quoter = createQuoter('minimal', separator);
    for (let i = 0; i < 300; i++) {
      const record = Array.from(
        { length: 1 + Math.floor(random() * 5) },
        () => VALUES[Math.floor(random() * VALUES.length)]!,
      );
      // A record of one empty field is an empty line, which CSV cannot tell from no record.
      if (record.length === 1 && record[0] === '') continue;
      const line = `${record.map(quoter).join(separator)}\r\n`;
      assert.deepEqual(
        parse(line, { delimiter: separator, record_delimiter: '\r\n' }),
        [record],
        JSON.stringify(line),
      );
    }
  }
});
