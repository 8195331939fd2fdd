/**
 * OpenPGP encryption of an interface's files to its reseller's public key: reading and checking
 * the key an operator gives, and the encryption applied to each part as its last layer when the
 * window is frozen (lib/format/output.ts), so the stored part is the attachment and a retry or a
 * resend sends exactly the same bytes (OpenPGP output is randomised: never encrypt at send time).
 */

import type * as OpenPGP from 'openpgp' with { 'resolution-mode': 'import' };
import { InputError } from '../errors';
import type { PartEncryption } from '../format/types';

let loaded: typeof OpenPGP | undefined;
/**
 * openpgp, loaded on first use: it costs every process ~70 ms and ~13 MB, and most commands and
 * most interfaces never need it. It is an ES module package that also ships a CommonJS build for
 * Node (its `require` export); TypeScript's node16 resolution lets a CommonJS file import only its types.
 */
function pgp(): typeof OpenPGP {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('openpgp') as typeof OpenPGP;
  return loaded;
}

/** Appended to the name of an encrypted part: `barcodes_…Z.csv.pgp`. */
const ENCRYPTED_FILE_SUFFIX = '.pgp';
/**
 * MIME type of an encrypted attachment. Not `application/pgp-encrypted`: that type is the
 * `Version: 1` control part of a PGP/MIME message (RFC 3156), and mail clients that see it try to
 * decrypt the whole message; RFC 3156 itself carries the encrypted data as octet-stream.
 */
const ENCRYPTED_CONTENT_TYPE = 'application/octet-stream';

/** A reseller's public key, checked and ready to encrypt to. */
interface RecipientKey {
  /** The key, ASCII-armored (what the interface stores). */
  armored: string;
  /** Upper-case hex fingerprint of the primary key, as `gpg --fingerprint` shows it (without spaces). */
  fingerprint: string;
  userIds: string[];
  /** When the key stops being usable for encryption (primary key or encryption subkey); null: never. */
  expiresAt: Date | null;
  /** The parsed key. */
  key: OpenPGP.PublicKey;
}

/**
 * Reads one OpenPGP public key, armored (`-----BEGIN PGP PUBLIC KEY BLOCK-----`) or binary, and
 * checks that files can be encrypted to it at `now`. Refuses, with a one-line InputError that
 * starts with `what` (e.g. `--pgp-key: "reseller.asc"`): anything that is not exactly one public
 * key, a private key, a revoked or expired key, a key without a usable encryption (sub)key.
 */
export async function readRecipientKey(
  input: string | Uint8Array,
  what: string,
  now: Date = new Date(),
): Promise<RecipientKey> {
  const openpgp = pgp();
  const text = typeof input === 'string' ? input : armoredText(input);
  if (text !== null && /-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)) throw privateKeyError(what);
  // openpgp reads only the first armored block: a second one would be ignored without a word.
  const blocks = text === null ? 0 : (text.match(/-----BEGIN PGP [A-Z ,/0-9]+-----/g) ?? []).length;
  if (blocks > 1)
    throw new InputError(
      `${what} holds ${blocks} armored blocks: give exactly one, the reseller's public key`,
    );
  let keys: OpenPGP.Key[];
  try {
    keys =
      text !== null
        ? await openpgp.readKeys({ armoredKeys: text })
        : await openpgp.readKeys({ binaryKeys: input as Uint8Array });
  } catch (error) {
    throw new InputError(`${what} is not an OpenPGP public key (${oneLine(error)})`, { cause: error });
  }
  if (keys.length !== 1)
    throw new InputError(`${what} holds ${keys.length} keys: give exactly one, the reseller's public key`);
  const key = keys[0]!;
  if (key.isPrivate()) throw privateKeyError(what);
  const fingerprint = key.getFingerprint().toUpperCase();
  const which = `${what} is PGP key ${fingerprint}`;
  if (await key.isRevoked(undefined, undefined, now)) throw new InputError(`${which}, which is revoked`);
  const primaryExpiry = await key.getExpirationTime();
  if (primaryExpiry instanceof Date && primaryExpiry.getTime() <= now.getTime()) {
    throw new InputError(`${which}, which expired at ${primaryExpiry.toISOString()}`);
  }
  try {
    await key.verifyPrimaryKey(now);
  } catch (error) {
    throw new InputError(`${which}, which cannot be used: ${oneLine(error)}`, { cause: error });
  }
  let encryptionKey: OpenPGP.PublicKey | OpenPGP.Subkey;
  try {
    encryptionKey = await key.getEncryptionKey(undefined, now);
  } catch (error) {
    throw new InputError(
      `${which}, which has no usable encryption key (signing only, or its encryption subkeys expired or were revoked)`,
      { cause: error },
    );
  }
  const subkeyExpiry = encryptionKey === key ? null : await encryptionKey.getExpirationTime();
  const expiries = [primaryExpiry, subkeyExpiry].filter((date): date is Date => date instanceof Date);
  return {
    armored: key.armor(),
    fingerprint,
    userIds: key.getUserIDs(),
    expiresAt: expiries.length ? new Date(Math.min(...expiries.map((date) => date.getTime()))) : null,
    key: key as OpenPGP.PublicKey,
  };
}

/**
 * Each part as a binary OpenPGP message (not armored) to the recipient, holding the plain file
 * under its name. No compression inside (the format's gzip/zip comes before) and no signature.
 * Streams: the plain bytes are pulled only as fast as the encrypted ones are taken.
 */
export function pgpPartEncryption(recipient: RecipientKey): PartEncryption {
  return {
    fileNameSuffix: ENCRYPTED_FILE_SUFFIX,
    contentType: ENCRYPTED_CONTENT_TYPE,
    encrypt: (plain, literal) => encryptStream(recipient.key, plain, literal),
  };
}

async function* encryptStream(
  key: OpenPGP.PublicKey,
  plain: AsyncIterable<Uint8Array>,
  literal: { fileName: string; date: Date },
): AsyncGenerator<Uint8Array> {
  const openpgp = pgp();
  const source = plain[Symbol.asyncIterator]();
  // highWaterMark 0: nothing is read ahead of what the encryption asks for.
  const input = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await source.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await source.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  const message = await openpgp.createMessage({
    binary: input,
    filename: literal.fileName,
    date: literal.date,
    format: 'binary',
  });
  const encrypted: ReadableStream<Uint8Array> = await openpgp.encrypt({
    message,
    encryptionKeys: key,
    format: 'binary',
    config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
  });
  const reader = encrypted.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // Given up half way (the sink failed): stop the encryption and the reading of plain bytes.
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** The text of an armored key file, or null when the bytes are a binary key (or not a key at all). */
function armoredText(bytes: Uint8Array): string | null {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString(
    'latin1',
  );
  return /-----BEGIN PGP /.test(head)
    ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    : null;
}

function privateKeyError(what: string): InputError {
  return new InputError(`${what} is a private key: give the reseller's public key`);
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0]!.trim();
}
