/**
 * The file's character encodings, and what happens to a character an encoding cannot hold.
 *
 * Values are first normalised to NFC when (and only when) they hold such a character, so a
 * decomposed "e + combining acute" becomes the "é" ISO-8859-1 has. Then, per code point:
 * - `fail`: the caller gets the code point back and refuses the window, naming it;
 * - `replace`: `?`;
 * - `transliterate`: dropped if invisible (zero-width joiner, variation selector, skin tone);
 *   else a small table (œ → oe, € → EUR, ł → l, typographic quotes and dashes); else its NFKD
 *   decomposition without the combining marks (ř → r, ™ → TM, … → ...) if that fits; else `?`.
 */

import type { FormatSpec } from './spec';

type Encoding = FormatSpec['encoding'];

export interface Charset {
  readonly encoding: Encoding;
  /** Bytes at the start of every file (the UTF-8 byte order mark for `utf-8-bom`). */
  readonly bom: Buffer;
  /** Most bytes one UTF-16 code unit can take: bounds a string's size without encoding it. */
  readonly maxBytesPerUnit: number;
  /** Matches a character the encoding cannot hold; null when it holds everything (UTF-8). */
  readonly unmappable: RegExp | null;
  canEncode(codePoint: number): boolean;
  /** Encodes text in which every character can be encoded (see mapToCharset). */
  encode(text: string): Buffer;
  byteLength(text: string): number;
}

/** The characters Windows-1252 puts in 0x80–0x9F, where ISO-8859-1 has C1 controls. */
const WINDOWS_1252_HIGH: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80],
  [0x201a, 0x82],
  [0x0192, 0x83],
  [0x201e, 0x84],
  [0x2026, 0x85],
  [0x2020, 0x86],
  [0x2021, 0x87],
  [0x02c6, 0x88],
  [0x2030, 0x89],
  [0x0160, 0x8a],
  [0x2039, 0x8b],
  [0x0152, 0x8c],
  [0x017d, 0x8e],
  [0x2018, 0x91],
  [0x2019, 0x92],
  [0x201c, 0x93],
  [0x201d, 0x94],
  [0x2022, 0x95],
  [0x2013, 0x96],
  [0x2014, 0x97],
  [0x02dc, 0x98],
  [0x2122, 0x99],
  [0x0161, 0x9a],
  [0x203a, 0x9b],
  [0x0153, 0x9c],
  [0x017e, 0x9e],
  [0x0178, 0x9f],
]);

const NOT_LATIN1 = /[^\u0000-\u00ff]/;
const ABOVE_LATIN1 = /[^\u0000-\u00ff]/g;
const NOT_WINDOWS_1252 = new RegExp(
  `[^\\u0000-\\u007f\\u00a0-\\u00ff${[...WINDOWS_1252_HIGH.keys()].map((cp) => `\\u${cp.toString(16).padStart(4, '0')}`).join('')}]`,
);

const EMPTY = Buffer.alloc(0);

const utf8: Charset = {
  encoding: 'utf-8',
  bom: EMPTY,
  maxBytesPerUnit: 3,
  unmappable: null,
  canEncode: () => true,
  encode: (text) => Buffer.from(text, 'utf8'),
  byteLength: (text) => Buffer.byteLength(text, 'utf8'),
};

const latin1: Charset = {
  encoding: 'iso-8859-1',
  bom: EMPTY,
  maxBytesPerUnit: 1,
  unmappable: NOT_LATIN1,
  canEncode: (cp) => cp <= 0xff,
  encode: (text) => Buffer.from(text, 'latin1'),
  byteLength: (text) => text.length,
};

const windows1252: Charset = {
  encoding: 'windows-1252',
  bom: EMPTY,
  maxBytesPerUnit: 1,
  unmappable: NOT_WINDOWS_1252,
  canEncode: (cp) => cp < 0x80 || (cp >= 0xa0 && cp <= 0xff) || WINDOWS_1252_HIGH.has(cp),
  encode: (text) => {
    // Latin-1 bytes are right for everything but the 27 characters of 0x80–0x9F, patched after.
    const bytes = Buffer.from(text, 'latin1');
    ABOVE_LATIN1.lastIndex = 0;
    for (let m = ABOVE_LATIN1.exec(text); m !== null; m = ABOVE_LATIN1.exec(text)) {
      bytes[m.index] = WINDOWS_1252_HIGH.get(m[0].charCodeAt(0)) ?? 0x3f;
    }
    return bytes;
  },
  byteLength: (text) => text.length,
};

