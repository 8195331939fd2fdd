/**
 * Parts from lines that are already finished bytes (written by PostgreSQL, see database-render.ts):
 * the same files renderWindow makes from tickets, with the same BOM, header, part splitting,
 * trailer, compression, encryption, file names and empty-window behaviour, without looking inside
 * a line. render.ts's PartWriter does the same for lines it encodes itself: both write their parts
 * through TextPartFiles (part-files.ts) and differ only in how they count a part's size (it counts
 * UTF-16 bounds, this exact bytes).
 */

import { FormatError } from '../errors';
import {
  fileNameValues,
  parseFileNameTemplate,
  type FileNameTemplate,
  type FileNameValues,
} from './filename';
import { namedParts, TextPartFiles, type FinishedPart } from './part-files';
import { checkContext, contentTypeOf, revalidate } from './render';
import { compileFormat, type CompiledFormat } from './row-encoder';
import type { FormatSpec } from './spec';
import type { PartSink, RenderContext, RenderResult } from './types';

/** Consecutive complete lines: line i is bytes[ends[i-1] ?? 0, ends[i]), its line ending included. */
export interface EncodedLines {
  readonly bytes: Buffer;
  readonly ends: readonly number[];
}

/**
 * Writes the lines of one window into parts on `sink`, as renderWindow would write the tickets
 * the lines were rendered from (the lines must be in the spec's encoding, with its separator,
 * quoting and line ending). A part that would grow past maxFileSize is ended before the line; a
 * line is never split.
 */
export async function renderEncodedLines(
  lines: AsyncIterable<EncodedLines>,
  spec: FormatSpec,
  ctx: RenderContext,
  sink: PartSink,
): Promise<RenderResult> {
  const timeZone = ctx.timeZone || 'UTC';
  checkContext(ctx, timeZone);
  spec = revalidate(spec);
  const template = parseFileNameTemplate(spec.fileName);
  if ('error' in template) throw new FormatError(`format: fileName ${template.error}`);
  const names = fileNameValues(ctx.interfaceName, ctx.windowStart, ctx.windowEnd, timeZone);
  const writer = new LinePartWriter(compileFormat(spec, timeZone), spec, ctx, template, names, sink);
  let ticketCount = 0;
  try {
    for await (const batch of lines) {
      await writer.appendLines(batch);
      ticketCount += batch.ends.length;
    }
    if (ticketCount === 0 && spec.emptyWindow === 'header-only') writer.beginPart();
    await writer.endPart(true);
  } catch (error) {
    writer.abandon();
    throw error;
  }
  const parts = namedParts(
    writer.finished,
    { template, names, compression: spec.compression, contentType: contentTypeOf(spec, template) },
    ctx,
  );
  return { ticketCount, parts };
}

/** Cuts finished lines into parts at line boundaries; sizes are the lines' exact bytes. */
class LinePartWriter {
  private readonly files: TextPartFiles;
  private rowCount = 0;
  /** Bytes of the open part before compression: BOM, header and rows. */
  private committed = 0;
  private beginPending = false;
  private readonly limit: number;

  constructor(
    format: CompiledFormat,
    spec: FormatSpec,
    ctx: RenderContext,
    template: FileNameTemplate,
    names: FileNameValues,
    sink: PartSink,
  ) {
    this.files = new TextPartFiles(format, spec, ctx, template, names, sink);
    // The trailer is written last, so its room is kept from the start.
    this.limit = spec.maxFileSize - format.trailerReserve;
  }

  get finished(): readonly FinishedPart[] {
    return this.files.finished;
  }

  async appendLines({ bytes, ends }: EncodedLines): Promise<void> {
    let written = 0;
    let lineStart = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      const size = end - lineStart;
      if (!this.files.isOpen) {
        await this.openPart();
      } else if (this.committed + size > this.limit && this.rowCount > 0) {
        await this.files.writeRows(bytes.subarray(written, lineStart));
        written = lineStart;
        await this.endPart(false);
        await this.openPart();
      }
      this.committed += size;
      this.rowCount += 1;
      lineStart = end;
    }
    await this.files.writeRows(bytes.subarray(written, lineStart));
  }

  /** A part with no rows (emptyWindow header-only): opened at endPart. */
  beginPart(): void {
    this.beginPending = true;
  }

  async endPart(last: boolean): Promise<void> {
    if (this.beginPending) {
      this.beginPending = false;
      await this.openPart();
    }
    await this.files.close(last, this.rowCount);
  }

  abandon(): void {
    this.files.abandon();
  }

  private async openPart(): Promise<void> {
    this.committed = await this.files.open();
    this.rowCount = 0;
  }
}
