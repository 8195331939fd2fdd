import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Client, utils, type SFTPWrapper } from 'ssh2';
import { InputError } from '../errors';
import { remoteFileName, temporaryFileName } from './remote-name';
import {
  DestinationError,
  type DeliveredPart,
  type DeliveryHooks,
  type OutgoingPart,
  type SftpDestination,
} from './types';

/** How long connecting and logging in may take before the attempt is retried later. */
const SFTP_READY_TIMEOUT_MILLIS = 20_000;
/** Detects a dead connection during a long upload (keepalive every 10 s, 3 missed = dead). */
const KEEPALIVE_INTERVAL_MILLIS = 10_000;
const WRITE_CHUNK_BYTES = 32 * 1024;
/** SFTP status codes (draft-ietf-secsh-filexfer-02) that say a path does not exist. */
const SFTP_NO_SUCH_FILE = 2;

interface SftpLocation {
  host: string;
  port: number;
  username: string;
  /** Absolute folder, or relative to the login's home when the URL path is `/~/…`. */
  folder: string;
}

/** Parses `sftp://user@host[:port]/folder`; the error names the option. */
export function parseSftpUrl(text: string, option = '--sftp'): SftpLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(
      `${option}: ${JSON.stringify(text)} is not a URL (expected sftp://user@host[:port]/folder)`,
    );
  }
  if (url.protocol !== 'sftp:')
    throw new InputError(`${option}: ${JSON.stringify(text)} must start with sftp://`);
  if (!url.username)
    throw new InputError(`${option}: ${JSON.stringify(text)} names no user (sftp://user@host/folder)`);
  if (url.password) throw new InputError(`${option}: no password in the URL: SFTP logs in with --sftp-key`);
  if (url.search || url.hash)
    throw new InputError(`${option}: ${JSON.stringify(text)} has a query or fragment`);
  const path = decodeURIComponent(url.pathname);
  // `/~/in` is relative to the login's home, as in OpenSSH's sftp(1); anything else is absolute.
  const folder = path.startsWith('/~/') ? path.slice(3) || '.' : path === '/~' ? '.' : path || '/';
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 22,
    username: decodeURIComponent(url.username),
    folder,
  };
}

/** `SHA256:<base64 without padding>` of a raw SSH public key, as `ssh-keygen -l` prints it. */
export function sshFingerprint(publicKeyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '');
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export function checkHostKeyFingerprint(text: string, option = '--sftp-host-key'): string {
  const trimmed = text.trim();
  if (!FINGERPRINT.test(trimmed)) {
    throw new InputError(
      `${option}: ${JSON.stringify(text)} is not a SHA256 host key fingerprint (ssh-keyscan -p PORT HOST | ssh-keygen -lf -)`,
    );
  }
  return trimmed;
}

/**
 * Reads an unencrypted private key (OpenSSH or PEM) and returns the fingerprint of its public half:
 * what `show` and the audit trail print, and what the reseller adds to authorized_keys.
 */
export function privateKeyFingerprint(privateKey: Buffer, what = '--sftp-key'): string {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) {
    throw new InputError(
      `${what}: not a private key ssh2 can read (${key instanceof Error ? key.message : 'empty'}); an encrypted key must be decrypted first (ssh-keygen -p -N "")`,
    );
  }
  if (!key.isPrivateKey())
    throw new InputError(
      `${what}: holds a public key; give the private key (the reseller gets the public one)`,
    );
  return sshFingerprint(key.getPublicSSH());
}

/**
 * Puts one part into the destination folder exactly once: if the final name already holds the
 * same bytes (same size and SHA-256) it was delivered before (a crash after the rename) and counts
 * as delivered; another file under that name is a permanent failure and is never overwritten.
 * Otherwise the bytes go to a temporary name in the same folder, are synced, and are renamed to
 * the final name; SFTP's rename refuses an existing target, so a racing writer cannot be clobbered.
 */
export async function deliverBySftp(
  part: OutgoingPart,
  destination: SftpDestination,
  hooks: DeliveryHooks = {},
): Promise<DeliveredPart> {
  const location = parseSftpUrl(destination.url);
  const finalName = remoteFileName(part);
  const finalPath = posix.join(location.folder, finalName);
  const temporaryPath = posix.join(location.folder, temporaryFileName(finalName, part));
  return withSftp(destination, async (sftp) => {
    const existing = await whatIsAt(sftp, finalPath, part);
    if (existing === 'same') return { detail: `${finalPath} (already there, same SHA-256)` };
    if (existing === 'different') throw conflict(finalPath, part);
    await upload(sftp, temporaryPath, part);
    await hooks.afterUpload?.();
    try {
      await call<void>((done) => sftp.rename(temporaryPath, finalPath, done));
    } catch (error) {
      // Taken meanwhile (an earlier attempt whose answer was lost): the same bytes are a delivery.
      const now = await whatIsAt(sftp, finalPath, part);
      if (now === 'same') {
        await call<void>((done) => sftp.unlink(temporaryPath, done)).catch(() => {});
        return { detail: `${finalPath} (already there, same SHA-256)` };
      }
      if (now === 'different') throw conflict(finalPath, part);
      throw new DestinationError(
        'sftp',
        `sftp: cannot rename ${temporaryPath} to ${finalPath}: ${(error as Error).message}`,
        false,
        { cause: error },
      );
    }
    return { detail: finalPath };
  });
}

