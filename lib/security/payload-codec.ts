import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { BarcodesError } from '../errors';
import type { PayloadKeyring } from './payload-keys';

/** `encoding` of an encrypted payload, as Temporal's samples and other SDKs name it. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata naming the key a payload was encrypted with (what makes rotation possible). */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Metadata naming the cipher, so a later change of cipher can tell old payloads apart. */
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be decrypted: unknown key id, wrong key or altered bytes. */
export class PayloadDecryptionError extends BarcodesError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'PAYLOAD_DECRYPTION', options);
  }
}

/**
 * Encrypts every Temporal payload (workflow and activity inputs and results, memos, heartbeats)
 * with AES-256-GCM: a fresh random 12-byte nonce per payload, the whole original payload
 * (metadata and data) as plaintext, the key id as additional authenticated data so it cannot be
 * swapped. Payloads that are not encrypted pass through decode unchanged, so histories written
 * before encryption was switched on stay readable.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keyring: PayloadKeyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const { id, secret } = this.keyring.current;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', secret, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(id));
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(id),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!id) throw new PayloadDecryptionError('encrypted payload without a key id');
    const cipherName = text(payload.metadata?.[CIPHER_METADATA]) ?? CIPHER;
    if (cipherName !== CIPHER)
      throw new PayloadDecryptionError(
        `payload encrypted with unsupported cipher ${JSON.stringify(cipherName)}`,
      );
    const secret = this.keyring.byId.get(id);
    if (!secret) {
      throw new PayloadDecryptionError(
        `payload encrypted with key ${JSON.stringify(id)}, which is not configured (known: ${[...this.keyring.byId.keys()].join(', ')})`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES)
      throw new PayloadDecryptionError(`encrypted payload too short (key ${JSON.stringify(id)})`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, data.subarray(0, NONCE_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(additionalData(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plaintext);
    } catch (error) {
      throw new PayloadDecryptionError(
        `payload encrypted with key ${JSON.stringify(id)} does not decrypt: wrong key or altered data`,
        { cause: error },
      );
    }
  }
}

function additionalData(keyId: string): Buffer {
  return Buffer.from(`${ENCRYPTED_ENCODING};${CIPHER};${keyId}`, 'utf8');
}

function utf8(value: string): Uint8Array {
  return Buffer.from(value, 'utf8');
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}
