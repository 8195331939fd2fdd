/**
 * The reader of the database renderer's binary COPY (lib/source/copy-window.ts) gets the stream in
 * whatever pieces the socket gave: every row must come out whole and once wherever a piece ends,
 * including rows longer than the part of a chunk it joins to a cut row.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryCopyParser } from '../../lib/source/copy-window';
import { seededRandom } from '../support/seeded-random';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

/** A binary COPY of (line, suspect) rows as PostgreSQL writes it, with a header extension of `extension` bytes. */
function binaryCopy(rows: readonly [string, string | null][], extension = 0): Buffer {
  const parts = [SIGNATURE, int32(0), int32(extension), Buffer.alloc(extension, 7)];
  for (const [line, suspect] of rows) {
    const bytes = Buffer.from(line, 'utf8');
    parts.push(int16(2), int32(bytes.length), bytes);
    if (suspect === null) parts.push(int32(-1));
    else parts.push(int32(Buffer.byteLength(suspect)), Buffer.from(suspect, 'utf8'));
  }
  parts.push(int16(-1));
  return Buffer.concat(parts);
}

/** Feeds `data` cut at `cuts` and returns the lines read, each as text, and the parser. */
function readInPieces(data: Buffer, cuts: readonly number[]): { lines: string[]; parser: BinaryCopyParser } {
  const parser = new BinaryCopyParser();
  const lines: string[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    const { bytes, ends } = parser.push(data.subarray(from, cut));
    let start = 0;
    for (const end of ends) {
      lines.push(bytes.toString('utf8', start, end));
      start = end;
    }
    assert.equal(start, bytes.length, 'the bytes of a batch are exactly its lines');
    from = cut;
    if (parser.suspect !== null) break;
  }
  return { lines, parser };
}

/** Cuts every `size` bytes. */
function every(size: number, length: number): number[] {
  const cuts: number[] = [];
  for (let at = size; at < length; at += size) cuts.push(at);
  return cuts;
}

const LINES = [
  'BAR;STATE\r\n',
  '',
  '0001234567890123;PRINTED;"a ""quoted"" name; with ;"\n',
  'é€😀;\r\n',
  'x'.repeat(100_000) + '\n', // longer than the part of a chunk joined to a cut row
  ...Array.from({ length: 300 }, (_, i) => `${i};VALID;${'y'.repeat(i % 37)}\n`),
  'z'.repeat(70_000),
  'last\n',
];
const ROWS = LINES.map((line): [string, null] => [line, null]);

/** Rows for cuts of a few bytes (the long ones would be joined again at every byte). */
const SHORT_LINES = LINES.filter((line) => line.length < 1000);

describe('binary COPY reader', () => {
  for (const extension of [0, 5]) {
    const cases: [readonly string[], number[]][] = [
      [SHORT_LINES, [1, 2, 3, 7, 19, 20, 23]],
      [LINES, [1000, 65_535, 65_536, 65_537, 150_000, Infinity]],
    ];
    for (const [expected, sizes] of cases) {
      const data = binaryCopy(
        expected.map((line) => [line, null]),
        extension,
      );
      for (const size of sizes) {
        test(`every row once, cut every ${size} bytes (${expected.length} rows, header extension ${extension})`, () => {
          const { lines, parser } = readInPieces(data, every(size, data.length));
          assert.deepEqual(lines, expected);
          assert.equal(parser.suspect, null);
          parser.end();
        });
      }
    }
  }

  test('every row once, cut at 200 random places in each of 20 streams', () => {
    const data = binaryCopy(ROWS);
    for (let seed = 1; seed <= 20; seed++) {
      const next = seededRandom(seed);
      const cuts = [...new Set(Array.from({ length: 200 }, () => Math.floor(next() * data.length)))]
        .filter((cut) => cut > 0)
        .sort((a, b) => a - b);
      assert.deepEqual(readInPieces(data, cuts).lines, LINES, `seed ${seed}`);
    }
  });

  test('stops at a flagged row: the lines before it, its ticket id, nothing after', () => {
    for (const [before, sizes] of [
      [SHORT_LINES.slice(0, 10), [1, 5]],
      [LINES.slice(0, 10), [65_536, Infinity]],
    ] as const) {
      const data = binaryCopy([
        ...before.map((line): [string, null] => [line, null]),
        ['bad\n', '4711'],
        ['after\n', null],
      ]);
      for (const size of sizes) {
        const { lines, parser } = readInPieces(data, every(size, data.length));
        assert.deepEqual(lines, before, `cut every ${size}`);
        assert.equal(parser.suspect, '4711');
      }
    }
  });

  test('a stream cut off before its trailer is refused at the end', () => {
    const data = binaryCopy(ROWS);
    const { parser } = readInPieces(data.subarray(0, data.length - 2), []);
    assert.throws(() => parser.end(), /ended without its trailer/);
  });

  test('a stream that is not a binary COPY is refused', () => {
    assert.throws(() => new BinaryCopyParser().push(Buffer.alloc(40, 65)), /unexpected signature/);
  });
});
