import os from 'node:os';
import { InputError } from './errors';
import { DURATION_LIMITS, parseDuration } from './duration';
import { checkEmail } from './interfaces/validate';
import { withSecretFiles } from './security/secrets';
import { fileRetentionMillis } from './ledger/retention';
import { loadSecretsKeyring, type SecretsKeyring } from './destinations/secret-box';
import { HTTPS_TIMEOUT_MILLIS } from './destinations/https';

/** Everything the product reads from the environment (CONTRACT.md §5), parsed once. */
export interface Config {
  /** PostgreSQL for the exporter's own tables (and the source unless sourceDatabaseUrl differs). */
  databaseUrl: string;
  /** PostgreSQL holding the ticket source tables. */
  sourceDatabaseUrl: string;
  /** Schema holding the ticket source tables (a plain identifier: it is interpolated into SQL). */
  ticketingSchema: string;
  /** Schema holding the exporter's own tables. */
  exporterSchema: string;
  /** Temporal frontend host:port. */
  temporalAddress: string;
  /** Temporal namespace. */
  temporalNamespace: string;
  /** Task queue the workers poll. */
  taskQueue: string;
  /** nodemailer SMTP URL (may hold credentials: never print it unmasked). */
  smtpUrl: string;
  /** Sender address of every email. */
  mailFrom: string;
  /** Allows intervals below one minute (demo and tests only). */
  allowShortIntervals: boolean;
  /**
   * Longest time a window waits for an open source transaction before it closes anyway
   * (see docs/exactly-once.md, "Late commits"). Tickets of a transaction open longer than this are reported.
   */
  maxHoldbackMillis: number;
  /** Consecutive permanently failed windows after which an interface pauses itself. */
  pauseAfterFailures: number;
  /** Who is told about a paused interface or a refused recipient when the interface names nobody. */
  alertEmail: string | null;
  /** host:port of the worker's Prometheus endpoint; null: no metrics endpoint. */
  metricsAddress: string | null;
  /** Lowest level the worker logs (BARCODES_LOG_LEVEL). */
  logLevel: LogLevel;
  /**
   * Keys sealing destination secrets (BARCODES_SECRETS_KEY or _FILE), undefined when unset: only
   * an SFTP or HTTPS destination needs them. A function, so the key bytes never end up in a
   * printed or serialised configuration.
   */
  secretsKeyring: () => SecretsKeyring | undefined;
  /** PEM file of extra CAs trusted for HTTPS receivers (BARCODES_HTTPS_CA_FILE), besides the system's. */
  httpsCaFile: string | null;
  /** How long an HTTPS receiver may take to answer before the POST counts as timed out (transient). */
  httpsTimeoutMillis: number;
}

