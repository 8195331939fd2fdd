import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { UnavailableError } from '../errors';

/**
 * The HTTP endpoint the Temporal UI (and `temporal … --codec-endpoint`) calls to show encrypted
 * payloads in clear: POST `<endpoint>/decode` and `<endpoint>/encode` with
 * `{"payloads":[{"metadata":{k: base64}, "data": base64}]}`, answered in the same shape.
 * Whoever can reach it can read payloads: it listens on loopback by default, so each authorised
 * operator runs it next to their browser with the keys, and only the UI's origin may call it
 * from a browser.
 */
interface CodecServerOptions {
  /** The codec that holds the keys. */
  codec: PayloadCodec;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to listen on. */
  host?: string;
  /** Browser origins allowed to call it (the Temporal UI's, e.g. http://localhost:8233). */
  allowedOrigins: string[];
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** One line per refused or failed request (never a payload). */
  log?: (line: string) => void;
}

export const CODEC_SERVER_DEFAULTS = {
  port: 8888,
  host: '127.0.0.1',
  origin: 'http://localhost:8233',
  /** Temporal caps a payload at 2 MB; a history page can carry several. */
  maxBodyBytes: 16 * 1024 * 1024,
} as const;

interface RunningCodecServer {
  /** `http://host:port`: the codec endpoint to enter in the Temporal UI. */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';

export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const host = options.host ?? CODEC_SERVER_DEFAULTS.host;
  const allowed = new Set(options.allowedOrigins.map(normaliseOrigin));
  const maxBodyBytes = options.maxBodyBytes ?? CODEC_SERVER_DEFAULTS.maxBodyBytes;
  const log = options.log ?? (() => {});

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`codec server: ${request.method} ${request.url}: ${(error as Error).message}`);
      if (!response.headersSent) send(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const origin = request.headers.origin;
    // Requests without Origin come from command-line tools, not from a web page.
    if (origin !== undefined) {
      if (!allowed.has(normaliseOrigin(origin))) {
        log(`codec server: refused origin ${JSON.stringify(origin)}`);
        send(response, 403, { error: `origin ${origin} is not allowed (see --origin)` });
        return;
      }
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Access-Control-Allow-Credentials', 'true');
      response.setHeader('Vary', 'Origin');
    }
    if (request.method === 'OPTIONS') {
      response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      response.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      response.setHeader('Access-Control-Max-Age', '600');
      response.writeHead(204).end();
      return;
    }
    const path = new URL(request.url ?? '/', 'http://codec').pathname;
    const operation = path.endsWith('/decode') ? 'decode' : path.endsWith('/encode') ? 'encode' : undefined;
    if (!operation) {
      send(response, 404, { error: 'POST /decode or /encode' });
      return;
    }
    if (request.method !== 'POST') {
      send(response, 405, { error: 'use POST' });
      return;
    }
    const body = await readBody(request, maxBodyBytes);
    if (body === undefined) {
      send(response, 413, { error: `request larger than ${maxBodyBytes} bytes` });
      return;
    }
    let payloads: Payload[];
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { payloads?: JsonPayload[] };
      if (!Array.isArray(parsed.payloads)) throw new Error('no payloads array');
      payloads = parsed.payloads.map(fromJson);
    } catch (error) {
      send(response, 400, { error: `invalid request: ${(error as Error).message}` });
      return;
    }
    try {
      const result =
        operation === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      send(response, 200, { payloads: result.map(toJson) });
    } catch (error) {
      // A payload under an unknown or wrong key: say so (the message names the key id only).
      log(`codec server: ${operation} refused: ${(error as Error).message}`);
      send(response, 400, { error: (error as Error).message });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new UnavailableError(`codec server cannot listen on ${host}:${options.port}: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function normaliseOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}

function readBody(request: http.IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function fromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
    ),
    data: Buffer.from(data ?? '', 'base64'),
  };
}

function toJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
    data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
  };
}

function send(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
