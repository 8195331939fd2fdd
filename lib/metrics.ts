import type { MetricMeter } from '@temporalio/common';

/**
 * Per-interface counters, exported through the worker's Prometheus endpoint next to the SDK's own.
 * Tagged with the interface id so one late or failing interface shows as itself, not as a
 * namespace-wide number.
 */
interface WindowMetrics {
  delivered(interfaceId: number, kind: string, status: string, tickets: number): void;
  failed(interfaceId: number, failureType: string, permanent: boolean): void;
}

export function createWindowMetrics(meter: MetricMeter): WindowMetrics {
  const deliveries = meter.createCounter(
    'barcodes_deliveries',
    'deliveries',
    'windows delivered, by interface, kind and status',
  );
  const tickets = meter.createCounter('barcodes_tickets', 'tickets', 'tickets delivered, by interface');
  const failures = meter.createCounter(
    'barcodes_failures',
    'failures',
    'failed windows, by interface, failure type and permanence',
  );
  return {
    delivered(interfaceId, kind, status, count) {
      const tags = { interface: String(interfaceId), kind, status };
      deliveries.add(1, tags);
      if (count > 0) tickets.add(count, { interface: String(interfaceId) });
    },
    failed(interfaceId, failureType, permanent) {
      failures.add(1, { interface: String(interfaceId), type: failureType, permanent: String(permanent) });
    },
  };
}

/** One interface's place in time, as the ledger has it. */
export interface InterfaceLag {
  interfaceId: number;
  enabled: boolean;
  /** Now (the database's clock) minus the interface's chain watermark, never negative. */
  lagSeconds: number;
}

/**
 * The window-lag gauges: `barcodes_window_lag_seconds{interface}` and
 * `barcodes_interface_enabled{interface}`, exactly one series per interface each. They must be set
 * on a meter that adds no tags of its own (the Runtime's, not an activity's, which adds the
 * activity type and task queue and so made one series per activity type).
 */
export interface WindowLagGauges {
  /** Sets every listed interface; an interface reported before and missing now is blanked. */
  report(lags: readonly InterfaceLag[]): void;
}

export function createWindowLagGauges(meter: MetricMeter): WindowLagGauges {
  const lag = meter.createGauge(
    'barcodes_window_lag_seconds',
    'float',
    's',
    'now minus the interface watermark (end of its last scheduled or run window, else its start)',
  );
  const enabled = meter.createGauge(
    'barcodes_interface_enabled',
    'int',
    '',
    '1 when the interface is enabled, 0 when disabled or paused',
  );
  let reported = new Set<string>();
  return {
    report(lags) {
      const now = new Set<string>();
      for (const entry of lags) {
        const tags = { interface: String(entry.interfaceId) };
        lag.set(entry.lagSeconds, tags);
        enabled.set(entry.enabled ? 1 : 0, tags);
        now.add(tags.interface);
      }
      // The SDK's meter cannot remove a series. NaN is the closest: no alert compares true on it
      // and graphs show a gap, where its last value would look like a stalled, still-present interface.
      for (const gone of reported) {
        if (now.has(gone)) continue;
        lag.set(Number.NaN, { interface: gone });
        enabled.set(0, { interface: gone });
      }
      reported = now;
    },
  };
}
