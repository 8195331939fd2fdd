import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

interface ObservabilityOptions {
  /** Lowest level written. */
  logLevel: LogLevel;
  /** Receives one JSON document per line. */
  write: (line: string) => void;
  /** host:port for the Prometheus endpoint (SDK metrics and the per-interface ones); null: none. */
  metricsAddress: string | null;
}

/** Keys that never belong in a log line (defence in depth), and the SDK's opaque task token (noise). */
const REDACTED_KEYS = new Set(['smtpUrl', 'databaseUrl', 'password', 'content', 'barCode', 'taskToken']);

/**
 * Installs the worker process's Temporal runtime: structured JSON logs (one object per line, with
 * the interface and window fields the activities attach), and the Prometheus exporter. Must run
 * before any worker or native connection is created; only the first call counts.
 */
export function installObservability(options: ObservabilityOptions): void {
  const logger = new DefaultLogger(options.logLevel, (entry: LogEntry) => {
    const meta = Object.fromEntries(
      Object.entries(entry.meta ?? {}).filter(([key]) => !REDACTED_KEYS.has(key)),
    );
    options.write(
      JSON.stringify({
        time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
        level: entry.level,
        message: entry.message,
        ...meta,
      }),
    );
  });
  try {
    Runtime.install({
      logger,
      telemetryOptions: options.metricsAddress
        ? { metrics: { prometheus: { bindAddress: options.metricsAddress } } }
        : undefined,
    });
  } catch (error) {
    // Already installed (a test process starting a second stack): keep the first one.
    if (!/already/i.test((error as Error).message)) throw error;
  }
}
