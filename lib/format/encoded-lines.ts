/**
 * Parts from lines that are already finished bytes (written by PostgreSQL, see database-render.ts):
 * the same files renderWindow makes from tickets, with the same BOM, header, part splitting,
 * trailer, compression, encryption, file names and empty-window behaviour, without looking inside
 * a line. render.ts's PartWriter does the same for lines it encodes itself; the two are kept
 * apart so neither pays for the other's bookkeeping (it counts UTF-16 bounds, this exact bytes).
 */

import { createHash, type Hash } from 'node:crypto';
import { FormatError } from '../errors';
import { encryptedPlainFileName, fileNameValues, parseFileNameTemplate, partFileName, zipEntryName, type FileNameTemplate, type FileNameValues } from './filename';
import { openPartOutput, type PartOutput } from './output';
import { checkContext, contentTypeOf, revalidate } from './render';
import { compileFormat, type CompiledFormat } from './row-encoder';
import type { FormatSpec } from './spec';
import type { FilePart, PartSink, RenderContext, RenderResult } from './types';

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
export async function renderEncodedLines(lines: AsyncIterable<EncodedLines>, spec: FormatSpec, ctx: RenderContext, sink: PartSink): Promise<RenderResult> {
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
  const done = writer.finished;
  const contentType = ctx.encryption?.contentType ?? contentTypeOf(spec, template);
  const suffix = ctx.encryption?.fileNameSuffix ?? '';
  const parts: FilePart[] = done.map((part) => ({
    index: part.index,
    fileName: partFileName(template, names, part.index, done.length, spec.compression) + suffix,
    contentType,
    byteCount: part.byteCount,
    rowCount: part.rowCount,
    sha256: part.sha256,
  }));
  return { ticketCount, parts };
}

interface FinishedPart {
  readonly index: number;
  readonly rowCount: number;
  readonly byteCount: number;
  readonly sha256: string;
}

class LinePartWriter {
  readonly finished: FinishedPart[] = [];
  private output: PartOutput | null = null;
  private index = 0;
  private rowCount = 0;
  /** Bytes of the open part before compression: BOM, header and rows. */
  private committed = 0;
  /** BOM and header, written together with the part's first bytes (as render.ts does). */
  private prefix: Buffer | null = null;
  private dataHash: Hash | null = null;
  private beginPending = false;
  private readonly limit: number;

  constructor(
    private readonly format: CompiledFormat,
    private readonly spec: FormatSpec,
    private readonly ctx: RenderContext,
    private readonly template: FileNameTemplate,
    private readonly names: FileNameValues,
    private readonly sink: PartSink,
  ) {
    // The trailer is written last, so its room is kept from the start.
    this.limit = spec.maxFileSize - format.trailerReserve;
  }

  async appendLines({ bytes, ends }: EncodedLines): Promise<void> {
    let written = 0;
    let lineStart = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      const size = end - lineStart;
      if (this.output === null) {
        await this.openPart();
      } else if (this.committed + size > this.limit && this.rowCount > 0) {
        await this.writeData(bytes.subarray(written, lineStart));
        written = lineStart;
        await this.endPart(false);
        await this.openPart();
      }
      this.committed += size;
      this.rowCount += 1;
      lineStart = end;
    }
    await this.writeData(bytes.subarray(written, lineStart));
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
    const output = this.output;
    if (output === null) return;
    if (this.dataHash !== null) {
      const trailer = this.format.trailerLine(this.rowCount, this.ctx.windowStart, this.ctx.windowEnd, this.index, this.dataHash.digest('hex'));
      await this.writeOut(this.format.charset.encode(trailer!));
    }
    await this.writeOut(Buffer.alloc(0));
    const index = this.index;
    const onlyPart = last && index === 1;
    const { byteCount, sha256 } = await output.finish({
      zipEntryName: () => zipEntryName(this.template, this.names, index, onlyPart),
      plainFileName: () => encryptedPlainFileName(this.template, this.names, index, onlyPart, this.spec.compression),
    });
    await this.sink.endPart();
    this.finished.push({ index, rowCount: this.rowCount, byteCount, sha256 });
    this.output = null;
  }

  /** Frees zlib after a failure. The sink keeps what it got; the caller discards it. */
  abandon(): void {
    this.output?.destroy();
    this.output = null;
  }

  private async openPart(): Promise<void> {
    this.index += 1;
    await this.sink.beginPart(this.index);
    this.output = openPartOutput(this.spec.compression, this.sink, this.ctx.windowEnd, this.ctx.encryption);
    this.rowCount = 0;
    this.dataHash = this.spec.trailer === null ? null : createHash('sha256');
    const header = this.format.headerLine === null ? Buffer.alloc(0) : this.format.charset.encode(this.format.headerLine);
    this.prefix = Buffer.concat([this.format.charset.bom, header]);
    this.committed = this.prefix.length;
  }

  private async writeData(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    this.dataHash?.update(bytes);
    await this.writeOut(bytes);
  }

  private async writeOut(bytes: Buffer): Promise<void> {
    let chunk = bytes;
    if (this.prefix !== null) {
      chunk = this.prefix.length === 0 ? bytes : Buffer.concat([this.prefix, bytes]);
      this.prefix = null;
    }
    if (chunk.length > 0) await this.output!.write(chunk);
  }
}
