/**
 * PRICE rendering on the decimal text PostgreSQL gives (`1234.50`, `-3.00`), with string
 * arithmetic only: a float would turn 0.285 into 0.28499999999999998 and round it the wrong way.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d*))?$/;

/** Adds one to a string of decimal digits (`"199"` → `"200"`, `"99"` → `"100"`). */
function incrementDigits(digits: string): string {
  let i = digits.length - 1;
  while (i >= 0 && digits.charCodeAt(i) === 57 /* 9 */) i -= 1;
  if (i < 0) return `1${'0'.repeat(digits.length)}`;
  return (
    digits.slice(0, i) + String.fromCharCode(digits.charCodeAt(i) + 1) + '0'.repeat(digits.length - i - 1)
  );
}

/**
 * Formats a decimal with exactly `decimals` decimals, rounding half away from zero (as
 * PostgreSQL's round() does), without grouping. Text that is not a plain decimal (`NaN`) is
 * returned unchanged: it is what the database holds, and guessing would corrupt it.
 */
export function formatDecimal(text: string, decimals: number, separator: string): string {
  const match = DECIMAL.exec(text);
  if (match === null) return text;
  const sign = match[1]!;
  let integer = match[2]!;
  let fraction = match[3] ?? '';
  if (fraction.length > decimals) {
    const roundUp = fraction.charCodeAt(decimals) >= 53; /* 5 */
    fraction = fraction.slice(0, decimals);
    if (roundUp) {
      const bumped = incrementDigits(integer + fraction);
      integer = bumped.slice(0, bumped.length - decimals);
      fraction = bumped.slice(bumped.length - decimals);
    }
  } else if (fraction.length < decimals) {
    fraction = fraction.padEnd(decimals, '0');
  }
  integer = integer.replace(/^0+(?=\d)/, '');
  const isZero = /^0*$/.test(integer) && /^0*$/.test(fraction);
  return (isZero ? '' : sign) + integer + (decimals > 0 ? separator + fraction : '');
}

/**
 * The price formatter of a spec. The default (two decimals with a dot) is the shape
 * numeric(12,2) already has, so such values go through untouched.
 */
export function createPriceFormatter(decimals: number, separator: string): (text: string) => string {
  return (text) => {
    const dot = text.length - decimals - 1;
    if (
      decimals > 0 &&
      dot > 0 &&
      text.charCodeAt(dot) === 46 /* . */ &&
      text.indexOf('.') === dot &&
      isCanonical(text)
    ) {
      return separator === '.' ? text : text.slice(0, dot) + separator + text.slice(dot + 1);
    }
    return formatDecimal(text, decimals, separator);
  };
}

/** `-?digits.digits` without superfluous leading zeros and not a negative zero: the output formatDecimal would give. */
function isCanonical(text: string): boolean {
  const start = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  let nonZero = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) continue;
    if (c < 48 || c > 57) return false;
    if (c !== 48) nonZero = true;
  }
  if (start === 1 && !nonZero) return false; // -0.00 prints as 0.00
  // A leading zero is only canonical directly before the dot (0.50, not 012.50).
  return !(text.charCodeAt(start) === 48 && text.charCodeAt(start + 1) !== 46);
}
