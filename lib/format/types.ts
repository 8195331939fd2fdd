/** What renderWindow is given and gives back. */

export interface RenderContext {
  /** The interface's name, slugified into file names. */
  interfaceName: string;
  /** IANA time zone of the file's dates and times (`Europe/Zurich`); default `UTC`. */
  timeZone: string;
  /** Start of the window (inclusive), in file names as `YYYYMMDDTHHmmssZ` and in the trailer. */
  windowStart: Date;
  /** End of the window (exclusive). */
  windowEnd: Date;
  /** Encrypts every part as its last layer (after compression); absent: plain files. */
  encryption?: PartEncryption;
}

/**
 * The encryption of an interface's files (OpenPGP to the reseller's key: lib/security/openpgp.ts).
 * The renderer applies it to each part after compression and before the sink, so the part the
 * sink stores, counts and hashes is the encrypted file, i.e. the attachment.
 */
export interface PartEncryption {
  /** Appended to each part's file name (`.pgp`). */
  readonly fileNameSuffix: string;
  /** MIME type of an encrypted part. */
  readonly contentType: string;
  /**
   * Encrypts one part: `plain` yields its bytes (after compression) as they are pulled, the result
   * yields the encrypted bytes. `literal` is the plain file inside: its name and date.
   */
  encrypt(
    plain: AsyncIterable<Uint8Array>,
    literal: { fileName: string; date: Date },
  ): AsyncIterable<Uint8Array>;
}

/** One file of a rendered window: a window is one part unless it exceeds the spec's maxFileSize. */
export interface FilePart {
  /** 1-based. */
  index: number;
  /** Decided once the part count is known (names may contain it). */
  fileName: string;
  /** MIME type for the attachment, e.g. `text/csv; charset=utf-8`, `application/gzip` (`application/octet-stream` when encrypted). */
  contentType: string;
  /** Bytes the sink was given for this part (after compression and encryption). */
  byteCount: number;
  /** Tickets in this part. */
  rowCount: number;
  /** Hex SHA-256 of the bytes the sink was given for this part. */
  sha256: string;
}

/**
 * Receives the bytes of each part, in order: beginPart(1), write…, endPart(), beginPart(2)… Every
 * call is awaited before the next, so a slow sink slows rendering down instead of filling memory.
 * When renderWindow throws, the window failed as a whole: discard everything written (the last
 * part may have been left without endPart). A chunk is never touched again by the renderer once
 * given, so a sink may keep it without copying.
 */
export interface PartSink {
  beginPart(index: number): Promise<void>;
  write(chunk: Buffer): Promise<void>;
  endPart(): Promise<void>;
}

export interface RenderResult {
  /** Tickets in the window, over all parts. */
  ticketCount: number;
  /** Empty when the window had no tickets and the spec's emptyWindow is `skip`. */
  parts: FilePart[];
}
