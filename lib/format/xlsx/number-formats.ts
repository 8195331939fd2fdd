/**
 * Excel number formats ("numFmt" codes) for the cells that are not text: the spec's dateFormat and
 * dateTimeFormat tokens translated, so an xlsx date cell shows what the CSV file would print, and
 * a price format with the spec's decimals.
 */

import type { FormatPiece } from '../datetime';

const TOKEN_CODES: Readonly<Record<string, string>> = {
  YYYY: 'yyyy',
  YY: 'yy',
  MM: 'mm',
  DD: 'dd',
  HH: 'hh',
  mm: 'mm',
  ss: 'ss',
  // Fractions of a second in Excel are digits after the seconds' decimal point.
  SSS: '000',
};

/**
 * A date format as an Excel number format: tokens become codes, every literal is escaped with `\`
 * (so `T` or `Z` never reads as a code), except a `.` right before SSS, which is the seconds'
 * decimal point Excel needs there. Excel reads `mm` as minutes after `hh` or before `ss`, and as a
 * month otherwise: the same reading as the spec's MM and mm in the formats it accepts.
 */
export function excelDateFormat(pieces: readonly FormatPiece[]): string {
  let code = '';
  pieces.forEach((piece, i) => {
    if ('token' in piece) {
      code += TOKEN_CODES[piece.token]!;
      return;
    }
    const next = pieces[i + 1];
    for (let c = 0; c < piece.literal.length; c += 1) {
      const char = piece.literal[c]!;
      const beforeFraction =
        char === '.' &&
        c === piece.literal.length - 1 &&
        next !== undefined &&
        'token' in next &&
        next.token === 'SSS';
      code += beforeFraction ? '.' : `\\${char}`;
    }
  });
  return code;
}

/** `0.00` for two decimals, `0` for none: no grouping, like the CSV file. */
export function excelPriceFormat(decimals: number): string {
  return decimals === 0 ? '0' : `0.${'0'.repeat(decimals)}`;
}

/** Excel's built-in "text" format: a code cell a user edits stays text. */
export const TEXT_FORMAT = '@';
