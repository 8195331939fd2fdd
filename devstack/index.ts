/**
 * The development stack: real Temporal, PostgreSQL and SMTP on one machine, for the demo and the
 * tests. Each part uses what is already running (TEMPORAL_ADDRESS, DATABASE_URL) before starting
 * anything of its own.
 */
export { type Log, silentLog, formatMillis } from './log';
export { DEFAULT_HOST, freePort, isPortOpen, waitForPort } from './ports';
export {
  DEFAULT_NAMESPACE,
  TEMPORAL_CLI_PYPI_PACKAGE,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_DEV_SERVER_DEFAULTS,
  locateTemporalCli,
  startTemporalDevServer,
  temporalCliCacheDir,
  useOrStartTemporal,
  type LocateTemporalCliOptions,
  type SearchAttributeType,
  type TemporalDevServer,
  type TemporalDevServerOptions,
  type TemporalEndpoint,
  type UseOrStartTemporalOptions,
} from './temporal';
export {
  LOCAL_POSTGRES_URL,
  THROWAWAY_CLUSTER_DEFAULTS,
  createTestDatabase,
  maskUrl,
  startThrowawayCluster,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
  type ThrowawayCluster,
  type ThrowawayClusterOptions,
  type UseOrStartPostgresOptions,
} from './postgres';
export {
  DEMO_SMTP_PORT,
  SMTP_SINK_DEFAULTS,
  startSmtpSink,
  type ReceivedMail,
  type SmtpSink,
  type SmtpSinkMode,
  type SmtpSinkOptions,
} from './smtp-sink';
