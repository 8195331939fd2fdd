import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StoredFileError } from '../errors';
import type { Delivery, StoredPart } from './ledger';

/**
 * Proves that the stored parts are still the file that was frozen before any of them is sent: a
 * purged file would go out as an empty attachment under a subject counting its tickets, a damaged
 * one as a file the reseller cannot trust. Each part is streamed through SHA-256 chunk by chunk
 * (never whole in memory) and compared with the size and checksum recorded at freeze time.
 */
export async function verifyStoredParts(
  readPart: (deliveryId: number, part: number) => Readable,
  delivery: Pick<Delivery, 'id' | 'purgedAt'>,
  parts: readonly StoredPart[],
): Promise<void> {
  if (delivery.purgedAt) {
    throw new StoredFileError(
      `delivery ${delivery.id}: its file was purged at ${delivery.purgedAt.toISOString()} (retention); nothing was sent`,
    );
  }
  for (const part of parts) {
    const stored = await digest(readPart(delivery.id, part.index));
    const where = `delivery ${delivery.id} part ${part.index} (${part.fileName})`;
    if (stored.byteCount !== part.byteCount) {
      throw new StoredFileError(
        `${where}: ${stored.byteCount} bytes stored, ${part.byteCount} frozen (size mismatch); nothing was sent`,
      );
    }
    if (stored.sha256 !== part.sha256) {
      throw new StoredFileError(
        `${where}: stored bytes have SHA-256 ${stored.sha256}, ${part.sha256} frozen (sha mismatch); nothing was sent`,
      );
    }
  }
}

async function digest(stream: Readable): Promise<{ byteCount: number; sha256: string }> {
  const hash = createHash('sha256');
  let byteCount = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    byteCount += chunk.length;
  }
  return { byteCount, sha256: hash.digest('hex') };
}
