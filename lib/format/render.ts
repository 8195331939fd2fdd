/**
 * renderWindow: streams the tickets of one window into files (parts), never holding more than one
 * batch of rows (~64 KiB of text) plus, for zip or encryption, one (compressed) part.
 */

import { FormatError } from '../errors';
import type { TicketRow } from '../tickets';
import { isValidTimeZone } from './datetime';
import {
  fileNameValues,
  parseFileNameTemplate,
  type FileNameTemplate,
  type FileNameValues,
} from './filename';
import { namedParts, TextPartFiles } from './part-files';
import { parseFormatSpec } from './parse';
import { compileFormat, type CompiledFormat } from './row-encoder';
import type { FormatSpec } from './spec';
import type { PartSink, RenderContext, RenderResult } from './types';
import { renderXlsxWindow } from './xlsx/render';

/** Text collected before it is encoded and written: large enough that per-write costs vanish, small enough to never matter for memory. */
const BATCH_CHARS = 64 * 1024;

/**
 * Renders the tickets of one window with `spec`, writing each part's bytes to `sink`.
 *
 * `rows` yields tickets one by one, or in arrays (e.g. one per pg-cursor read): every step of an
 * async iterator costs a promise, which is most of the cost of a row when async hooks are on (an
 * AsyncLocalStorage such as Temporal's activity context, on Node 20), so batches are much faster.
 *
 * A part begins with the first row, so an empty window with emptyWindow `skip` calls nothing on
 * the sink and returns no parts. A part that would grow past maxFileSize (before compression) is
 * ended and the next begins with its own header; a row is never split, and a row larger than the
 * limit on its own makes a part of one row. File names are decided at the end, when the part
 * count is known. With `ctx.encryption`, each part is encrypted after compression: its name gets
 * the encryption's suffix, and its byteCount and sha256 are those of the encrypted bytes.
 *
 * Throws FormatError when a ticket cannot be written under the spec's "fail" encoding policy or
 * "none" quoting (naming the ticket id, the column and the character, never the bar code), or
 * when the context is invalid. Rows are rendered before their batch is written, so an error on
 * the first rows of a window comes before any write; later ones come after some: either way the
 * window failed as a whole and everything the sink got must be discarded.
 */
export async function renderWindow(
  rows: AsyncIterable<TicketRow | readonly TicketRow[]>,
  spec: FormatSpec,
  ctx: RenderContext,
  sink: PartSink,
): Promise<RenderResult> {
  const start = beginRender(spec, ctx);
  // A file type is a renderer: xlsx has its own, behind the same arguments and result.
  if (start.spec.type === 'xlsx')
    return renderXlsxWindow(rows, start.spec, ctx, start.timeZone, start.template, sink);
  const writer = new PartWriter(start, ctx, sink);
  const encodeRow = writer.format.encodeRow;
  return writer.writeWindow(async () => {
    let ticketCount = 0;
    for await (const item of rows) {
      if (isBatch(item)) {
        for (const row of item) {
          const line = encodeRow(row);
          if (!writer.tryAppend(line)) await writer.append(line);
        }
        ticketCount += item.length;
      } else {
        const line = encodeRow(item);
        if (!writer.tryAppend(line)) await writer.append(line);
        ticketCount += 1;
      }
    }
    return ticketCount;
  });
}

/** A checked spec, its time zone and file name template: what a renderer starts from. */
interface RenderStart {
  spec: FormatSpec;
  timeZone: string;
  template: FileNameTemplate;
}

/**
 * What every renderer starts with: the context checked, the spec parsed again, the file name
 * template parsed (FormatError for any of them, before anything is written).
 */
export function beginRender(spec: FormatSpec, ctx: RenderContext): RenderStart {
  const timeZone = ctx.timeZone || 'UTC';
  checkContext(ctx, timeZone);
  const checked = revalidate(spec);
  const template = parseFileNameTemplate(checked.fileName);
  if ('error' in template) throw new FormatError(`format: fileName ${template.error}`);
  return { spec: checked, timeZone, template };
}

/**
 * What the part writers of the two text renderers share (tickets here, finished lines in
 * encoded-lines.ts): the part files, and the counts they cut parts by. They differ in how they
 * count a part's size.
 */
export abstract class TextPartWriter {
  readonly format: CompiledFormat;
  protected readonly files: TextPartFiles;
  /** Rows in the open part. */
  protected rowCount = 0;
  /** Bytes of the open part already counted before compression: BOM, header and rows. */
  protected committed = 0;
  /** Most bytes a part's BOM, header and rows may take: the trailer is written last, so its room is kept from the start. */
  protected readonly limit: number;
  private readonly spec: FormatSpec;
  private readonly template: FileNameTemplate;
  private readonly names: FileNameValues;

  constructor(
    start: RenderStart,
    private readonly ctx: RenderContext,
    sink: PartSink,
  ) {
    this.spec = start.spec;
    this.template = start.template;
    this.format = compileFormat(this.spec, start.timeZone);
    this.names = fileNameValues(ctx.interfaceName, ctx.windowStart, ctx.windowEnd, start.timeZone);
    this.files = new TextPartFiles(this.format, this.spec, ctx, this.template, this.names, sink);
    this.limit = this.spec.maxFileSize - this.format.trailerReserve;
  }

