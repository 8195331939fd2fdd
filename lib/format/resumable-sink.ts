/**
 * A sink over a stream that cannot take bytes back (stdout): when a window the database renderer
 * started is handed back to the JavaScript renderer (lib/source/window-render.ts), the second
 * attempt's first bytes are the ones already written, since both renderers write the same bytes.
 * They are skipped, not written twice, and checked (SHA-256) to be the very bytes written.
 */

import { createHash, type Hash } from 'node:crypto';
import type { PartSink } from './types';

/** The second attempt did not start with the bytes the first one wrote: the output is not one file. */
export class ResumeMismatchError extends Error {}

export class ResumableSink implements PartSink {
  private written = 0;
  private readonly writtenHash: Hash = createHash('sha256');
  /** Bytes of the next attempt still to skip, their hash so far, and the hash they must have. */
  private toSkip = 0;
  private skippedHash: Hash | null = null;
  private expectedHash = '';

  constructor(private readonly out: (chunk: Buffer) => Promise<void>) {}

  /** Starts the next attempt: what the last one wrote is skipped (and checked) from here on. */
  restart(): void {
    if (this.toSkip > 0) throw new ResumeMismatchError('restarted before the previous attempt caught up');
    this.toSkip = this.written;
    this.expectedHash = this.writtenHash.copy().digest('hex');
    this.skippedHash = createHash('sha256');
    this.checkCaughtUp();
  }

  /** Throws unless the last attempt wrote at least what the earlier ones did. */
  finish(): void {
    if (this.toSkip > 0)
      throw new ResumeMismatchError(`the output ended ${this.toSkip} bytes before what was already written`);
  }

  async beginPart(): Promise<void> {}

  async write(chunk: Buffer): Promise<void> {
    let data = chunk;
    if (this.toSkip > 0) {
      const skipped = Math.min(this.toSkip, data.length);
      this.skippedHash!.update(data.subarray(0, skipped));
      this.toSkip -= skipped;
      data = data.subarray(skipped);
      this.checkCaughtUp();
      if (data.length === 0) return;
    }
    this.written += data.length;
    this.writtenHash.update(data);
    await this.out(data);
  }

  async endPart(): Promise<void> {}

  private checkCaughtUp(): void {
    if (this.toSkip > 0 || this.skippedHash === null) return;
    const skipped = this.skippedHash.digest('hex');
    this.skippedHash = null;
    if (skipped !== this.expectedHash)
      throw new ResumeMismatchError('the renderers wrote different bytes; the output so far is not the file');
  }
}
