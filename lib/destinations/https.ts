import { createHmac } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { InputError } from '../errors';
import { readCaCertificates } from '../input-files';
import { DestinationError, type DeliveredPart, type HttpsDestination, type OutgoingPart } from './types';

/**
 * The headers a receiver reads (docs/resellers.md, "Receiving files over HTTPS and SFTP"). The signature covers the
 * timestamp and the body, so a captured request cannot be replayed later with other bytes; the
 * idempotency key is the part's Message-ID, the same on every retry, so a receiver that stored
 * the body but whose answer was lost recognises the repeat.
 */
const HTTPS_HEADERS = {
  signature: 'x-barcodes-signature',
  idempotencyKey: 'idempotency-key',
  fileName: 'x-barcodes-file-name',
  sha256: 'x-barcodes-sha256',
  part: 'x-barcodes-part',
  deliveryKind: 'x-barcodes-delivery-kind',
  dryRun: 'x-barcodes-dry-run',
} as const;

/** An answer slower than this is a timeout: transient, the same part is posted again later. */
export const HTTPS_TIMEOUT_MILLIS = 60_000;
/** Longest Retry-After honoured: a receiver asking for more is retried on the normal backoff. */
const MAX_RETRY_AFTER_MILLIS = 15 * 60_000;

interface HttpsSenderOptions {
  /** Extra CA certificates (PEM) trusted besides the system's: a receiver with a private CA. */
  extraCaPem?: string;
  timeoutMillis?: number;
  /** Seconds since the epoch (tests pin it). */
  now?: () => number;
}

export interface HttpsSender {
  deliver(part: OutgoingPart, destination: HttpsDestination): Promise<DeliveredPart>;
  /** `doctor`: a signed empty POST with the dry-run header; the receiver checks it and stores nothing. */
  check(destination: HttpsDestination): Promise<string>;
  close(): Promise<void>;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. */
export function signatureHeader(secret: Buffer, timestamp: number, body: Iterable<Buffer> | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`);
  for (const chunk of Buffer.isBuffer(body) ? [body] : body) mac.update(chunk);
  return `t=${timestamp},v1=${mac.digest('hex')}`;
}

export function checkHttpsUrl(text: string, option = '--https'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(`${option}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'https:')
    throw new InputError(
      `${option}: ${JSON.stringify(text)} must start with https:// (the body is a reseller's barcodes)`,
    );
  if (url.username || url.password)
    throw new InputError(
      `${option}: no credentials in the URL: requests are signed with --https-secret-file`,
    );
  // A token in the query would be printed by show, logged with every failure and kept in Temporal's
  // failure messages; the signature already authenticates the request.
  if (url.search || url.hash)
    throw new InputError(
      `${option}: no query string or fragment: requests are authenticated by their signature (--https-secret-file)`,
    );
  return url.toString();
}

/**
 * The extra CAs for HTTPS receivers (BARCODES_HTTPS_CA_FILE), read once where a sender is made
 * (the worker's start, doctor), checked as lib/input-files.ts says.
 */
export function readHttpsCaPem(path: string | null): string | undefined {
  return path === null ? undefined : readCaCertificates(path, 'BARCODES_HTTPS_CA_FILE');
}

export function createHttpsSender(options: HttpsSenderOptions = {}): HttpsSender {
  const timeoutMillis = options.timeoutMillis ?? HTTPS_TIMEOUT_MILLIS;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const dispatcher: Dispatcher = new Agent({
    connect: options.extraCaPem ? { ca: [...rootCertificates, options.extraCaPem] } : {},
    headersTimeout: timeoutMillis,
    bodyTimeout: timeoutMillis,
  });

  async function post(
    destination: HttpsDestination,
    headers: Record<string, string>,
    body: () => AsyncIterable<Buffer> | Buffer,
  ) {
    try {
      const response = await request(destination.url, {
        method: 'POST',
        dispatcher,
        headers,
        body: body() as never,
      });
      const text = (await response.body.text()).slice(0, 200).replace(/\s+/g, ' ').trim();
      return { status: response.statusCode, retryAfter: response.headers['retry-after'], text };
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      // A certificate the platform does not trust will not become trusted by retrying.
      const permanent = /CERT|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID/.test(code);
      throw new DestinationError(
        'https',
        `https: POST ${destination.url} failed: ${code ? code + ' ' : ''}${(error as Error).message}`,
        permanent,
        { cause: error },
      );
    }
  }

  return {
    async deliver(part, destination) {
      const timestamp = now();
      // Signed before sending (the header precedes the body), so the bytes are read twice.
      const mac = createHmac('sha256', destination.secret).update(`${timestamp}.`);
      for await (const chunk of part.open() as AsyncIterable<Buffer>) mac.update(chunk);
      const headers = {
        'content-type': part.contentType,
        'content-length': String(part.byteCount),
        [HTTPS_HEADERS.signature]: `t=${timestamp},v1=${mac.digest('hex')}`,
        [HTTPS_HEADERS.idempotencyKey]: part.messageId,
        [HTTPS_HEADERS.fileName]: part.fileName,
        [HTTPS_HEADERS.sha256]: part.sha256,
        [HTTPS_HEADERS.part]: `${part.index}/${part.partCount}`,
        [HTTPS_HEADERS.deliveryKind]: part.deliveryKind,
      };
      const answer = await post(destination, headers, () => part.open() as unknown as AsyncIterable<Buffer>);
      return classify(destination, answer, `${part.messageId}`);
    },

    async check(destination) {
      const timestamp = now();
      const answer = await post(
        destination,
        {
          'content-length': '0',
          [HTTPS_HEADERS.signature]: signatureHeader(destination.secret, timestamp, Buffer.alloc(0)),
          [HTTPS_HEADERS.dryRun]: '1',
        },
        () => Buffer.alloc(0),
      );
      const delivered = classify(destination, answer, 'dry run');
      return `reachable, signature accepted (${delivered.detail})`;
    },

    async close() {
      await dispatcher.close();
    },
  };
}

/** 2xx delivered; 408, 429 and 5xx transient (Retry-After honoured); any other answer permanent. */
function classify(
  destination: HttpsDestination,
  answer: { status: number; retryAfter: string | string[] | undefined; text: string },
  what: string,
): DeliveredPart {
  const line = `HTTP ${answer.status}${answer.text ? ` ${answer.text}` : ''}`;
  if (answer.status >= 200 && answer.status < 300) return { detail: line };
  const transient = answer.status === 408 || answer.status === 429 || answer.status >= 500;
  throw new DestinationError('https', `https: ${destination.url} answered ${line} to ${what}`, !transient, {
    retryAfterMillis: transient ? parseRetryAfter(answer.retryAfter) : undefined,
  });
}

/** Retry-After as seconds or an HTTP date; undefined when absent, unreadable or unreasonably long. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  nowMillis = Date.now(),
): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const millis = /^\d+$/.test(text.trim()) ? Number(text.trim()) * 1000 : Date.parse(text) - nowMillis;
  if (!Number.isFinite(millis) || millis < 0 || millis > MAX_RETRY_AFTER_MILLIS) return undefined;
  return millis;
}