  /**
   * One window around `writeRows` (which feeds this writer and returns the ticket count): an empty
   * window gets its header-only part, the last part is ended and the parts named; whatever throws
   * abandons the open part first.
   */
  async writeWindow(writeRows: () => Promise<number>): Promise<RenderResult> {
    let ticketCount: number;
    try {
      ticketCount = await writeRows();
      if (ticketCount === 0 && this.spec.emptyWindow === 'header-only') await this.beginPart();
      await this.endPart(true);
    } catch (error) {
      this.files.abandon();
      throw error;
    }
    const { spec, template } = this;
    const contentType = contentTypeOf(spec, template);
    const parts = namedParts(
      this.files.finished,
      { template, names: this.names, compression: spec.compression, contentType },
      this.ctx,
    );
    return { ticketCount, parts };
  }

  /** A part with no rows, for emptyWindow header-only. */
  protected abstract beginPart(): void | Promise<void>;

  /** Ends the open part; `last` when no row follows (the zip entry's name depends on it). */
  protected abstract endPart(last: boolean): Promise<void>;
}

/**
 * Parses the spec again (microseconds): a spec read back from the database and cast, or written by
 * hand, fails here before anything is written rather than in the middle of a file.
 */
function revalidate(spec: FormatSpec): FormatSpec {
  try {
    return parseFormatSpec(spec);
  } catch (error) {
    throw new FormatError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

function isBatch(item: TicketRow | readonly TicketRow[]): item is readonly TicketRow[] {
  return Array.isArray(item);
}

function checkContext(ctx: RenderContext, timeZone: string): void {
  if (typeof ctx.interfaceName !== 'string') throw new FormatError('format: interfaceName must be a string');
  if (ctx.encryption !== undefined && typeof ctx.encryption?.encrypt !== 'function')
    throw new FormatError('format: encryption has no encrypt function');
  if (!isValidTimeZone(timeZone))
    throw new FormatError(`format: unknown time zone ${JSON.stringify(timeZone)}`);
  for (const key of ['windowStart', 'windowEnd'] as const) {
    const value: unknown = ctx[key];
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw new FormatError(`format: ${key} is not a valid date`);
    }
  }
}

const TEXT_TYPES: Readonly<Record<string, string>> = {
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
};

function contentTypeOf(spec: FormatSpec, template: FileNameTemplate): string {
  switch (spec.compression) {
    case 'gzip':
      return 'application/gzip';
    case 'zip':
      return 'application/zip';
    case 'none': {
      const type = TEXT_TYPES[template.extension.toLowerCase()] ?? 'text/plain';
      const charset = spec.encoding === 'utf-8-bom' ? 'utf-8' : spec.encoding;
      return `${type}; charset=${charset}`;
    }
  }
}

/** Cuts the stream of lines into parts and batches. Sizes are counted before compression. */
class PartWriter extends TextPartWriter {
  /** Lines not encoded yet, and a bound on their size in bytes (exact where measured); `committed` counts the flushed rows. */
  private batch = '';
  private batchBytes = 0;
  private readonly maxBytesPerUnit = this.format.charset.maxBytesPerUnit;

  /** Appends without waiting when the line fits and no write is due: the path of almost every row. */
  tryAppend(line: string): boolean {
    const bound = line.length * this.maxBytesPerUnit;
    if (
      !this.files.isOpen ||
      this.committed + this.batchBytes + bound > this.limit ||
      this.batch.length + line.length >= BATCH_CHARS
    ) {
      return false;
    }
    this.batch += line;
    this.batchBytes += bound;
    this.rowCount += 1;
    return true;
  }

  async append(line: string): Promise<void> {
    if (!this.files.isOpen) await this.beginPart();
    let size = line.length * this.maxBytesPerUnit;
    if (this.committed + this.batchBytes + size > this.limit) {
      // Near the limit: encode what is pending to know the exact size, then measure this line.
      await this.flush();
      if (this.committed + size > this.limit) {
        size = this.format.charset.byteLength(line);
        if (this.committed + size > this.limit && this.rowCount > 0) {
          await this.endPart(false);
          await this.beginPart();
        }
      }
    }
    this.batch += line;
    this.batchBytes += size;
    this.rowCount += 1;
    if (this.batch.length >= BATCH_CHARS) await this.flush();
  }

  async beginPart(): Promise<void> {
    this.committed = await this.files.open();
    this.rowCount = 0;
  }

  /** Ends the open part, if any. */
  async endPart(last: boolean): Promise<void> {
    if (!this.files.isOpen) return;
    await this.flush();
    await this.files.close(last, this.rowCount);
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const bytes = this.format.charset.encode(this.batch);
    this.batch = '';
    this.batchBytes = 0;
    this.committed += bytes.length;
    await this.files.writeRows(bytes);
  }
}
