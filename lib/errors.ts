/**
 * Typed errors. Each carries a stable `code` so the CLI can map it to an exit status and tests can
 * assert on it, and wraps its cause (`{ cause }`) instead of flattening it into the message.
 */
export class BarcodesError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input from a user: a value on the command line, in a format file, in the environment. */
export class InputError extends BarcodesError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'INVALID_INPUT', options);
  }
}

/** Something named by the user does not exist (an interface id, a delivery id). */
export class NotFoundError extends BarcodesError {
  constructor(message: string) {
    super(message, 'NOT_FOUND');
  }
}

/** A service the product needs (PostgreSQL, Temporal, SMTP) cannot be reached or refused. */
export class UnavailableError extends BarcodesError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'UNAVAILABLE', options);
  }
}

/** An interface's stored format cannot render a window (e.g. a character the encoding refuses). */
export class FormatError extends BarcodesError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'FORMAT', options);
  }
}

/**
 * A ticket source row breaks CONTRACT.md §2 (a NULL where the contract says not null, a state
 * outside the list, a price that is not a number). The message names the ticket id and the column,
 * never the bar code: it lands in logs, alerts and Temporal's history.
 */
export class SourceRowError extends BarcodesError {
  constructor(
    readonly ticketId: string,
    readonly column: string,
    problem: string,
  ) {
    super(`ticket ${ticketId}: ${column} ${problem} (CONTRACT.md §2)`, 'SOURCE_ROW');
  }
}

/** A stored file is not the file that was frozen: purged by retention, or its size or SHA-256 differs. */
export class StoredFileError extends BarcodesError {
  constructor(message: string) {
    super(message, 'STORED_FILE');
  }
}
