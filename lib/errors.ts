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
