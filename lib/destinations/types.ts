import type { Readable } from 'node:stream';
import { BarcodesError } from '../errors';

/**
 * Where a delivery goes. Email is the interface's recipients; SFTP and HTTPS are configured with
 * `interface create|update --sftp/--https` (docs/operators.md, "Destinations: email, SFTP, HTTPS"). Each has its own per-part
 * status in the ledger and its own idempotency rule.
 */
export const DESTINATION_KINDS = ['email', 'sftp', 'https'] as const;
export type DestinationKind = (typeof DESTINATION_KINDS)[number];
/** The kinds configured with a URL and a stored secret. */
export type RemoteDestinationKind = Exclude<DestinationKind, 'email'>;

export interface SftpDestination {
  kind: 'sftp';
  /** `sftp://user@host[:port]/folder`, as the operator gave it (no secret in it). */
  url: string;
  /** `SHA256:<base64>` of the server's host key, as `ssh-keygen -lf` prints it: pinned. */
  hostKeyFingerprint: string;
  /** The client's private key (OpenSSH or PEM, unencrypted): decrypted only for the upload. */
  privateKey: Buffer;
}

export interface HttpsDestination {
  kind: 'https';
  url: string;
  /** Shared secret of the HMAC-SHA256 signature. */
  secret: Buffer;
}

export type RemoteDestination = SftpDestination | HttpsDestination;

/** One stored part as a destination sees it: its identity, checksum and a way to read its bytes. */
export interface OutgoingPart {
  deliveryId: number;
  /** Part number (1-based) and how many the delivery has. */
  index: number;
  partCount: number;
  /** scheduled/run: the window's own file; backfill/resend: a deliberate repeat under its own name. */
  deliveryKind: 'scheduled' | 'run' | 'backfill' | 'resend';
  fileName: string;
  contentType: string;
  byteCount: number;
  /** Hex SHA-256 of the part's bytes, recorded when the window was frozen. */
  sha256: string;
  /** Deterministic per (interface, window, part): the HTTPS idempotency key, too. */
  messageId: string;
  /** Streams the stored bytes afresh (each call starts at the first byte). */
  open(): Readable;
}

/** What a destination says about a part it now holds, for the ledger (`deliveries --json`). */
export interface DeliveredPart {
  /** E.g. the remote path, or the receiver's status line; never a secret. */
  detail: string;
}

/**
 * A destination could not take a part. `permanent`: retrying the same bytes cannot help (a host
 * key that changed, a different file under the final name, an HTTP 4xx); otherwise it is retried
 * with backoff and does not count toward self-pause.
 */
export class DestinationError extends BarcodesError {
  constructor(
    readonly destination: DestinationKind,
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown; retryAfterMillis?: number },
  ) {
    super(message, permanent ? 'DESTINATION_PERMANENT' : 'DESTINATION_TRANSIENT', options);
    this.retryAfterMillis = options?.retryAfterMillis;
  }
  /** The receiver's Retry-After, when it gave one. */
  readonly retryAfterMillis: number | undefined;
}

/** Points where the fault suite stops a worker, between a destination's steps (no-op otherwise). */
export interface DeliveryHooks {
  /** SFTP: the temporary file is complete, the final name not yet given. */
  afterUpload?(): Promise<void>;
}