const CHARSETS: Readonly<Record<Encoding, Charset>> = {
  'utf-8': utf8,
  'utf-8-bom': { ...utf8, encoding: 'utf-8-bom', bom: Buffer.from([0xef, 0xbb, 0xbf]) },
  'iso-8859-1': latin1,
  'windows-1252': windows1252,
};

export function getCharset(encoding: Encoding): Charset {
  return CHARSETS[encoding];
}

/** A character the encoding cannot hold, met under the `fail` policy. */
interface UnmappableCharacter {
  readonly codePoint: number;
}

/** `U+00E9`, `U+1F600`: how errors name a character (never the value, which may be a bar code). */
export function formatCodePoint(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Makes `value` encodable under the policy, or returns the first character that is not (policy
 * `fail`). Values the encoding holds as they are come back unchanged.
 */
export function mapToCharset(
  value: string,
  charset: Charset,
  policy: FormatSpec['unmappable'],
): string | UnmappableCharacter {
  if (charset.unmappable === null || !charset.unmappable.test(value)) return value;
  const text = value.normalize('NFC');
  if (!charset.unmappable.test(text)) return text;
  let out = '';
  for (const char of text) {
    const codePoint = char.codePointAt(0)!;
    if (charset.canEncode(codePoint)) out += char;
    else if (policy === 'fail') return { codePoint };
    else if (policy === 'replace') out += '?';
    else out += transliterate(char, codePoint, charset);
  }
  return out;
}

/** Invisible code points that only modify their neighbours: dropping them loses nothing readable. */
function isIgnorable(codePoint: number): boolean {
  return (
    (codePoint >= 0x200b && codePoint <= 0x200f) || // zero-width space, joiners, direction marks
    codePoint === 0x2060 || // word joiner
    codePoint === 0xfeff || // zero-width no-break space
    (codePoint >= 0xfe00 && codePoint <= 0xfe0f) || // variation selectors
    (codePoint >= 0x1f3fb && codePoint <= 0x1f3ff) || // emoji skin tones
    (codePoint >= 0xe0000 && codePoint <= 0xe007f) // tags
  );
}

/** Letters and signs NFKD does not decompose, and typography that has a plain equivalent. */
const TRANSLITERATIONS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    Œ: 'OE',
    œ: 'oe',
    Æ: 'AE',
    æ: 'ae',
    ß: 'ss',
    ẞ: 'SS',
    Ø: 'O',
    ø: 'o',
    Đ: 'D',
    đ: 'd',
    Ð: 'D',
    ð: 'd',
    Ł: 'L',
    ł: 'l',
    Ħ: 'H',
    ħ: 'h',
    ı: 'i',
    Ŧ: 'T',
    ŧ: 't',
    Ŋ: 'N',
    ŋ: 'n',
    Þ: 'Th',
    þ: 'th',
    ĸ: 'q',
    '‘': "'",
    '’': "'",
    '‚': "'",
    '‛': "'",
    '′': "'",
    '‹': '<',
    '›': '>',
    '“': '"',
    '”': '"',
    '„': '"',
    '‟': '"',
    '″': '"',
    '«': '"',
    '»': '"',
    '‐': '-',
    '‑': '-',
    '‒': '-',
    '–': '-',
    '—': '-',
    '―': '-',
    '−': '-',
    '•': '*',
    '·': '.',
    '€': 'EUR',
    '£': 'GBP',
    '¥': 'JPY',
    '₹': 'INR',
    '©': '(C)',
    '®': '(R)',
    '†': '+',
    '‡': '+',
    ˆ: '^',
    '˜': '~',
    '‰': '%.',
    '×': 'x',
    '÷': '/',
    '¡': '!',
    '¿': '?',
  }),
);

const COMBINING_MARKS = /\p{M}/gu;

function transliterate(char: string, codePoint: number, charset: Charset): string {
  if (isIgnorable(codePoint)) return '';
  const fromTable = TRANSLITERATIONS.get(char);
  if (fromTable !== undefined && fitsIn(fromTable, charset)) return fromTable;
  const decomposed = char.normalize('NFKD').replace(COMBINING_MARKS, '');
  if (decomposed.length > 0 && fitsIn(decomposed, charset)) return decomposed;
  return '?';
}

function fitsIn(text: string, charset: Charset): boolean {
  return charset.unmappable === null || !charset.unmappable.test(text);
}
