import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InputError } from '../errors';
import { loadKeyring, type PayloadKeyring } from '../security/payload-keys';
import type { ReadTextFile } from '../security/secrets';

/**
 * The variable holding the keys that encrypt destination secrets (SFTP private keys, HTTPS signing
 * secrets) in the exporter's database, or `<it>_FILE` naming a file that holds them. Same syntax
 * as BARCODES_PAYLOAD_KEYS (`id:base64key[,id:base64key…]`): the first key encrypts, every key
 * listed decrypts, so a key is rotated by putting a new one first and re-saving the destinations.
 */
const SECRETS_KEY_VARIABLE = 'BARCODES_SECRETS_KEY';

/** Marks the sealed format, so a later scheme can be told apart. */
const SEALED_VERSION = 'v1';
const IV_BYTES = 12;

export type SecretsKeyring = PayloadKeyring;

/** A secret that cannot be used: no key configured, an unknown key id, or damaged ciphertext. */
export class SecretsKeyError extends InputError {}

/** The configured keyring, or undefined when neither variable is set. */
export function loadSecretsKeyring(
  env: NodeJS.ProcessEnv = process.env,
  readFile?: ReadTextFile,
): SecretsKeyring | undefined {
  return loadKeyring(SECRETS_KEY_VARIABLE, env, readFile);
}

/** The keyring, or the one-line error an operator needs when it is missing. */
export function requireSecretsKeyring(keyring: SecretsKeyring | undefined, purpose: string): SecretsKeyring {
  if (keyring) return keyring;
  throw new SecretsKeyError(
    `${SECRETS_KEY_VARIABLE} (or ${SECRETS_KEY_VARIABLE}_FILE) is not set: it is needed to ${purpose} (e.g. ${SECRETS_KEY_VARIABLE}=k1:$(openssl rand -base64 32), the same on every worker)`,
  );
}

/**
 * AES-256-GCM under the keyring's first key: `v1:<key id>:<iv>:<tag>:<ciphertext>` (base64 parts).
 * The key id travels with the ciphertext so a rotated keyring still opens older secrets; the
 * additional data binds the secret to its place (`interface 3 sftp`), so a ciphertext copied onto
 * another destination does not open.
 */
export function sealSecret(keyring: SecretsKeyring, plaintext: Buffer, boundTo: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.secret, iv);
  cipher.setAAD(Buffer.from(boundTo, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [
    SEALED_VERSION,
    keyring.current.id,
    iv.toString('base64'),
    cipher.getAuthTag().toString('base64'),
    ciphertext.toString('base64'),
  ].join(':');
}

export function openSecret(keyring: SecretsKeyring, sealed: string, boundTo: string): Buffer {
  const [version, keyId, iv, tag, ciphertext] = sealed.split(':');
  if (version !== SEALED_VERSION || !keyId || !iv || !tag || ciphertext === undefined) {
    throw new SecretsKeyError(`the stored secret of ${boundTo} is not in a known format`);
  }
  const key = keyring.byId.get(keyId);
  if (!key) {
    throw new SecretsKeyError(
      `the stored secret of ${boundTo} is encrypted with key ${JSON.stringify(keyId)}, which ${SECRETS_KEY_VARIABLE} does not list (add it back after the new key, or set the secret again)`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(boundTo, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]);
  } catch (error) {
    throw new SecretsKeyError(
      `the stored secret of ${boundTo} does not decrypt with key ${JSON.stringify(keyId)} (wrong key bytes under that id, or damaged)`,
      { cause: error },
    );
  }
}

/** Key id a sealed secret was written with: `doctor` reports secrets still under an older key. */
export function sealedKeyId(sealed: string): string | undefined {
  return sealed.split(':')[1];
}

/** A short, non-reversible tag of a shared secret for display and the audit trail. */
export function secretFingerprint(secret: Buffer): string {
  return 'sha256:' + createHash('sha256').update(secret).digest('hex').slice(0, 16);
}
