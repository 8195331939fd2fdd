/**
 * File names: the slug of an interface name, CONTRACT.md §3's default name, and the spec's
 * template. A template is validated when the spec is parsed so that no interface name, window or
 * part number can make a name holding `/`, `\`, `..`, a control character or a leading `.`:
 * literals may only use letters, digits, `.`, `_` and `-`, and every placeholder expands to
 * letters, digits and `-` only.
 */

import { compactLocalDate, compactUtcStamp } from './datetime';
import type { FormatSpec } from './spec';

const FILE_NAME_PLACEHOLDERS = ['interface', 'start', 'end', 'date', 'part', 'parts'] as const;
type FileNamePlaceholder = (typeof FILE_NAME_PLACEHOLDERS)[number];

const MAX_SLUG_LENGTH = 60;

/** Letters NFKD leaves alone, folded the way a reader would expect in a file name. */
const SLUG_LETTERS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};

/**
 * `"Barcodes for MyResellerCompany"` → `"barcodes-for-myresellercompany"`: lower-case ASCII letters
 * and digits joined by single `-`, accents folded, at most 60 characters, never empty
 * (`interface` when nothing is left).
 */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþı]/g, (letter) => SLUG_LETTERS[letter]!)
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG_LENGTH)
    .replace(/-+$/, '');
  return slug || 'interface';
}

/** CONTRACT.md §3: `barcodes_<slug>_<start>_<end>.csv`, times in UTC as `YYYYMMDDTHHmmssZ`. */
export function defaultFileName(interfaceName: string, windowStart: Date, windowEnd: Date): string {
  return `barcodes_${slugify(interfaceName)}_${compactUtcStamp(windowStart)}_${compactUtcStamp(windowEnd)}.csv`;
}

type TemplatePiece = { readonly literal: string } | { readonly placeholder: FileNamePlaceholder };

/** A validated file name template, split into its stem and its extension (`.csv`). */
export interface FileNameTemplate {
  readonly stem: readonly TemplatePiece[];
  readonly extension: string;
  readonly hasPart: boolean;
  readonly hasParts: boolean;
}

/** What file systems and mail clients accept. */
const MAX_FILE_NAME_LENGTH = 255;
const MAX_PLACEHOLDER_LENGTH: Readonly<Record<FileNamePlaceholder, number>> = {
  interface: MAX_SLUG_LENGTH,
  start: 16,
  end: 16,
  date: 8,
  part: 4,
  parts: 4,
};

const LITERAL = /^[A-Za-z0-9._-]*$/;
const EXTENSION = /\.[A-Za-z0-9]{1,10}$/;

/** Parses a template, or says in one line why it cannot be one. */
export function parseFileNameTemplate(template: string): FileNameTemplate | { error: string } {
  const pieces: TemplatePiece[] = [];
  const tokenizer = /\{([^{}]*)\}|([^{}]+)|([{}])/g;
  for (let m = tokenizer.exec(template); m !== null; m = tokenizer.exec(template)) {
    if (m[1] !== undefined) {
      const name = m[1];
      if (!(FILE_NAME_PLACEHOLDERS as readonly string[]).includes(name)) {
        return {
          error: `has an unknown placeholder {${name}} (use ${FILE_NAME_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`,
        };
      }
      pieces.push({ placeholder: name as FileNamePlaceholder });
    } else if (m[2] !== undefined) {
      const literal = m[2];
      if (!LITERAL.test(literal)) {
        const bad = [...literal].find((c) => !LITERAL.test(c))!;
        return {
          error: `may only use letters, digits, ".", "_", "-" and placeholders (has ${JSON.stringify(bad)})`,
        };
      }
      if (literal.includes('..')) return { error: 'cannot contain ".."' };
      pieces.push({ literal });
    } else {
      return { error: `has an unmatched ${JSON.stringify(m[3])}` };
    }
  }
  const first = pieces[0];
  if (first !== undefined && 'literal' in first && first.literal.startsWith('.')) {
    return { error: 'cannot start with "."' };
  }
  const last = pieces[pieces.length - 1];
  const extension = last !== undefined && 'literal' in last ? EXTENSION.exec(last.literal)?.[0] : undefined;
  if (last === undefined || extension === undefined || !('literal' in last)) {
    return { error: 'must end with an extension such as ".csv"' };
  }
  const stemOfLast = last.literal.slice(0, last.literal.length - extension.length);
  const stem = pieces.slice(0, -1);
  if (stemOfLast) stem.push({ literal: stemOfLast });
  if (stem.length === 0) return { error: 'must have a name before its extension' };
  const placeholders = stem.flatMap((p) => ('placeholder' in p ? [p.placeholder] : []));
  const longest =
    template.length +
    placeholders.reduce((sum, p) => sum + MAX_PLACEHOLDER_LENGTH[p], 0) +
    '_part9999of9999.gz'.length;
  if (longest > MAX_FILE_NAME_LENGTH) {
    return { error: `could make names longer than ${MAX_FILE_NAME_LENGTH} characters` };
  }
  return {
    stem,
    extension,
    hasPart: placeholders.includes('part'),
    hasParts: placeholders.includes('parts'),
  };
}

