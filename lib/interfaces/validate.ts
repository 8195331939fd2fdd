import { InputError } from '../errors';

const MAX_NAME_LENGTH = 200;
// Deliberately strict: addresses end up in SMTP envelopes and headers, so anything that could
// smuggle a header (CR/LF), a second address (`,` `;`) or a display name is refused.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_CODE_LENGTH = 100;
const MAX_ACTOR_LENGTH = 100;
const MIN_INTERVAL_SECONDS = 60;

/**
 * Characters no name, code or actor may hold, because these texts end up in email subjects and
 * headers, file names, logs and terminals:
 * - C0 and C1 control characters and DEL (CR/LF smuggle headers; ESC drives terminals);
 * - U+2028/U+2029, which some readers treat as line breaks;
 * - Unicode bidirectional controls (U+202A–U+202E embeddings and overrides, U+2066–U+2069
 *   isolates, U+200E/U+200F marks, U+061C Arabic letter mark), which make a subject or a log line
 *   display differently from what it says ("Trojan Source").
 */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u;

/** The one rule for free text that may reach a header: refuses UNSAFE_TEXT, naming the code point. */
function checkSafeText(text: string, what: string, expected: string): string {
  const unsafe = UNSAFE_TEXT.exec(text);
  if (unsafe) {
    const codePoint = `U+${unsafe[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new InputError(
      `${what}: invalid ${expected} ${JSON.stringify(text)} (holds control or bidirectional character ${codePoint})`,
    );
  }
  return text;
}

export function checkName(name: string): string {
  const trimmed = checkSafeText(name, '--name', 'interface name').trim();
  if (!trimmed || trimmed.length > MAX_NAME_LENGTH) {
    throw new InputError(
      `--name: invalid interface name ${JSON.stringify(name)} (1-${MAX_NAME_LENGTH} printable characters)`,
    );
  }
  return trimmed;
}

/** Who made a change (`--actor`), as recorded in the audit trail. */
export function checkActor(actor: string, what = '--actor'): string {
  checkSafeText(actor, what, 'actor');
  if (!actor.trim() || actor.length > MAX_ACTOR_LENGTH) {
    throw new InputError(
      `${what}: invalid actor ${JSON.stringify(actor)} (1-${MAX_ACTOR_LENGTH} printable characters)`,
    );
  }
  return actor.trim();
}

export function checkEmail(address: string, what = '--email'): string {
  if (!EMAIL.test(address) || address.length > 254) {
    throw new InputError(`${what}: invalid email address ${JSON.stringify(address)}`);
  }
  return address;
}

export function checkCode(code: string, what: string): string {
  checkSafeText(code, what, 'code');
  if (!code || code.length > MAX_CODE_LENGTH || code.trim() !== code) {
    throw new InputError(
      `${what}: invalid code ${JSON.stringify(code)} (1-${MAX_CODE_LENGTH} printable characters, no surrounding spaces)`,
    );
  }
  return code;
}

export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new InputError(
      `--timezone: unknown time zone ${JSON.stringify(zone)} (expected an IANA name like Europe/Zurich)`,
    );
  }
  return zone;
}

/** Intervals below one minute are for the demo and tests only (BARCODES_ALLOW_SHORT_INTERVALS=1). */
export function checkIntervalSeconds(seconds: number, allowShort: boolean, text: string): number {
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new InputError(`--every: invalid interval ${JSON.stringify(text)} (whole seconds, at least 1s)`);
  }
  if (seconds < MIN_INTERVAL_SECONDS && !allowShort) {
    throw new InputError(
      `--every: interval ${JSON.stringify(text)} is below one minute (set BARCODES_ALLOW_SHORT_INTERVALS=1 for development)`,
    );
  }
  return seconds;
}

export function checkLagSeconds(seconds: number, text: string): number {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new InputError(`--lag: invalid lag ${JSON.stringify(text)} (whole seconds, 0s or more)`);
  }
  return seconds;
}