/** The levels of the Temporal SDK's logger, which the worker's log uses. */
const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const DEFAULTS = {
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/barcodes',
  ticketingSchema: 'public',
  exporterSchema: 'barcode_export',
  temporalAddress: '127.0.0.1:7233',
  temporalNamespace: 'default',
  taskQueue: 'barcode-export',
  smtpUrl: 'smtp://127.0.0.1:2525',
  mailFrom: 'barcodes@localhost',
  maxHoldback: '1h',
  pauseAfterFailures: 3,
  logLevel: 'INFO',
} as const;

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name before it is interpolated into SQL: a plain lower-case identifier only. */
function checkIdentifier(value: string, what: string): string {
  if (!IDENTIFIER.test(value)) {
    throw new InputError(
      `${what}: invalid schema name ${JSON.stringify(value)} (expected a plain identifier like public)`,
    );
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // DATABASE_URL_FILE, SOURCE_DATABASE_URL_FILE, SMTP_URL_FILE: secrets kept out of the environment.
  env = withSecretFiles(env);
  // Read where purge runs, but checked here too, so a typo fails at start, not at the first purge.
  fileRetentionMillis(env);
  const databaseUrl = checkUrl(env.DATABASE_URL || DEFAULTS.databaseUrl, 'DATABASE_URL', POSTGRES_SCHEMES);
  return {
    databaseUrl,
    sourceDatabaseUrl: env.SOURCE_DATABASE_URL
      ? checkUrl(env.SOURCE_DATABASE_URL, 'SOURCE_DATABASE_URL', POSTGRES_SCHEMES)
      : databaseUrl,
    ticketingSchema: checkIdentifier(env.TICKETING_SCHEMA || DEFAULTS.ticketingSchema, 'TICKETING_SCHEMA'),
    exporterSchema: checkIdentifier(env.BARCODES_SCHEMA || DEFAULTS.exporterSchema, 'BARCODES_SCHEMA'),
    temporalAddress: env.TEMPORAL_ADDRESS
      ? checkHostPort(env.TEMPORAL_ADDRESS, 'TEMPORAL_ADDRESS')
      : DEFAULTS.temporalAddress,
    temporalNamespace: env.TEMPORAL_NAMESPACE || DEFAULTS.temporalNamespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE || DEFAULTS.taskQueue,
    smtpUrl: env.SMTP_URL ? checkUrl(env.SMTP_URL, 'SMTP_URL', SMTP_SCHEMES) : DEFAULTS.smtpUrl,
    // A plain address, like every recipient: it is also the domain of every Message-ID.
    mailFrom: env.MAIL_FROM ? checkEmail(env.MAIL_FROM, 'MAIL_FROM') : DEFAULTS.mailFrom,
    allowShortIntervals: flag(env.BARCODES_ALLOW_SHORT_INTERVALS, 'BARCODES_ALLOW_SHORT_INTERVALS'),
    maxHoldbackMillis: parseDuration(
      env.BARCODES_MAX_HOLDBACK || DEFAULTS.maxHoldback,
      'BARCODES_MAX_HOLDBACK',
      DURATION_LIMITS.holdback,
    ),
    pauseAfterFailures: positiveInteger(
      env.BARCODES_PAUSE_AFTER_FAILURES,
      DEFAULTS.pauseAfterFailures,
      'BARCODES_PAUSE_AFTER_FAILURES',
    ),
    alertEmail: env.BARCODES_ALERT_EMAIL
      ? checkEmail(env.BARCODES_ALERT_EMAIL, 'BARCODES_ALERT_EMAIL')
      : null,
    metricsAddress: env.BARCODES_METRICS_ADDRESS
      ? checkHostPort(env.BARCODES_METRICS_ADDRESS, 'BARCODES_METRICS_ADDRESS')
      : null,
    logLevel: checkLogLevel(env.BARCODES_LOG_LEVEL || DEFAULTS.logLevel),
    secretsKeyring: memo(loadSecretsKeyring(env)),
    httpsCaFile: env.BARCODES_HTTPS_CA_FILE || null,
    httpsTimeoutMillis: env.BARCODES_HTTPS_TIMEOUT
      ? parseDuration(env.BARCODES_HTTPS_TIMEOUT, 'BARCODES_HTTPS_TIMEOUT', DURATION_LIMITS.httpsTimeout)
      : HTTPS_TIMEOUT_MILLIS,
  };
}

/** Parsed now (a malformed key fails at start), handed out by a function. */
function memo<T>(value: T): () => T {
  return () => value;
}

const POSTGRES_SCHEMES = ['postgres:', 'postgresql:', 'socket:'];
const SMTP_SCHEMES = ['smtp:', 'smtps:'];

/**
 * Refuses a URL that does not parse or has another scheme, naming the variable. The value is
 * printed masked: a malformed URL still holds its password.
 */
function checkUrl(text: string, what: string, schemes: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch (error) {
    throw new InputError(
      `${what}: invalid URL ${JSON.stringify(maskUrl(text))} (expected ${schemes[0]}//…)`,
      { cause: error },
    );
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new InputError(
      `${what}: unsupported scheme ${JSON.stringify(parsed.protocol)} in ${JSON.stringify(maskUrl(text))} (expected ${schemes.join(' or ')})`,
    );
  }
  if (parsed.protocol === 'smtp:' || parsed.protocol === 'smtps:') {
    if (!parsed.hostname) throw new InputError(`${what}: no host in ${JSON.stringify(maskUrl(text))}`);
  }
  return text;
}

function checkLogLevel(text: string): LogLevel {
  const level = text.toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InputError(
      `BARCODES_LOG_LEVEL: invalid level ${JSON.stringify(text)} (expected one of ${LOG_LEVELS.join(', ')})`,
    );
  }
  return level as LogLevel;
}

/** `1` on, `0` or unset off; anything else is refused rather than read as off. */
function flag(text: string | undefined, what: string): boolean {
  if (text === undefined || text === '' || text === '0') return false;
  if (text === '1') return true;
  throw new InputError(`${what}: invalid value ${JSON.stringify(text)} (expected 1 or 0)`);
}

function positiveInteger(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  if (!/^[1-9]\d{0,5}$/.test(text))
    throw new InputError(`${what}: invalid count ${JSON.stringify(text)} (a whole number from 1 to 999999)`);
  return Number(text);
}

/** `host:port`, `1.2.3.4:port` or `[v6]:port`, the port 1 to 65535. */
function checkHostPort(text: string, what: string): string {
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):(\d{1,5})$/.exec(text);
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65535)
    throw new InputError(
      `${what}: invalid address ${JSON.stringify(text)} (expected host:port, port 1-65535)`,
    );
  return text;
}

/**
 * The URL with its password (and any `password` query parameter) replaced by `***`, for logs and
 * messages. Works for postgres:, smtp: and other URLs; strings that are not URLs are masked by pattern.
 */
export function maskUrl(url: string): string {
  const MASK = '***';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/(\/\/[^/@:]*:)[^/@]*@/, `$1${MASK}@`).replace(/(password=)[^&\s]*/gi, `$1${MASK}`);
  }
  if (parsed.password) parsed.password = MASK;
  for (const key of [...parsed.searchParams.keys()]) {
    if (/password/i.test(key)) parsed.searchParams.set(key, MASK);
  }
  return parsed.toString();
}

/** Who made a configuration change, for the audit trail. */
export function currentActor(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}
