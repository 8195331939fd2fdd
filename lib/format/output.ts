/**
 * Where the bytes of one part go: straight to the sink, through gzip, or into a zip. Every output
 * awaits the sink's writes (backpressure) and reports the size and SHA-256 of what the sink got.
 */

import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import { crc32 } from './crc32';
import type { PartSink } from './types';
import type { Compression } from './spec';
import { centralDirectory, localFileHeader } from './zip';

/** Size of the chunks zlib hands back, so compressed parts reach the sink in ~64 KiB writes too. */
const ZLIB_CHUNK_SIZE = 64 * 1024;

export interface PartOutput {
  write(chunk: Buffer): Promise<void>;
  /** Ends the part's bytes. `zipEntryName` is only called for zip, once the part is complete. */
  finish(zipEntryName: () => string): Promise<{ byteCount: number; sha256: string }>;
  /** Frees zlib after a failure; the part is abandoned. */
  destroy(): void;
}

/** The sink, counting and hashing what it is given. */
class CountingSink {
  private readonly hash: Hash = createHash('sha256');
  private byteCount = 0;

  constructor(private readonly sink: PartSink) {}

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    await this.sink.write(chunk);
  }

  result(): { byteCount: number; sha256: string } {
    return { byteCount: this.byteCount, sha256: this.hash.digest('hex') };
  }
}

class PlainOutput implements PartOutput {
  constructor(private readonly out: CountingSink) {}

  write(chunk: Buffer): Promise<void> {
    return this.out.write(chunk);
  }

  async finish(): Promise<{ byteCount: number; sha256: string }> {
    return this.out.result();
  }

  destroy(): void {}
}

/**
 * A zlib stream used as a function: write a chunk, wait until zlib has taken it, collect what came
 * out. Output is collected rather than piped so that the caller decides when (and whether) it
 * reaches the sink, and awaits each sink write.
 */
class ZlibPump {
  private readonly collected: Buffer[] = [];

  constructor(private readonly stream: zlib.Gzip | zlib.DeflateRaw) {
    stream.on('data', (chunk: Buffer) => this.collected.push(chunk));
    // Errors reach the pending write callback or the `once(..., 'end')` below; this listener keeps
    // an error from being thrown as an unhandled 'error' event in between.
    stream.on('error', () => {});
  }

  async push(chunk: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream.write(chunk, (error) => (error ? reject(error) : resolve()));
    });
  }

  async end(): Promise<void> {
    const ended = once(this.stream, 'end');
    this.stream.end();
    await ended;
  }

  /** What zlib produced since the last call, as one buffer (empty when nothing). */
  take(): Buffer {
    if (this.collected.length === 0) return EMPTY;
    const chunk = this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected);
    this.collected.length = 0;
    return chunk;
  }

  destroy(): void {
    this.stream.destroy();
  }
}

const EMPTY = Buffer.alloc(0);

class GzipOutput implements PartOutput {
  // No file name and a zero mtime in the gzip header (zlib's defaults): the same window gives the same bytes.
  private readonly pump = new ZlibPump(zlib.createGzip({ chunkSize: ZLIB_CHUNK_SIZE }));

  constructor(private readonly out: CountingSink) {}

  async write(chunk: Buffer): Promise<void> {
    await this.pump.push(chunk);
    await this.out.write(this.pump.take());
  }

  async finish(): Promise<{ byteCount: number; sha256: string }> {
    await this.pump.end();
    await this.out.write(this.pump.take());
    return this.out.result();
  }

  destroy(): void {
    this.pump.destroy();
  }
}

/**
 * One zip archive per part, holding the part's file. The entry is deflated into memory (at most
 * maxFileSize before compression) and written when the part ends, because its local header comes
 * first and holds its name, CRC and sizes.
 */
class ZipOutput implements PartOutput {
  private readonly pump = new ZlibPump(zlib.createDeflateRaw({ chunkSize: ZLIB_CHUNK_SIZE }));
  private readonly compressed: Buffer[] = [];
  private compressedSize = 0;
  private uncompressedSize = 0;
  private crc = 0;

  constructor(
    private readonly out: CountingSink,
    private readonly modified: Date,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.uncompressedSize += chunk.length;
    await this.pump.push(chunk);
    this.keep(this.pump.take());
  }

  async finish(zipEntryName: () => string): Promise<{ byteCount: number; sha256: string }> {
    await this.pump.end();
    this.keep(this.pump.take());
    const entry = {
      name: zipEntryName(),
      crc32: this.crc,
      compressedSize: this.compressedSize,
      uncompressedSize: this.uncompressedSize,
      modified: this.modified,
    };
    await this.out.write(localFileHeader(entry));
    for (const chunk of this.compressed) await this.out.write(chunk);
    this.compressed.length = 0;
    await this.out.write(centralDirectory(entry));
    return this.out.result();
  }

  destroy(): void {
    this.pump.destroy();
  }

  private keep(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.compressed.push(chunk);
    this.compressedSize += chunk.length;
  }
}

export function openPartOutput(compression: Compression, sink: PartSink, zipModified: Date): PartOutput {
  const out = new CountingSink(sink);
  switch (compression) {
    case 'none':
      return new PlainOutput(out);
    case 'gzip':
      return new GzipOutput(out);
    case 'zip':
      return new ZipOutput(out, zipModified);
  }
}
