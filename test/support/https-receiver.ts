import { execFileSync } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import os from 'node:os';
import path from 'node:path';

/** One POST the receiver stored (a repeat of an idempotency key is stored again: the checker counts it). */
export interface ReceivedPost {
  idempotencyKey: string;
  fileName: string;
  sha256Header: string;
  body: Buffer;
  receivedAt: Date;
}

/** How the receiver answers the next POSTs (tests change it as they go). */
export interface ReceiverBehaviour {
  /** Answer this status instead of 200, storing nothing. */
  status?: number;
  retryAfterSeconds?: number;
  /** Store the body, then stall without answering for this long (the sender times out). */
  stallAfterStoringMillis?: number;
  /** Only this many POSTs stall (then the receiver answers at once again); default: all. */
  stallCount?: number;
}

/**
 * A receiver as a reseller would write it, on loopback with a certificate from a throwaway test CA
 * (openssl): it verifies the signature (HMAC-SHA256 over "<t>." + body, README "Receiving files
 * over HTTPS") and records every accepted POST with its idempotency key.
 */
export class HttpsReceiver {
  readonly posts: ReceivedPost[] = [];
  readonly rejected: string[] = [];
  dryRuns = 0;
  behaviour: ReceiverBehaviour = {};

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly url: string,
    /** PEM of the test CA: BARCODES_HTTPS_CA_FILE of the worker. */
    readonly caFile: string,
    readonly secret: Buffer,
  ) {}

  static async start(secret: Buffer, port = 0): Promise<HttpsReceiver> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'barcodes-https-'));
    const file = (name: string) => path.join(dir, name);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=barcodes test CA',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    );
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    );
    writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      file('ext.cnf'),
      '-out',
      file('server.pem'),
    );
    let receiver: HttpsReceiver | undefined;
    const server = createServer(
      { key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')) },
      (request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => receiver!.handle(request.headers, Buffer.concat(chunks), response));
      },
    );
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const { port: actual } = server.address() as { port: number };
    receiver = new HttpsReceiver(server, dir, `https://127.0.0.1:${actual}/barcodes`, file('ca.pem'), secret);
    return receiver;
  }

  /** Bodies received under an idempotency key, repeats included. */
  postsFor(idempotencyKey: string): ReceivedPost[] {
    return this.posts.filter((post) => post.idempotencyKey === idempotencyKey);
  }

  private handle(
    headers: NodeJS.Dict<string | string[]>,
    body: Buffer,
    response: import('node:http').ServerResponse,
  ) {
    const signature = String(headers['x-barcodes-signature'] ?? '');
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    const expected = match && createHmac('sha256', this.secret).update(`${match[1]}.`).update(body).digest();
    if (
      !match ||
      !expected ||
      !timingSafeEqual(expected, Buffer.from(match[2]!, 'hex')) ||
      Math.abs(Date.now() / 1000 - Number(match[1])) > 300
    ) {
      this.rejected.push(signature);
      response.writeHead(401).end('bad signature');
      return;
    }
    if (headers['x-barcodes-dry-run'] === '1') {
      this.dryRuns++;
      response.writeHead(204).end();
      return;
    }
    const behaviour = this.behaviour;
    if (behaviour.status) {
      // Refused (or "try later") before storing anything.
      response
        .writeHead(
          behaviour.status,
          behaviour.retryAfterSeconds !== undefined
            ? { 'retry-after': String(behaviour.retryAfterSeconds) }
            : {},
        )
        .end('as told');
      return;
    }
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (sha256 !== headers['x-barcodes-sha256']) {
      response.writeHead(400).end('sha256 mismatch');
      return;
    }
    this.posts.push({
      idempotencyKey: String(headers['idempotency-key']),
      fileName: String(headers['x-barcodes-file-name']),
      sha256Header: sha256,
      body,
      receivedAt: new Date(),
    });
    if (
      behaviour.stallAfterStoringMillis &&
      (behaviour.stallCount === undefined || behaviour.stallCount > 0)
    ) {
      if (behaviour.stallCount !== undefined) behaviour.stallCount--;
      setTimeout(() => response.writeHead(200).end('late'), behaviour.stallAfterStoringMillis).unref();
      return;
    }
    response.writeHead(200).end('stored');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