/**
 * `doctor`: logs in with the pinned host key and the stored key, and proves the folder writable by
 * creating and removing a probe file. Returns what it found, in one line.
 */
export async function checkSftp(destination: SftpDestination): Promise<string> {
  const location = parseSftpUrl(destination.url);
  return withSftp(destination, async (sftp) => {
    const probe = posix.join(location.folder, `.barcodes-doctor-${process.pid}-${Date.now()}.probe`);
    const handle = await call<Buffer>((done) => sftp.open(probe, 'w', done));
    await call<void>((done) => sftp.close(handle, done));
    await call<void>((done) => sftp.unlink(probe, done));
    return `logged in as ${location.username}, ${location.folder} writable`;
  });
}

type Existing = 'absent' | 'same' | 'different';

async function whatIsAt(sftp: SFTPWrapper, path: string, part: OutgoingPart): Promise<Existing> {
  let size: number;
  try {
    size = (await call<{ size: number }>((done) => sftp.stat(path, done))).size;
  } catch (error) {
    if ((error as { code?: number }).code === SFTP_NO_SUCH_FILE) return 'absent';
    throw new DestinationError('sftp', `sftp: cannot look at ${path}: ${(error as Error).message}`, false, {
      cause: error,
    });
  }
  if (size !== part.byteCount) return 'different';
  const hash = createHash('sha256');
  for await (const chunk of sftp.createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex') === part.sha256 ? 'same' : 'different';
}

async function upload(sftp: SFTPWrapper, path: string, part: OutgoingPart): Promise<void> {
  let handle: Buffer;
  try {
    handle = await call<Buffer>((done) => sftp.open(path, 'w', done));
  } catch (error) {
    // A folder that is missing or not writable does not fix itself between retries.
    const code = (error as { code?: number }).code;
    throw new DestinationError(
      'sftp',
      `sftp: cannot create ${path}: ${(error as Error).message}`,
      code === SFTP_NO_SUCH_FILE || code === 3,
      { cause: error },
    );
  }
  try {
    let position = 0;
    for await (const chunk of part.open() as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length; offset += WRITE_CHUNK_BYTES) {
        const length = Math.min(WRITE_CHUNK_BYTES, chunk.length - offset);
        await call<void>((done) => sftp.write(handle, chunk, offset, length, position, done));
        position += length;
      }
    }
    if (position !== part.byteCount)
      throw new DestinationError(
        'sftp',
        `sftp: read ${position} bytes of the stored part, ${part.byteCount} frozen`,
        true,
      );
    // Durable before it gets its final name, where the server offers it (OpenSSH does).
    await call<void>((done) => sftp.ext_openssh_fsync(handle, (error) => done(error))).catch(() => {});
  } finally {
    await call<void>((done) => sftp.close(handle, done)).catch(() => {});
  }
}

function conflict(path: string, part: OutgoingPart): DestinationError {
  return new DestinationError(
    'sftp',
    `sftp: ${path} already exists with other content than delivery ${part.deliveryId} part ${part.index} (SHA-256 ${part.sha256}); it is not overwritten: move it away, then resend`,
    true,
  );
}

/** Connects with the pinned host key, runs `work` on an SFTP session, and always disconnects. */
async function withSftp<T>(
  destination: SftpDestination,
  work: (sftp: SFTPWrapper) => Promise<T>,
): Promise<T> {
  const location = parseSftpUrl(destination.url);
  const where = `${location.username}@${location.host}:${location.port}`;
  const client = new Client();
  let presented: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.connect({
        host: location.host,
        port: location.port,
        username: location.username,
        privateKey: destination.privateKey,
        readyTimeout: SFTP_READY_TIMEOUT_MILLIS,
        keepaliveInterval: KEEPALIVE_INTERVAL_MILLIS,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          presented = sshFingerprint(key);
          return presented === destination.hostKeyFingerprint;
        },
      });
    });
  } catch (error) {
    client.end();
    if (presented !== undefined && presented !== destination.hostKeyFingerprint) {
      throw new DestinationError(
        'sftp',
        `sftp: ${where} presented host key ${presented}, but ${destination.hostKeyFingerprint} is pinned: not connecting (if the server's key really changed, update --sftp-host-key)`,
        true,
        { cause: error },
      );
    }
    const level = (error as { level?: string }).level;
    if (level === 'client-authentication') {
      throw new DestinationError(
        'sftp',
        `sftp: ${where} refused the key (add its public key to the user's authorized_keys)`,
        true,
        { cause: error },
      );
    }
    throw new DestinationError(
      'sftp',
      `sftp: cannot connect to ${where}: ${(error as Error).message}`,
      false,
      { cause: error },
    );
  }
  try {
    const sftp = await call<SFTPWrapper>((done) => client.sftp(done)).catch((error: Error) => {
      throw new DestinationError('sftp', `sftp: ${where} has no SFTP subsystem: ${error.message}`, true, {
        cause: error,
      });
    });
    return await work(sftp);
  } catch (error) {
    if (error instanceof DestinationError) throw error;
    throw new DestinationError('sftp', `sftp: ${where}: ${(error as Error).message}`, false, {
      cause: error,
    });
  } finally {
    client.end();
  }
}

function call<T>(start: (done: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    start((error, value) => (error ? reject(error) : resolve(value as T))),
  );
}
