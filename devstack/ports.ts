/** TCP ports for servers started by the development stack. */
import net from 'node:net';
import { UnavailableError } from '../lib/errors';
import { sleep } from './log';

/** Loopback: nothing the development stack starts is meant to be reachable from other machines. */
export const DEFAULT_HOST = '127.0.0.1';

/** Pause between two connection attempts in `waitForPort`. */
const PORT_POLL_INTERVAL_MILLIS = 100;

/** Upper bound of one connection attempt: loopback answers at once or not at all. */
const CONNECT_ATTEMPT_TIMEOUT_MILLIS = 1000;

/**
 * A TCP port that is free on `host` right now, chosen by the kernel. Another process may take it
 * before the caller binds it; callers that start servers report a clear error when that happens.
 */
export async function freePort(host: string = DEFAULT_HOST): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new UnavailableError(`could not obtain a free TCP port on ${host}`);
  }
  return address.port;
}

/** Whether something accepts TCP connections on `host:port` right now. */
export async function isPortOpen(
  host: string,
  port: number,
  timeoutMillis: number = CONNECT_ATTEMPT_TIMEOUT_MILLIS,
): Promise<boolean> {
  try {
    await connectOnce(host, port, timeoutMillis);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves as soon as `host:port` accepts a TCP connection; rejects with an `UnavailableError`
 * (cause: the last connection error) when it still does not after `timeoutMillis`.
 */
export async function waitForPort(host: string, port: number, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  let lastError: unknown;
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      await connectOnce(host, port, Math.max(1, Math.min(CONNECT_ATTEMPT_TIMEOUT_MILLIS, remaining)));
      return;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new UnavailableError(`nothing accepts connections on ${host}:${port} after ${timeoutMillis} ms`, {
        cause: lastError,
      });
    }
    // The last attempt happens at the deadline, not one interval before it.
    await sleep(Math.min(PORT_POLL_INTERVAL_MILLIS, left));
  }
}

function connectOnce(host: string, port: number, timeoutMillis: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMillis, () => {
      socket.destroy(new Error(`connection to ${host}:${port} timed out after ${timeoutMillis} ms`));
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
