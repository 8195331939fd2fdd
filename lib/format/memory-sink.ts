import type { PartSink } from './types';

/**
 * A PartSink that keeps every part in memory, for `barcodes preview` and tests. A window's parts
 * are each at most maxFileSize, but all of them are kept: not for large windows in production.
 */
export class MemorySink implements PartSink {
  /** The bytes of each ended part, in order. */
  readonly parts: Buffer[] = [];
  private chunks: Buffer[] | null = null;

  async beginPart(index: number): Promise<void> {
    if (this.chunks !== null || index !== this.parts.length + 1) {
      throw new Error(`MemorySink: part ${index} begun out of order`);
    }
    this.chunks = [];
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.chunks === null) throw new Error('MemorySink: write outside a part');
    this.chunks.push(chunk);
  }

  async endPart(): Promise<void> {
    if (this.chunks === null) throw new Error('MemorySink: endPart without beginPart');
    this.parts.push(Buffer.concat(this.chunks));
    this.chunks = null;
  }
}
