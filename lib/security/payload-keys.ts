import { InputError } from '../errors';
import { readSecret, type ReadTextFile } from './secrets';

/** The variable holding the payload keys (or `<it>_FILE`, naming a file that holds them). */
export const PAYLOAD_KEYS_VARIABLE = 'BARCODES_PAYLOAD_KEYS';

/** AES-256: exactly this many key bytes. */
const PAYLOAD_KEY_BYTES = 32;

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

interface PayloadKey {
  /** Short name stored in each encrypted payload's metadata, so the right key is found after a rotation. */
  id: string;
  /** 32 secret bytes. */
  secret: Buffer;
}

/** The keys of a deployment: one encrypts, all decrypt. */
export interface PayloadKeyring {
  /** The first key listed: every new payload is encrypted with it. */
  current: PayloadKey;
  /** Every key listed, by id: payloads written under an older key still decrypt. */
  byId: ReadonlyMap<string, Buffer>;
}

/**
 * Parses `id:base64key[,id:base64key…]` (commas or new lines between entries, `#` comments in a
 * file). Errors name the entry by its position and id, never by its key bytes.
 */
export function parsePayloadKeys(text: string, source = PAYLOAD_KEYS_VARIABLE): PayloadKeyring {
  const entries = text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, ''))
    .join(',')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0)
    throw new InputError(`${source}: no key (expected id:base64key, e.g. k1:$(openssl rand -base64 32))`);
  const keys: PayloadKey[] = [];
  entries.forEach((entry, index) => {
    const separator = entry.indexOf(':');
    const id = separator > 0 ? entry.slice(0, separator) : '';
    const encoded = separator > 0 ? entry.slice(separator + 1).trim() : '';
    const where = `${source}: key ${index + 1}${KEY_ID.test(id) ? ` (${JSON.stringify(id)})` : ''}`;
    if (!KEY_ID.test(id))
      throw new InputError(`${where}: expected id:base64key with an id of letters, digits, '.', '_' or '-'`);
    const secret = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
    if (secret.length !== PAYLOAD_KEY_BYTES) {
      throw new InputError(
        `${where}: expected ${PAYLOAD_KEY_BYTES} bytes in base64 (openssl rand -base64 ${PAYLOAD_KEY_BYTES})`,
      );
    }
    if (keys.some((key) => key.id === id)) throw new InputError(`${where}: key id listed twice`);
    keys.push({ id, secret });
  });
  return { current: keys[0]!, byId: new Map(keys.map((key) => [key.id, key.secret])) };
}

/**
 * The keyring configured by `BARCODES_PAYLOAD_KEYS` or `BARCODES_PAYLOAD_KEYS_FILE`, or
 * undefined when neither is set (payloads then travel as plain JSON, the SDK's default).
 */
export function loadPayloadKeyring(
  env: NodeJS.ProcessEnv = process.env,
  readFile?: ReadTextFile,
): PayloadKeyring | undefined {
  return loadKeyring(PAYLOAD_KEYS_VARIABLE, env, readFile);
}

/**
 * A keyring in the `id:base64key[,…]` syntax from `variable`, or from the file `<variable>_FILE`
 * names; undefined when neither is set. Errors name the variable that was read.
 */
export function loadKeyring(
  variable: string,
  env: NodeJS.ProcessEnv,
  readFile?: ReadTextFile,
): PayloadKeyring | undefined {
  const text = readSecret(env, variable, readFile);
  if (text === undefined) return undefined;
  return parsePayloadKeys(text, env[variable] ? variable : `${variable}_FILE`);
}
