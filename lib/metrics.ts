import type { MetricMeter } from '@temporalio/common';

/**
 * Per-interface metrics, exported through the worker's Prometheus endpoint next to the SDK's own.
 * Tagged with the interface id so one late or failing interface shows as itself, not as a
 * namespace-wide number.
 */
export interface WindowMetrics {
  delivered(interfaceId: number, kind: string, status: string, tickets: number): void;
  failed(interfaceId: number, failureType: string, permanent: boolean): void;
  /** Seconds between now and the interface's watermark: grows when windows are missed or late. */
  watermark(interfaceId: number, windowEnd: Date): void;
}

export function createWindowMetrics(meter: MetricMeter): WindowMetrics {
  const deliveries = meter.createCounter('barcodes_deliveries', 'deliveries', 'windows delivered, by interface, kind and status');
  const tickets = meter.createCounter('barcodes_tickets', 'tickets', 'tickets delivered, by interface');
  const failures = meter.createCounter('barcodes_failures', 'failures', 'failed windows, by interface, failure type and permanence');
  const lag = meter.createGauge('barcodes_window_lag_seconds', 'float', 's', 'now minus the interface watermark');
  return {
    delivered(interfaceId, kind, status, count) {
      const tags = { interface: String(interfaceId), kind, status };
      deliveries.add(1, tags);
      if (count > 0) tickets.add(count, { interface: String(interfaceId) });
    },
    failed(interfaceId, failureType, permanent) {
      failures.add(1, { interface: String(interfaceId), type: failureType, permanent: String(permanent) });
    },
    watermark(interfaceId, windowEnd) {
      lag.set(Math.max(0, (Date.now() - windowEnd.getTime()) / 1000), { interface: String(interfaceId) });
    },
  };
}
