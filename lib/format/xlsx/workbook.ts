/**
 * One xlsx file (one part) written with exceljs' streaming WorkbookWriter: rows are committed to
 * the zip as they come, so a part never sits in memory as a whole.
 *
 * Same window, same bytes: exceljs stamps the package with the current time in two places, the
 * document properties (docProps/core.xml) and the date of every zip entry (archiver's default).
 * Both are set to the window's end here; the entry dates through archiver's `date` option, which
 * exceljs does not pass, so archiver's append is wrapped (exceljs and archiver are pinned by the
 * lock file; test/format-xlsx.test.ts renders twice a second apart and compares the bytes, so an
 * upgrade that changes this fails there).
 */

import { Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import type { PartOutput } from '../output';
import { xmlText, type CellValue, type XlsxColumn } from './cells';

export const XLSX_CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** The name of the one sheet. */
const SHEET_NAME = 'Barcodes';

/** Written into the document properties instead of exceljs' own name. */
const CREATOR = 'barcodes-export';

/** Bytes of the package waiting for the sink before rows stop being added (backpressure). */
const HIGH_WATER_MARK = 256 * 1024;

/** Widths in characters: room for the text and a little air, never absurdly wide. */
const MIN_WIDTH = 6;
const MAX_WIDTH = 60;

interface ArchiverEntryData {
  name: string;
  date?: Date;
}
interface ArchiverPrototype {
  append(this: { [FIXED_DATE]?: Date }, source: unknown, data: ArchiverEntryData): unknown;
}

const FIXED_DATE = Symbol('barcodes.fixedEntryDate');
/** Set only while a WorkbookWriter is constructed: it appends its first entries from its constructor. */
let constructingWithDate: Date | null = null;
let archiverPatched = false;

/**
 * Dates every zip entry of our workbooks with the window's end instead of now: exceljs passes no
 * date, and archiver then takes the current time. Archives made elsewhere are left alone.
 */
function patchArchiverOnce(): void {
  if (archiverPatched) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const prototype = (require('archiver/lib/core') as { prototype: ArchiverPrototype }).prototype;
  const append = prototype.append;
  prototype.append = function (this: { [FIXED_DATE]?: Date }, source, data) {
    const date = this[FIXED_DATE] ?? constructingWithDate;
    return append.call(this, source, date ? { ...data, date } : data);
  };
  archiverPatched = true;
}

/** Forwards the package's bytes to the part's output, one awaited write at a time. */
class OutputStream extends Writable {
  constructor(private readonly output: PartOutput) {
    super({ highWaterMark: HIGH_WATER_MARK });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.output.write(chunk).then(() => done(), done);
  }
}

interface XlsxPartOptions {
  readonly columns: readonly XlsxColumn[];
  /** Whether row 1 holds the headers (bold, frozen). */
  readonly header: boolean;
  /** Width of each column in characters, measured on the window's first rows. */
  readonly widths: readonly number[];
  /** Stamped on the package: the window's end. */
  readonly modified: Date;
}

export class XlsxPartWriter {
  private readonly stream: OutputStream;
  private readonly workbook: ExcelJS.stream.xlsx.WorkbookWriter;
  private readonly sheet: ExcelJS.Worksheet;
  /** One style object per column, shared by its cells: exceljs caches a style's id by object identity. */
  private readonly columnStyles: Array<Partial<ExcelJS.Style>>;

  constructor(output: PartOutput, options: XlsxPartOptions) {
    this.stream = new OutputStream(output);
    patchArchiverOnce();
    constructingWithDate = options.modified;
    try {
      this.workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
        stream: this.stream,
        useStyles: true,
        useSharedStrings: false,
      });
    } finally {
      constructingWithDate = null;
    }
    (this.workbook as unknown as { zip: { [FIXED_DATE]?: Date } }).zip[FIXED_DATE] = options.modified;
    this.workbook.created = options.modified;
    this.workbook.modified = options.modified;
    this.workbook.creator = CREATOR;
    this.workbook.lastModifiedBy = CREATOR;
    this.sheet = this.workbook.addWorksheet(SHEET_NAME, {
      views: options.header ? [{ state: 'frozen', xSplit: 0, ySplit: 1 }] : [],
    });
    this.columnStyles = options.columns.map((column) => ({ numFmt: column.numFmt }));
    this.sheet.columns = options.columns.map((_, i) => ({
      width: options.widths[i]!,
      style: this.columnStyles[i]!,
    }));
    if (options.header) {
      const row = this.sheet.addRow(options.columns.map((c) => xmlText(c.header)));
      row.font = { bold: true };
      row.eachCell((cell) => {
        cell.numFmt = '@';
      });
      row.commit();
    }
  }

  addRow(values: CellValue[]): void {
    const row = this.sheet.addRow(values);
    // Each new cell gets a fresh copy of its column's style, which exceljs then looks up by value
    // for every cell (most of its time); the shared object is found by identity instead.
    const styles = this.columnStyles;
    for (let c = 0; c < styles.length; c += 1) row.getCell(c + 1).style = styles[c]!;
    row.commit();
  }

  /** Resolves once the package has room again (the sink took what was pending). */
  async drained(): Promise<void> {
    // Let zlib and archiver move what was committed, then wait for the sink if it is behind.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.stream.writableNeedDrain) await new Promise((resolve) => this.stream.once('drain', resolve));
  }

  async finish(): Promise<void> {
    this.sheet.commit();
    await this.workbook.commit();
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/** Width that fits a header and the longest value seen (Excel's unit is about one character). */
export function columnWidth(header: string, longestValue: number): number {
  return Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, header.length + 2, longestValue + 2));
}
