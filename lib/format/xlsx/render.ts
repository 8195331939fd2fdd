/**
 * renderXlsxWindow: the xlsx file type, behind the same interface as CSV (rows in, parts to a
 * PartSink). A part holds at most spec.maxRowsPerFile data rows (plus its header row); each part
 * is a complete workbook of one sheet. Rows are committed as they come and the renderer waits for
 * the sink every batch, so memory stays flat however large the window.
 *
 * Column widths must be written before the first row (they precede the rows in the sheet's XML),
 * so the first batch of the window (up to WIDTH_SAMPLE_ROWS rows) is held, measured, then written;
 * the same widths serve every part, so the same window always gives the same bytes.
 */

import { FormatError } from '../../errors';
import type { TicketRow } from '../../tickets';
import {
  encryptedPlainFileName,
  fileNameValues,
  type FileNameTemplate,
  type FileNameValues,
} from '../filename';
import { openPartOutput, type PartOutput } from '../output';
import { namedParts, type FinishedPart } from '../part-files';
import type { FormatSpec } from '../spec';
import type { PartSink, RenderContext, RenderResult } from '../types';
import { compileXlsxColumns, type CellValue, type XlsxColumn } from './cells';
import { columnWidth, XLSX_CONTENT_TYPE, XlsxPartWriter } from './workbook';

/** Rows measured for the column widths. */
const WIDTH_SAMPLE_ROWS = 1000;
/** Rows committed between two waits for the sink. */
const ROWS_PER_DRAIN = 1000;

export async function renderXlsxWindow(
  rows: AsyncIterable<TicketRow | readonly TicketRow[]>,
  spec: FormatSpec,
  ctx: RenderContext,
  timeZone: string,
  template: FileNameTemplate,
  sink: PartSink,
): Promise<RenderResult> {
  const maxRows = spec.maxRowsPerFile;
  if (maxRows === null) throw new FormatError('format: maxRowsPerFile is missing for "type": "xlsx"');
  const names = fileNameValues(ctx.interfaceName, ctx.windowStart, ctx.windowEnd, timeZone);
  const columns = compileXlsxColumns(spec, timeZone);
  const parts = new XlsxParts(columns, spec, ctx, sink, maxRows, template, names);

  let ticketCount = 0;
  let sample: CellValue[][] | null = [];
  try {
    for await (const item of rows) {
      const batch = Array.isArray(item) ? (item as readonly TicketRow[]) : [item as TicketRow];
      for (const row of batch) {
        const values = columns.map((column) => column.cell(row));
        ticketCount += 1;
        if (sample !== null) {
          sample.push(values);
          if (sample.length < WIDTH_SAMPLE_ROWS) continue;
          parts.measure(sample);
          for (const held of sample) await parts.add(held);
          sample = null;
          continue;
        }
        await parts.add(values);
      }
    }
    if (sample !== null) {
      parts.measure(sample);
      for (const held of sample) await parts.add(held);
    }
    if (ticketCount === 0 && spec.emptyWindow === 'header-only') await parts.begin();
    await parts.end(true);
  } catch (error) {
    parts.abandon();
    throw error;
  }

  return {
    ticketCount,
    parts: namedParts(
      parts.finished,
      { template, names, compression: 'none', contentType: XLSX_CONTENT_TYPE },
      ctx,
    ),
  };
}

/** Cuts the rows into workbooks of at most maxRows data rows each. */
class XlsxParts {
  readonly finished: FinishedPart[] = [];
  private widths: number[];
  private writer: XlsxPartWriter | null = null;
  private output: PartOutput | null = null;
  private index = 0;
  private rowCount = 0;

  constructor(
    private readonly columns: readonly XlsxColumn[],
    private readonly spec: FormatSpec,
    private readonly ctx: RenderContext,
    private readonly sink: PartSink,
    private readonly maxRows: number,
    private readonly template: FileNameTemplate,
    private readonly names: FileNameValues,
  ) {
    this.widths = columns.map((column) => columnWidth(column.header, 0));
  }

  measure(sample: readonly CellValue[][]): void {
    this.widths = this.columns.map((column, i) => {
      let longest = 0;
      for (const values of sample) longest = Math.max(longest, column.shownLength(values[i]!));
      return columnWidth(column.header, longest);
    });
  }

  async add(values: CellValue[]): Promise<void> {
    if (this.writer !== null && this.rowCount >= this.maxRows) await this.end(false);
    if (this.writer === null) await this.begin();
    this.writer!.addRow(values);
    this.rowCount += 1;
    if (this.rowCount % ROWS_PER_DRAIN === 0) await this.writer!.drained();
  }

  async begin(): Promise<void> {
    this.index += 1;
    this.rowCount = 0;
    await this.sink.beginPart(this.index);
    this.output = openPartOutput('none', this.sink, this.ctx.windowEnd, this.ctx.encryption);
    this.writer = new XlsxPartWriter(this.output, {
      columns: this.columns,
      header: this.spec.header,
      widths: this.widths,
      modified: this.ctx.windowEnd,
    });
  }

  async end(last: boolean): Promise<void> {
    const writer = this.writer;
    const output = this.output;
    if (writer === null || output === null) return;
    await writer.finish();
    const index = this.index;
    const onlyPart = last && index === 1;
    const { byteCount, sha256 } = await output.finish({
      zipEntryName: () => {
        throw new FormatError('format: an xlsx part has no zip entry of its own');
      },
      // The plain file inside an encrypted part is named as the part would be without encryption.
      plainFileName: () => encryptedPlainFileName(this.template, this.names, index, onlyPart, 'none'),
    });
    await this.sink.endPart();
    this.finished.push({ index, rowCount: this.rowCount, byteCount, sha256 });
    this.writer = null;
    this.output = null;
  }

  abandon(): void {
    this.writer?.destroy();
    this.output?.destroy();
    this.writer = null;
    this.output = null;
  }
}
