import { InputError } from '../errors';
import { readBoundedFile } from '../input-files';
import type { SealedDestination } from '../interfaces/store';
import { checkHttpsUrl } from './https';
import {
  loadSecretsKeyring,
  requireSecretsKeyring,
  sealSecret,
  secretFingerprint,
  type SecretsKeyring,
} from './secret-box';
import { checkHostKeyFingerprint, parseSftpUrl, privateKeyFingerprint } from './sftp';
import type { RemoteDestinationKind } from './types';

/** A private key or a shared secret is small; anything bigger is the wrong file. */
const SECRET_FILE_BYTES = 64 * 1024;
/** An HMAC secret shorter than this is guessable. */
const MIN_HTTPS_SECRET_BYTES = 16;

/** The destination options of `interface create|update`, as commander hands them over. */
export interface DestinationOptions {
  /** `sftp://user@host[:port]/folder`; `false` from `--no-sftp`: remove it. */
  sftp?: string | false;
  sftpKey?: string;
  sftpHostKey?: string;
  /** The receiver's URL; `false` from `--no-https`: remove it. */
  https?: string | false;
  httpsSecretFile?: string;
}

/**
 * Reads the secret files now (the command's moment, not the worker's) and seals them, so the
 * plain secret exists only in this process's memory. Everything is checked before anything is
 * written. The additional data binds each secret to its kind and URL.
 */
export function parseDestinationOptions(
  options: DestinationOptions,
  keyring: () => SecretsKeyring | undefined = () => loadSecretsKeyring(),
): Partial<Record<RemoteDestinationKind, SealedDestination | null>> {
  const result: Partial<Record<RemoteDestinationKind, SealedDestination | null>> = {};
  if (options.sftp === false) result.sftp = null;
  else if (options.sftp !== undefined) {
    parseSftpUrl(options.sftp);
    if (!options.sftpKey)
      throw new InputError('--sftp-key: required with --sftp (the private key the exporter logs in with)');
    if (!options.sftpHostKey)
      throw new InputError(
        "--sftp-host-key: required with --sftp (the server's SHA256 host key fingerprint: ssh-keyscan HOST | ssh-keygen -lf -)",
      );
    const hostKeyFingerprint = checkHostKeyFingerprint(options.sftpHostKey);
    const privateKey = readBoundedFile(options.sftpKey, '--sftp-key', SECRET_FILE_BYTES);
    const fingerprint = privateKeyFingerprint(privateKey, `--sftp-key: ${JSON.stringify(options.sftpKey)}`);
    const ring = requireSecretsKeyring(keyring(), 'store the SFTP private key');
    result.sftp = {
      url: options.sftp,
      hostKeyFingerprint,
      secretSealed: sealSecret(ring, privateKey, sealedBinding('sftp', options.sftp)),
      secretFingerprint: fingerprint,
    };
  } else if (options.sftpKey || options.sftpHostKey) {
    throw new InputError(
      `${options.sftpKey ? '--sftp-key' : '--sftp-host-key'}: only with --sftp URL (the destination is set whole)`,
    );
  }
  if (options.https === false) result.https = null;
  else if (options.https !== undefined) {
    const url = checkHttpsUrl(options.https);
    if (!options.httpsSecretFile)
      throw new InputError(
        '--https-secret-file: required with --https (the shared secret requests are signed with)',
      );
    const secret = Buffer.from(
      readBoundedFile(options.httpsSecretFile, '--https-secret-file', SECRET_FILE_BYTES)
        .toString('utf8')
        .trim(),
      'utf8',
    );
    if (secret.length < MIN_HTTPS_SECRET_BYTES) {
      throw new InputError(
        `--https-secret-file: ${JSON.stringify(options.httpsSecretFile)} holds ${secret.length} bytes; use at least ${MIN_HTTPS_SECRET_BYTES} (openssl rand -hex 32)`,
      );
    }
    const ring = requireSecretsKeyring(keyring(), 'store the HTTPS signing secret');
    result.https = {
      url,
      hostKeyFingerprint: null,
      secretSealed: sealSecret(ring, secret, sealedBinding('https', url)),
      secretFingerprint: secretFingerprint(secret),
    };
  } else if (options.httpsSecretFile) {
    throw new InputError('--https-secret-file: only with --https URL');
  }
  return result;
}

/** What a sealed secret is bound to: a ciphertext moved onto another destination does not open. */
export function sealedBinding(kind: RemoteDestinationKind, url: string): string {
  return `${kind} ${url}`;
}
