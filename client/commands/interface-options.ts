import type { Config } from '../../lib/config';
import { DURATION_LIMITS, parseDuration, parseInstant } from '../../lib/duration';
import { InputError } from '../../lib/errors';
import { checkJsonDepth, INPUT_FILE_LIMITS, readBoundedFile } from '../../lib/input-files';
import { parseFormatSpec } from '../../lib/format';
import type { InterfaceFields } from '../../lib/interfaces/store';
import { parseDestinationOptions, type DestinationOptions } from '../../lib/destinations/options';
import { readRecipientKey } from '../../lib/security/openpgp';
import { TICKET_STATES, type TicketState } from '../../lib/tickets';
import {
  checkCode,
  checkEmail,
  checkIntervalSeconds,
  checkLagSeconds,
  checkName,
  checkTimeZone,
} from '../../lib/interfaces/validate';

/** The options `interface create` and `interface update` share, as commander hands them over. */
export interface InterfaceOptions extends DestinationOptions {
  name?: string;
  /** Recipients; `false` from `--no-email` (update): deliver by the other destinations only. */
  email?: string[] | false;
  contact?: string[];
  channel?: string[];
  every?: string;
  lag?: string;
  timezone?: string;
  format?: string;
  start?: string;
  disabled?: boolean;
  /** An address; `false` from `--no-alert-email` (update): alerts go to BARCODES_ALERT_EMAIL again. */
  alertEmail?: string | false;
  /** A key file; `false` from `--no-pgp-key` (update): remove the key. */
  pgpKey?: string | false;
  /** `true` from `--state-changes` alone, the list from `--state-changes LIST`, `false` from `--no-state-changes`. */
  stateChanges?: string | boolean;
}

export const DEFAULT_EVERY = '15m';
/** Documented default safety lag (CONTRACT.md §6 asks for at most 2 minutes). */
export const DEFAULT_LAG = '30s';

/**
 * Validates every given option before anything is written, so bad input changes nothing.
 * Returns only the fields that were given (update) — create fills in the defaults.
 */
export async function parseInterfaceOptions(
  options: InterfaceOptions,
  config: Config,
): Promise<Partial<InterfaceFields> & { contacts?: string[]; channels?: string[] }> {
  const fields: Partial<InterfaceFields> & { contacts?: string[]; channels?: string[] } = {};
  if (options.name !== undefined) fields.name = checkName(options.name);
  if (options.email === false) fields.recipients = [];
  else if (options.email !== undefined)
    fields.recipients = unique(options.email.map((address) => checkEmail(address)));
  if (options.contact !== undefined)
    fields.contacts = unique(options.contact.map((code) => checkCode(code, '--contact')));
  if (options.channel !== undefined)
    fields.channels = unique(options.channel.map((code) => checkCode(code, '--channel')));
  if (options.every !== undefined) {
    fields.intervalSeconds = checkIntervalSeconds(
      parseDuration(options.every, '--every', DURATION_LIMITS.interval) / 1000,
      config.allowShortIntervals,
      options.every,
    );
  }
  if (options.lag !== undefined)
    fields.lagSeconds = checkLagSeconds(
      parseDuration(options.lag, '--lag', DURATION_LIMITS.lag) / 1000,
      options.lag,
    );
  if (options.timezone !== undefined) fields.timeZone = checkTimeZone(options.timezone);
  if (options.format !== undefined) fields.format = readFormatFile(options.format);
  if (options.start !== undefined) fields.startAt = parseInstant(options.start, '--start');
  if (options.alertEmail === false) fields.alertEmail = null;
  else if (options.alertEmail !== undefined)
    fields.alertEmail = checkEmail(options.alertEmail, '--alert-email');
  if (options.pgpKey !== undefined)
    fields.pgpPublicKey = options.pgpKey === false ? null : await readPgpKeyFile(options.pgpKey);
  if (options.stateChanges !== undefined) fields.stateChanges = parseStateChangesOption(options.stateChanges);
  const destinations = parseDestinationOptions(options, config.secretsKeyring);
  if (Object.keys(destinations).length > 0) fields.setDestinations = destinations;
  return fields;
}

/**
 * Reads the reseller's OpenPGP public key from a file (armored or binary) and checks that files
 * can be encrypted to it; returns it armored, as stored.
 */
export async function readPgpKeyFile(path: string): Promise<string> {
  const bytes = readBoundedFile(path, '--pgp-key', INPUT_FILE_LIMITS.pgpKeyFileBytes);
  return (await readRecipientKey(bytes, `--pgp-key: ${JSON.stringify(path)}`)).armored;
}

/** Reads and validates a format specification file; the stored value is the normalised spec. */
export function readFormatFile(path: string): Record<string, unknown> {
  const text = readBoundedFile(path, '--format', INPUT_FILE_LIMITS.formatFileBytes).toString('utf8');
  checkJsonDepth(text, INPUT_FILE_LIMITS.formatJsonDepth, `--format: ${JSON.stringify(path)}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // No cause: JSON.parse's message quotes the file.
    throw new InputError(
      `--format: ${JSON.stringify(path)} is not valid JSON (${jsonErrorPlace(error, text)})`,
    );
  }
  return parseFormatSpec(json) as unknown as Record<string, unknown>;
}

/**
 * Where JSON.parse stopped, without its excerpt of the file: `--format ~/.pgpass` must not print
 * a line of the wrong file it was given.
 */
function jsonErrorPlace(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  if (/end of JSON input/.test(message)) return 'it ends too early';
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position !== undefined) {
    const before = text.slice(0, Number(position)).split('\n');
    return `at line ${before.length}, column ${before.at(-1)!.length + 1}`;
  }
  const token = /^Unexpected token '(.)'/.exec(message)?.[1];
  return token === undefined ? 'a format file is one JSON object' : `unexpected ${JSON.stringify(token)}`;
}

/**
 * `--state-changes` alone: every state (an empty list); `--state-changes CANCELLED,INVALIDATED`:
 * only changes to those states; `--no-state-changes`: off (null).
 */
function parseStateChangesOption(value: string | boolean): TicketState[] | null {
  if (value === false) return null;
  if (value === true) return [];
  const states = value.split(',').map((state) => state.trim());
  for (const state of states) {
    if (!(TICKET_STATES as readonly string[]).includes(state)) {
      throw new InputError(
        `--state-changes: unknown ticket state ${JSON.stringify(state)} (expected a comma-separated list of ${TICKET_STATES.join(', ')})`,
      );
    }
  }
  return unique(states) as TicketState[];
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
