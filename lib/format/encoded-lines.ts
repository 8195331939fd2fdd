/**
 * Parts from lines that are already finished bytes (written by PostgreSQL, see database-render.ts):
 * the same files renderWindow makes from tickets, with the same BOM, header, part splitting,
 * trailer, compression, encryption, file names and empty-window behaviour, without looking inside
 * a line. render.ts's PartWriter does the same for lines it encodes itself: both write their parts
 * through TextPartFiles (part-files.ts) and differ only in how they count a part's size (it counts
 * UTF-16 bounds, this exact bytes).
 */

import { beginRender, TextPartWriter } from './render';
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
  const writer = new LinePartWriter(beginRender(spec, ctx), ctx, sink);
  return writer.writeWindow(async () => {
    let ticketCount = 0;
    for await (const batch of lines) {
      await writer.appendLines(batch);
      ticketCount += batch.ends.length;
    }
    return ticketCount;
  });
}

/** Cuts finished lines into parts at line boundaries; sizes are the lines' exact bytes. */
class LinePartWriter extends TextPartWriter {
  private beginPending = false;

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

  private async openPart(): Promise<void> {
    this.committed = await this.files.open();
    this.rowCount = 0;
  }
}
