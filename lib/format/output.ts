/**
 * Where the bytes of one part go: straight to the sink, through gzip, or into a zip, and then,
 * when the interface encrypts its files, through the encryption as the last layer. Every output
 * awaits the sink's writes (backpressure) and reports the size and SHA-256 of what the sink got.
 */

import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import { crc32 } from './crc32';
import type { PartEncryption, PartSink } from './types';
import type { FormatSpec } from './spec';
import { centralDirectory, localFileHeader } from './zip';

/** Size of the chunks zlib hands back, so compressed parts reach the sink in ~64 KiB writes too. */
const ZLIB_CHUNK_SIZE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** Size and SHA-256 of what the sink got for a part. */
interface PartDigest {
  byteCount: number;
  sha256: string;
}

/** Names only known once a part is complete, each asked for only when needed. */
interface PartNames {
  /** The file inside a zip part. */
  zipEntryName(): string;
  /** The plain file inside an encrypted part (OpenPGP literal data). */
  plainFileName(): string;
}

export interface PartOutput {
  write(chunk: Buffer): Promise<void>;
  /** Ends the part's bytes. */
  finish(names: PartNames): Promise<PartDigest>;
  /** Frees zlib after a failure; the part is abandoned. */
  destroy(): void;
}

/** What the compression writes to: the counting sink, or the encryption in front of it. */
interface Downstream {
  write(chunk: Buffer): Promise<void>;
  end(names: PartNames): Promise<PartDigest>;
}

/** The sink, counting and hashing what it is given. */
class CountingSink implements Downstream {
  private readonly hash: Hash = createHash('sha256');
  private byteCount = 0;

  constructor(private readonly sink: PartSink) {}

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    await this.sink.write(chunk);
  }

  async end(): Promise<PartDigest> {
    return { byteCount: this.byteCount, sha256: this.hash.digest('hex') };
  }
}

/**
 * The last layer of an encrypted part. Its bytes (after compression) are held until the part
 * ends, because an encrypted file starts with the name of the plain file inside it, and that name
 * depends on whether more parts follow (as a zip entry's does): so at most one part is held, at
 * most maxFileSize (5 MiB by default) and less when compressed. They then stream through the
 * encryption to the sink, each write awaited, and are let go of as the encryption takes them.
 */
class EncryptingSink implements Downstream {
  private held: Buffer[] = [];

  constructor(
    private readonly out: CountingSink,
    private readonly encryption: PartEncryption,
    private readonly modified: Date,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length > 0) this.held.push(chunk);
  }

  async end(names: PartNames): Promise<PartDigest> {
    const held = this.held;
    this.held = [];
    const encrypted = this.encryption.encrypt(release(held), {
      fileName: names.plainFileName(),
      date: this.modified,
    });
    for await (const chunk of encrypted) {
      await this.out.write(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    }
    return this.out.end();
  }
}

/** Yields the chunks in order, dropping each from the array as it goes. */
async function* release(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (let index = 0; index < chunks.length; index += 1) {
    const chunk = chunks[index]!;
    chunks[index] = EMPTY;
    yield chunk;
  }
}

class PlainOutput implements PartOutput {
  constructor(private readonly out: Downstream) {}

  write(chunk: Buffer): Promise<void> {
    return this.out.write(chunk);
  }

  finish(names: PartNames): Promise<PartDigest> {
    return this.out.end(names);
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

class GzipOutput implements PartOutput {
  // No file name and a zero mtime in the gzip header (zlib's defaults): the same window gives the same bytes.
  private readonly pump = new ZlibPump(zlib.createGzip({ chunkSize: ZLIB_CHUNK_SIZE }));

  constructor(private readonly out: Downstream) {}

  async write(chunk: Buffer): Promise<void> {
    await this.pump.push(chunk);
    await this.out.write(this.pump.take());
  }

  async finish(names: PartNames): Promise<PartDigest> {
    await this.pump.end();
    await this.out.write(this.pump.take());
    return this.out.end(names);
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
    private readonly out: Downstream,
    private readonly modified: Date,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.uncompressedSize += chunk.length;
    await this.pump.push(chunk);
    this.keep(this.pump.take());
  }

  async finish(names: PartNames): Promise<PartDigest> {
    await this.pump.end();
    this.keep(this.pump.take());
    const entry = {
      name: names.zipEntryName(),
      crc32: this.crc,
      compressedSize: this.compressedSize,
      uncompressedSize: this.uncompressedSize,
      modified: this.modified,
    };
    await this.out.write(localFileHeader(entry));
    for (const chunk of this.compressed) await this.out.write(chunk);
    this.compressed.length = 0;
    await this.out.write(centralDirectory(entry));
    return this.out.end(names);
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

/**
 * The output of one part. `modified` (the window end) dates the zip entry and the plain file
 * inside an encrypted part; `encryption`, when given, is the last layer before the sink.
 */
export function openPartOutput(
  compression: FormatSpec['compression'],
  sink: PartSink,
  modified: Date,
  encryption?: PartEncryption,
): PartOutput {
  const counting = new CountingSink(sink);
  const out: Downstream = encryption ? new EncryptingSink(counting, encryption, modified) : counting;
  switch (compression) {
    case 'none':
      return new PlainOutput(out);
    case 'gzip':
      return new GzipOutput(out);
    case 'zip':
      return new ZipOutput(out, modified);
  }
}
