import { createHash, type Hash } from 'node:crypto';
import {
  encryptedPlainFileName,
  partFileName,
  zipEntryName,
  type FileNameTemplate,
  type FileNameValues,
} from './filename';
import { openPartOutput, type PartOutput } from './output';
import type { CompiledFormat } from './row-encoder';
import type { FormatSpec } from './spec';
import type { FilePart, PartSink, RenderContext } from './types';

/** A part once written: its number, rows and the bytes that left for the sink. */
export interface FinishedPart {
  readonly index: number;
  readonly rowCount: number;
  readonly byteCount: number;
  readonly sha256: string;
}

/**
 * The finished parts with their file names and content type: decided at the end, when the part
 * count is known. One rule for every file type (CSV lines of either renderer, xlsx workbooks).
 */
export function namedParts(
  finished: readonly FinishedPart[],
  naming: {
    template: FileNameTemplate;
    names: FileNameValues;
    compression: FormatSpec['compression'];
    contentType: string;
  },
  ctx: RenderContext,
): FilePart[] {
  const contentType = ctx.encryption?.contentType ?? naming.contentType;
  const suffix = ctx.encryption?.fileNameSuffix ?? '';
  return finished.map((part) => ({
    index: part.index,
    fileName:
      partFileName(naming.template, naming.names, part.index, finished.length, naming.compression) + suffix,
    contentType,
    byteCount: part.byteCount,
    rowCount: part.rowCount,
    sha256: part.sha256,
  }));
}

/**
 * The text parts of one window as files: each opened with the format's BOM and header (held until
 * its first bytes, so an empty write opens nothing early), its rows hashed for the trailer, ended
 * with the trailer and its zip entry or encrypted name. Shared by the two ways lines are made:
 * render.ts encodes them, encoded-lines.ts takes them finished from PostgreSQL. They differ only in
 * how they decide where a part ends, and each counts its own bytes and rows for that.
 */
export class TextPartFiles {
  readonly finished: FinishedPart[] = [];
  /** The open part's number (1-based), or the last one's once it is closed. */
  index = 0;
  private output: PartOutput | null = null;
  private prefix: Buffer | null = null;
  private dataHash: Hash | null = null;

  constructor(
    private readonly format: CompiledFormat,
    private readonly spec: FormatSpec,
    private readonly ctx: RenderContext,
    private readonly template: FileNameTemplate,
    private readonly names: FileNameValues,
    private readonly sink: PartSink,
  ) {}

  get isOpen(): boolean {
    return this.output !== null;
  }

  /** Opens the next part; returns the bytes of its BOM and header, which count toward its size. */
  async open(): Promise<number> {
    this.index += 1;
    await this.sink.beginPart(this.index);
    this.output = openPartOutput(this.spec.compression, this.sink, this.ctx.windowEnd, this.ctx.encryption);
    // The rows' own hash is only for the trailer; hashing costs as much as rendering the text.
    this.dataHash = this.spec.trailer === null ? null : createHash('sha256');
    const header =
      this.format.headerLine === null ? Buffer.alloc(0) : this.format.charset.encode(this.format.headerLine);
    this.prefix = Buffer.concat([this.format.charset.bom, header]);
    return this.prefix.length;
  }

  /** Rows in the part's encoding, whole lines only. */
  async writeRows(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    this.dataHash?.update(bytes);
    await this.writeOut(bytes);
  }

  /** Ends the open part, if any, with `rowCount` rows; `last` when no row follows (the zip entry's name depends on it). */
  async close(last: boolean, rowCount: number): Promise<void> {
    const output = this.output;
    if (output === null) return;
    if (this.dataHash !== null) {
      const trailer = this.format.trailerLine(
        rowCount,
        this.ctx.windowStart,
        this.ctx.windowEnd,
        this.index,
        this.dataHash.digest('hex'),
      );
      await this.writeOut(this.format.charset.encode(trailer!));
    }
    await this.writeOut(Buffer.alloc(0));
    const index = this.index;
    const onlyPart = last && index === 1;
    const { byteCount, sha256 } = await output.finish({
      zipEntryName: () => zipEntryName(this.template, this.names, index, onlyPart),
      plainFileName: () =>
        encryptedPlainFileName(this.template, this.names, index, onlyPart, this.spec.compression),
    });
    await this.sink.endPart();
    this.finished.push({ index, rowCount, byteCount, sha256 });
    this.output = null;
  }

  /** Frees zlib after a failure. The sink keeps what it got; the caller discards it. */
  abandon(): void {
    this.output?.destroy();
    this.output = null;
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
