import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import { maskUrl } from '../config';
import { InputError } from '../errors';

/**
 * `required` (the default): STARTTLS (or implicit TLS with smtps://) and a verified certificate
 * for every non-loopback server. `off`: an explicit, logged opt-out for relays without TLS.
 */
export type SmtpTlsMode = 'required' | 'off';

/** The environment variable of the opt-out (`SMTP_TLS=off`); `?tls=off` in SMTP_URL does the same. */
export const SMTP_TLS_VARIABLE = 'SMTP_TLS';
/** PEM file of the CA(s) that signed the relay's certificate, for relays with a private CA. */
export const SMTP_TLS_CA_FILE_VARIABLE = 'SMTP_TLS_CA_FILE';
/** Our own query parameter in SMTP_URL; removed before nodemailer reads the URL. */
const TLS_URL_PARAMETER = 'tls';
const MIN_TLS_VERSION = 'TLSv1.2';

export interface SmtpTransportSettings {
  /** Where SMTP_TLS and SMTP_TLS_CA_FILE are read. */
  env?: NodeJS.ProcessEnv;
  /** Receives the one warning line of an opt-out (once per server and process). */
  warn?: (line: string) => void;
  /** Reads the CA file (tests inject their own). */
  readFile?: (path: string) => Buffer;
}

const warnedServers = new Set<string>();

/**
 * nodemailer transport options for an SMTP URL, with the transport security this product
 * promises: a loopback server (127.0.0.0/8, ::1, localhost: the development sink) keeps plain
 * SMTP; any other server must speak TLS with a certificate that verifies, unless the operator
 * opts out explicitly. A URL that weakens TLS on its own (`?ignoreTLS=true`,
 * `?tls.rejectUnauthorized=false`) without that opt-out is refused rather than obeyed silently.
 */
export function smtpTransportOptions(smtpUrl: string, settings: SmtpTransportSettings = {}): SMTPTransport.Options {
  const env = settings.env ?? process.env;
  const { url, urlMode } = splitTlsParameter(smtpUrl);
  const mode = urlMode ?? parseMode(env[SMTP_TLS_VARIABLE], SMTP_TLS_VARIABLE);
  const options: SMTPTransport.Options = parseConnectionUrl(url);
  const host = options.host ?? 'localhost';
  if (isLoopbackHost(host)) return options;

  if (mode === 'off') {
    const server = `${host}:${options.port ?? (options.secure ? 465 : 587)}`;
    if (!warnedServers.has(server)) {
      warnedServers.add(server);
      (settings.warn ?? defaultWarn)(
        `WARNING: SMTP TLS is off (${urlMode ? '?tls=off in SMTP_URL' : 'SMTP_TLS=off'}): mail to ${server} may travel unencrypted and the server's certificate is not verified`,
      );
    }
    return { ...options, requireTLS: false, tls: { ...options.tls, rejectUnauthorized: false } };
  }

  if (options.ignoreTLS === true || options.tls?.rejectUnauthorized === false) {
    throw new InputError(
      `SMTP_URL ${maskUrl(smtpUrl)} turns TLS or certificate verification off: remove that and, for a relay without TLS, set ${SMTP_TLS_VARIABLE}=off`,
    );
  }
  const caFile = env[SMTP_TLS_CA_FILE_VARIABLE];
  return {
    ...options,
    // smtps:// is TLS from the first byte; smtp:// must upgrade with STARTTLS or fail.
    requireTLS: !options.secure,
    tls: {
      ...options.tls,
      rejectUnauthorized: true,
      minVersion: MIN_TLS_VERSION,
      ...(caFile ? { ca: readCa(caFile, settings.readFile) } : {}),
    },
  };
}

/**
 * Whether a host name or address is this machine's loopback. Decided on the name as written,
 * without DNS: a name that merely resolves to 127.0.0.1 is treated as remote (TLS required).
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(name);
  return false;
}

function splitTlsParameter(smtpUrl: string): { url: string; urlMode: SmtpTlsMode | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(smtpUrl);
  } catch (error) {
    throw new InputError(`SMTP_URL: invalid URL ${maskUrl(smtpUrl)} (expected e.g. smtp://user:password@relay.example.com:587)`, { cause: error });
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new InputError(`SMTP_URL: unsupported scheme ${JSON.stringify(parsed.protocol)} (expected smtp: or smtps:)`);
  }
  const value = parsed.searchParams.get(TLS_URL_PARAMETER);
  if (value === null) return { url: smtpUrl, urlMode: undefined };
  parsed.searchParams.delete(TLS_URL_PARAMETER);
  return { url: parsed.toString(), urlMode: parseMode(value, `SMTP_URL ?${TLS_URL_PARAMETER}=`) };
}

function parseMode(value: string | undefined, what: string): SmtpTlsMode {
  if (value === undefined || value === '' || value === 'required') return 'required';
  if (value === 'off') return 'off';
  throw new InputError(`${what}: invalid value ${JSON.stringify(value)} (expected required or off)`);
}

function readCa(path: string, readFile: (path: string) => Buffer = readFileSync): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InputError(`${SMTP_TLS_CA_FILE_VARIABLE}: cannot read ${JSON.stringify(path)} (${code})`, { cause: error });
  }
}

function defaultWarn(line: string): void {
  process.stderr.write(line + '\n');
}
