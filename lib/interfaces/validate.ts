import { InputError } from '../errors';

const MAX_NAME_LENGTH = 200;
// Deliberately strict: addresses end up in SMTP envelopes and headers, so anything that could
// smuggle a header (CR/LF), a second address (`,` `;`) or a display name is refused.
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const CODE = /^[^\u0000-\u001f\u007f]{1,100}$/;
const MIN_INTERVAL_SECONDS = 60;

export function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new InputError(`--name: invalid interface name ${JSON.stringify(name)} (1-${MAX_NAME_LENGTH} printable characters)`);
  }
  return trimmed;
}

export function checkEmail(address: string, what = '--email'): string {
  if (!EMAIL.test(address) || address.length > 254) {
    throw new InputError(`${what}: invalid email address ${JSON.stringify(address)}`);
  }
  return address;
}

export function checkCode(code: string, what: string): string {
  if (!CODE.test(code) || code.trim() !== code) {
    throw new InputError(`${what}: invalid code ${JSON.stringify(code)} (1-100 printable characters, no surrounding spaces)`);
  }
  return code;
}

export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new InputError(`--timezone: unknown time zone ${JSON.stringify(zone)} (expected an IANA name like Europe/Zurich)`);
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