/** What the placeholders of a window expand to (all letters, digits and `-`). */
export interface FileNameValues {
  readonly interface: string;
  readonly start: string;
  readonly end: string;
  readonly date: string;
}

export function fileNameValues(
  interfaceName: string,
  windowStart: Date,
  windowEnd: Date,
  timeZone: string,
): FileNameValues {
  return {
    interface: slugify(interfaceName),
    start: compactUtcStamp(windowStart),
    end: compactUtcStamp(windowEnd),
    date: compactLocalDate(windowStart, timeZone),
  };
}

function renderStem(template: FileNameTemplate, values: FileNameValues, part: string, parts: string): string {
  let out = '';
  for (const piece of template.stem) {
    if ('literal' in piece) out += piece.literal;
    else if (piece.placeholder === 'part') out += part;
    else if (piece.placeholder === 'parts') out += parts;
    else out += values[piece.placeholder];
  }
  return out;
}

/** Part numbers have at least two digits, and as many as the part count needs so names sort. */
function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * The name of part `part` of `parts`. A window of several parts whose template has no {part} gets
 * `_partIIofNN` before the extension (`barcodes_x_…Z_part01of03.csv`). gzip appends `.gz`; zip
 * replaces the extension with `.zip`.
 */
export function partFileName(
  template: FileNameTemplate,
  values: FileNameValues,
  part: number,
  parts: number,
  compression: FormatSpec['compression'],
): string {
  const width = Math.max(2, String(parts).length);
  let stem = renderStem(template, values, pad(part, width), pad(parts, width));
  if (parts > 1 && !template.hasPart) stem += `_part${pad(part, width)}of${pad(parts, width)}`;
  switch (compression) {
    case 'none':
      return stem + template.extension;
    case 'gzip':
      return `${stem}${template.extension}.gz`;
    case 'zip':
      return `${stem}.zip`;
  }
}

/**
 * The name of the file inside the zip of part `part`. The entry is written when its part ends,
 * before the part count is known, so it never holds the count ({parts} is refused with zip): a
 * window of one part holds `<stem>.csv`, the parts of a longer window `<stem>_partII.csv`.
 */
export function zipEntryName(
  template: FileNameTemplate,
  values: FileNameValues,
  part: number,
  onlyPart: boolean,
): string {
  let stem = renderStem(template, values, pad(part, 2), '');
  if (!onlyPart && !template.hasPart) stem += `_part${pad(part, 2)}`;
  return stem + template.extension;
}

/**
 * The name of the plain file inside encrypted part `part` (OpenPGP literal data). Like a zip
 * entry, it is written when its part ends, before the part count is known: a window of one part
 * holds exactly its attachment's name without the encryption suffix, the parts of a longer window
 * `<stem>_partII<ext>` (plus `.gz`, or `.zip` in place of the extension), where a {parts} of the
 * template is empty.
 */
export function encryptedPlainFileName(
  template: FileNameTemplate,
  values: FileNameValues,
  part: number,
  onlyPart: boolean,
  compression: FormatSpec['compression'],
): string {
  if (onlyPart) return partFileName(template, values, 1, 1, compression);
  const entry = zipEntryName(template, values, part, false);
  switch (compression) {
    case 'none':
      return entry;
    case 'gzip':
      return `${entry}.gz`;
    case 'zip':
      return `${entry.slice(0, entry.length - template.extension.length)}.zip`;
  }
}
