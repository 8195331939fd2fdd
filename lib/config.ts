import os from 'node:os';
import { InputError } from './errors';
import { DURATION_LIMITS, parseDuration } from './duration';
import { checkEmail } from './interfaces/validate';
import { withSecretFiles } from './security/secrets';

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
   * (see README "Late commits"). Tickets of a transaction open longer than this are reported.
   */
  maxHoldbackMillis: number;
  /** Consecutive permanently failed windows after which an interface pauses itself. */
  pauseAfterFailures: number;
  /** Who is told about a paused interface or a refused recipient when the interface names nobody. */
  alertEmail: string | null;
  /** host:port of the worker's Prometheus endpoint; null: no metrics endpoint. */
  metricsAddress: string | null;
}

export const DEFAULTS = {
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
} as const;

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name before it is interpolated into SQL: a plain lower-case identifier only. */
export function checkIdentifier(value: string, what: string): string {
  if (!IDENTIFIER.test(value)) {
    throw new InputError(`${what}: invalid schema name ${JSON.stringify(value)} (expected a plain identifier like public)`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // DATABASE_URL_FILE, SOURCE_DATABASE_URL_FILE, SMTP_URL_FILE: secrets kept out of the environment.
  env = withSecretFiles(env);
  const databaseUrl = env.DATABASE_URL || DEFAULTS.databaseUrl;
  return {
    databaseUrl,
    sourceDatabaseUrl: env.SOURCE_DATABASE_URL || databaseUrl,
    ticketingSchema: checkIdentifier(env.TICKETING_SCHEMA || DEFAULTS.ticketingSchema, 'TICKETING_SCHEMA'),
    exporterSchema: checkIdentifier(env.BARCODES_SCHEMA || DEFAULTS.exporterSchema, 'BARCODES_SCHEMA'),
    temporalAddress: env.TEMPORAL_ADDRESS || DEFAULTS.temporalAddress,
    temporalNamespace: env.TEMPORAL_NAMESPACE || DEFAULTS.temporalNamespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE || DEFAULTS.taskQueue,
    smtpUrl: env.SMTP_URL || DEFAULTS.smtpUrl,
    mailFrom: env.MAIL_FROM || DEFAULTS.mailFrom,
    allowShortIntervals: env.BARCODES_ALLOW_SHORT_INTERVALS === '1',
    maxHoldbackMillis: parseDuration(env.BARCODES_MAX_HOLDBACK || DEFAULTS.maxHoldback, 'BARCODES_MAX_HOLDBACK', DURATION_LIMITS.holdback),
    pauseAfterFailures: positiveInteger(env.BARCODES_PAUSE_AFTER_FAILURES, DEFAULTS.pauseAfterFailures, 'BARCODES_PAUSE_AFTER_FAILURES'),
    alertEmail: env.BARCODES_ALERT_EMAIL ? checkEmail(env.BARCODES_ALERT_EMAIL, 'BARCODES_ALERT_EMAIL') : null,
    metricsAddress: env.BARCODES_METRICS_ADDRESS ? checkHostPort(env.BARCODES_METRICS_ADDRESS, 'BARCODES_METRICS_ADDRESS') : null,
  };
}

function positiveInteger(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  if (!/^[1-9]\d{0,5}$/.test(text)) throw new InputError(`${what}: invalid count ${JSON.stringify(text)} (a positive integer)`);
  return Number(text);
}

function checkHostPort(text: string, what: string): string {
  if (!/^[A-Za-z0-9.\-:\[\]]+:\d{1,5}$/.test(text)) throw new InputError(`${what}: invalid address ${JSON.stringify(text)} (expected host:port)`);
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
