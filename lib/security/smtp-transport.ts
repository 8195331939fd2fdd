import { isIP } from 'node:net';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import { maskUrl } from '../config';
import { InputError } from '../errors';
import { readCaCertificates } from '../input-files';

/**
 * `required` (the default): STARTTLS (or implicit TLS with smtps://) and a verified certificate
 * for every non-loopback server. `off`: an explicit, logged opt-out for relays without TLS.
 */
type SmtpTlsMode = 'required' | 'off';

/** The environment variable of the opt-out (`SMTP_TLS=off`); `?tls=off` in SMTP_URL does the same. */
const SMTP_TLS_VARIABLE = 'SMTP_TLS';
/** PEM file of the CA(s) that signed the relay's certificate, for relays with a private CA. */
const SMTP_TLS_CA_FILE_VARIABLE = 'SMTP_TLS_CA_FILE';
/** Our own query parameter in SMTP_URL; removed before nodemailer reads the URL. */
const TLS_URL_PARAMETER = 'tls';
const MIN_TLS_VERSION = 'TLSv1.2';

interface SmtpTransportSettings {
  /** Where SMTP_TLS and SMTP_TLS_CA_FILE are read. */
  env?: NodeJS.ProcessEnv;
  /** Receives the one warning line of an opt-out (once per server and process). */
  warn?: (line: string) => void;
  /** Reads the CA file (tests inject their own). */
  readFile?: (path: string) => Buffer;
}

const warnedServers = new Set<string>();

/**
 * The SMTP_URL query parameters a remote relay may carry without the opt-out: connection tuning
 * that cannot touch TLS. Everything else nodemailer would read from the URL (`ignoreTLS`,
 * `secured`, `requireTLS`, `opportunisticTLS`, any `tls.*` such as `tls.rejectUnauthorized`,
 * `tls.ciphers`, `tls.minVersion`, `proxy`, `debug` …) is refused, whatever its spelling (`1`,
 * `yes`, `true`): an allow-list, because nodemailer turns any query key into an option and a
 * deny-list would have to keep up with every option and every value spelling.
 */
const SAFE_SMTP_URL_PARAMETERS: readonly string[] = [
  'name',
  'localAddress',
  'authMethod',
  'connectionTimeout',
  'greetingTimeout',
  'socketTimeout',
  'dnsTimeout',
  'pool',
  'maxConnections',
  'maxMessages',
];
/** What parseConnectionUrl derives from the URL itself (scheme, host, port, user info), not the query. */
const URL_DERIVED_OPTIONS = new Set(['secure', 'host', 'port', 'auth']);

/** How mail to the configured relay is protected, decided once from SMTP_URL and the environment. */
interface SmtpTlsDecision {
  /** nodemailer's own reading of the URL (our `tls` parameter removed). */
  options: SMTPTransport.Options;
  /** host:port as nodemailer will connect. */
  server: string;
  loopback: boolean;
  mode: SmtpTlsMode;
  /** Where the opt-out came from, for messages. */
  optOutSource: string;
  caFile: string | undefined;
}

function decideSmtpTls(smtpUrl: string, env: NodeJS.ProcessEnv): SmtpTlsDecision {
  const { url, urlMode } = splitTlsParameter(smtpUrl);
  const mode = urlMode ?? parseMode(env[SMTP_TLS_VARIABLE], SMTP_TLS_VARIABLE);
  const options: SMTPTransport.Options = parseConnectionUrl(url);
  const host = options.host ?? 'localhost';
  return {
    options,
    server: `${host}:${options.port ?? (options.secure ? 465 : 587)}`,
    loopback: isLoopbackHost(host),
    mode,
    optOutSource: urlMode ? `?${TLS_URL_PARAMETER}=off in SMTP_URL` : `${SMTP_TLS_VARIABLE}=off`,
    caFile: env[SMTP_TLS_CA_FILE_VARIABLE] || undefined,
  };
}

/**
 * nodemailer transport options for an SMTP URL, with the transport security this product
 * promises: a loopback server (127.0.0.0/8, ::1, localhost: the development sink) keeps plain
 * SMTP; any other server must speak TLS with a certificate that verifies, unless the operator
 * opts out explicitly. A URL that carries anything beyond SAFE_SMTP_URL_PARAMETERS (e.g.
 * `?ignoreTLS=1`, `?tls.rejectUnauthorized=0`) without that opt-out is refused rather than obeyed.
 */
