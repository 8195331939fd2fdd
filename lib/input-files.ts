import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { InputError } from './errors';

/**
 * Files an operator names on the command line (`--format F.json`, `--pgp-key F`) are read with a
 * size cap, so a wrong path (a log, an image, /dev/zero) fails at once in one line instead of
 * filling memory, and stored values stay small.
 */
export const INPUT_FILE_LIMITS = {
  /** A format specification: 64 columns of the longest constants fit well within this. */
  formatFileBytes: 256 * 1024,
  /** An OpenPGP public key, armored, with a generous number of certifications. */
  pgpKeyFileBytes: 1024 * 1024,
  /** A PEM bundle of CAs: the SMTP relay's (SMTP_TLS_CA_FILE), HTTPS receivers' (BARCODES_HTTPS_CA_FILE). */
  caFileBytes: 1024 * 1024,
  /** Objects and arrays inside one another in a format file (a real one nests 3 deep). */
  formatJsonDepth: 16,
} as const;

const CHUNK_BYTES = 64 * 1024;

/**
 * Reads at most `maxBytes` of a file; more is refused naming `what` and the path. Reads in
 * chunks rather than trusting the file's size, which devices and pipes do not report.
 */
export function readBoundedFile(path: string, what: string, maxBytes: number): Buffer {
  let descriptor: number;
  try {
    descriptor = fs.openSync(path, 'r');
  } catch (error) {
    throw new InputError(
      `${what}: cannot read ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      { cause: error },
    );
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
      const read = fs.readSync(descriptor, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > maxBytes)
        throw new InputError(`${what}: ${JSON.stringify(path)} is larger than ${formatBytes(maxBytes)}`);
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(
      `${what}: cannot read ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      { cause: error },
    );
  } finally {
    fs.closeSync(descriptor);
  }
}

/**
 * A PEM bundle of CA certificates (SMTP_TLS_CA_FILE, BARCODES_HTTPS_CA_FILE), read with the cap
 * and every certificate in it parsed: a missing, oversized, truncated or garbled file fails where
 * it is read, in one line naming `variable`, instead of at the first TLS handshake (Node accepts
 * a garbled CA silently, and the server then does not verify).
 */
export function readCaCertificates(path: string, variable: string): string {
  const pem = readBoundedFile(path, variable, INPUT_FILE_LIMITS.caFileBytes).toString('utf8');
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length === 0)
    throw new InputError(`${variable}: ${JSON.stringify(path)} holds no PEM certificate`);
  certificates.forEach((certificate, index) => {
    try {
      new X509Certificate(certificate);
    } catch (error) {
      throw new InputError(
        `${variable}: ${JSON.stringify(path)}: certificate ${index + 1} of ${certificates.length} does not parse`,
        { cause: error },
      );
    }
  });
  return pem;
}

/**
 * Refuses JSON text whose objects and arrays nest deeper than `maxDepth`, before JSON.parse and
 * the schema walk it (deep nesting costs stack, and no valid document needs it).
 */
export function checkJsonDepth(text: string, maxDepth: number, what: string): void {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (inString) {
      if (character === '\\') index++;
      else if (character === '"') inString = false;
    } else if (character === '"') {
      inString = true;
    } else if (character === '{' || character === '[') {
      if (++depth > maxDepth)
        throw new InputError(`${what}: nests objects and arrays more than ${maxDepth} deep`);
    } else if (character === '}' || character === ']') {
      depth--;
    }
  }
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}
