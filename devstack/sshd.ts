import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sshFingerprint } from '../lib/destinations/sftp';

const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];

/** The installed sshd (Debian package openssh-server), or undefined. */
export function findSshd(): string | undefined {
  return SSHD_CANDIDATES.find((candidate) => existsSync(candidate));
}

/** A throwaway OpenSSH server on a loopback port: its own host key, key auth only, internal-sftp. */
export interface TestSshd {
  port: number;
  user: string;
  /** Absolute folder files are delivered into (empty at start). */
  inbox: string;
  /** `sftp://user@127.0.0.1:port/inbox` */
  url: string;
  /** Pinned host key fingerprint, SHA256:… */
  hostKeyFingerprint: string;
  /** Path of the client's private key (unencrypted ed25519), authorised for `user`. */
  clientKeyFile: string;
  /** Stops the server (connections drop); `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts sshd on a free loopback port with a config of its own: its own host key, key auth only
 * (the client key it generates), `internal-sftp`, no chroot and StrictModes off (as root, a chroot
 * needs root-owned parents, and a temp dir's modes are not a home's). `dir` keeps keys and inbox
 * between runs (the demo); default: a fresh temp dir removed by close().
 */
export async function startSshd(sshdPath: string, options: { dir?: string } = {}): Promise<TestSshd> {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'barcodes-sshd-'));
  const keep = options.dir !== undefined;
  mkdirSync(dir, { recursive: true });
  const inbox = path.join(dir, 'inbox');
  mkdirSync(inbox, { recursive: true });
  const user = os.userInfo().username;
  for (const key of ['host_key', 'client_key']) {
    if (!existsSync(path.join(dir, key)))
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, key)]);
  }
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_key.pub')), {
    mode: 0o600,
  });
  const hostKeyFingerprint = sshFingerprint(
    Buffer.from(readFileSync(path.join(dir, 'host_key.pub'), 'utf8').split(' ')[1]!, 'base64'),
  );
  const port = await freePort();
  // Root's sshd wants its privilege separation directory; StrictModes off because the temp dir's
  // modes are not what sshd expects of a home; no chroot (it needs root-owned parents).
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(sshdPath, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child!.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${stderr.trim()}`))),
    );
    await Promise.race([waitForPort(port), exited]);
  };
  const stop = async () => {
    // Gone already (a Ctrl-C reaches the whole process group): its exit event has been and gone.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    user,
    inbox,
    url: `sftp://${user}@127.0.0.1:${port}${inbox}`,
    hostKeyFingerprint,
    clientKeyFile: path.join(dir, 'client_key'),
    stop,
    start,
    async close() {
      await stop();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMillis = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port} within ${timeoutMillis} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