export function smtpTransportOptions(
  smtpUrl: string,
  settings: SmtpTransportSettings = {},
): SMTPTransport.Options {
  const decision = decideSmtpTls(smtpUrl, settings.env ?? process.env);
  const { options } = decision;
  if (decision.loopback) return options;

  if (decision.mode === 'off') {
    if (!warnedServers.has(decision.server)) {
      warnedServers.add(decision.server);
      (settings.warn ?? defaultWarn)(
        `WARNING: SMTP TLS is off (${decision.optOutSource}): mail to ${decision.server} may travel unencrypted and the server's certificate is not verified`,
      );
    }
    return { ...options, requireTLS: false, tls: { ...options.tls, rejectUnauthorized: false } };
  }

  refuseUnsafeParameters(smtpUrl, options);
  return {
    ...options,
    // smtps:// is TLS from the first byte; smtp:// must upgrade with STARTTLS or fail.
    requireTLS: !options.secure,
    tls: {
      rejectUnauthorized: true,
      minVersion: MIN_TLS_VERSION,
      ...(decision.caFile ? { ca: readCa(decision.caFile, settings.readFile) } : {}),
    },
  };
}

/**
 * One line saying how mail to the relay is protected, for `barcodes doctor`:
 * `TLS required (STARTTLS, certificate verified)`, `TLS off (SMTP_TLS=off)`, `loopback: plain`.
 */
export function describeSmtpTls(smtpUrl: string, env: NodeJS.ProcessEnv = process.env): string {
  const decision = decideSmtpTls(smtpUrl, env);
  if (decision.loopback) return decision.options.secure ? 'loopback: TLS (smtps)' : 'loopback: plain';
  if (decision.mode === 'off') return `TLS off (${decision.optOutSource})`;
  const how = decision.options.secure ? 'implicit TLS' : 'STARTTLS';
  const verified = decision.caFile
    ? `certificate verified against ${SMTP_TLS_CA_FILE_VARIABLE}`
    : 'certificate verified';
  return `TLS required (${how}, ${verified}, ${MIN_TLS_VERSION} or later)`;
}

/** Refuses, naming the first one, any option the URL's query gave nodemailer beyond the allow-list. */
function refuseUnsafeParameters(smtpUrl: string, options: SMTPTransport.Options): void {
  const given = [
    ...Object.keys(options).filter((key) => !URL_DERIVED_OPTIONS.has(key) && key !== 'tls'),
    // parseConnectionUrl puts every `tls.X` query key under options.tls; none is allowed.
    ...Object.keys(options.tls ?? {}).map((key) => `tls.${key}`),
  ];
  const unsafe = given.find((key) => !SAFE_SMTP_URL_PARAMETERS.includes(key));
  if (unsafe === undefined) return;
  throw new InputError(
    `SMTP_URL ${maskUrl(smtpUrl)}: parameter ?${unsafe} is not allowed for a remote relay (it can weaken TLS or certificate checks): remove it, or set ${SMTP_TLS_VARIABLE}=off to send without TLS knowingly`,
  );
}

/**
 * Whether a host name or address is this machine's loopback. Decided on the name as written,
 * without DNS: a name that merely resolves to 127.0.0.1 is treated as remote (TLS required).
 */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
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
    throw new InputError(
      `SMTP_URL: invalid URL ${maskUrl(smtpUrl)} (expected e.g. smtp://user:password@relay.example.com:587)`,
      { cause: error },
    );
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new InputError(
      `SMTP_URL: unsupported scheme ${JSON.stringify(parsed.protocol)} (expected smtp: or smtps:)`,
    );
  }
  const values = parsed.searchParams.getAll(TLS_URL_PARAMETER);
  if (values.length === 0) return { url: smtpUrl, urlMode: undefined };
  // Two values could be read differently by two parsers: one, or the URL is refused.
  if (values.length > 1)
    throw new InputError(`SMTP_URL ${maskUrl(smtpUrl)}: ?${TLS_URL_PARAMETER}= given ${values.length} times`);
  const value = values[0]!;
  parsed.searchParams.delete(TLS_URL_PARAMETER);
  return { url: parsed.toString(), urlMode: parseMode(value, `SMTP_URL ?${TLS_URL_PARAMETER}=`) };
}

function parseMode(value: string | undefined, what: string): SmtpTlsMode {
  if (value === undefined || value === '' || value === 'required') return 'required';
  if (value === 'off') return 'off';
  throw new InputError(`${what}: invalid value ${JSON.stringify(value)} (expected required or off)`);
}

/** The CA file is read and checked like every CA file an operator names (lib/input-files.ts). */
function readCa(path: string, readFile?: (path: string) => Buffer): Buffer | string {
  return readFile ? readFile(path) : readCaCertificates(path, SMTP_TLS_CA_FILE_VARIABLE);
}

function defaultWarn(line: string): void {
  process.stderr.write(line + '\n');
}
