import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricGauge, MetricMeter, MetricTags } from '@temporalio/common';
import { createWindowLagGauges, type InterfaceLag } from '../lib/metrics';
import { startWindowLagReporter } from '../worker/window-lag-reporter';

/** A meter that remembers the last value of every gauge series, keyed `name{interface}`. */
function recordingMeter(): { meter: MetricMeter; series: Map<string, number> } {
  const series = new Map<string, number>();
  const gauge = (name: string): MetricGauge =>
    ({
      set: (value: number, tags: MetricTags = {}) => series.set(`${name}{${tags.interface}}`, value),
    }) as unknown as MetricGauge;
  return { meter: { createGauge: gauge } as unknown as MetricMeter, series };
}

test('the lag gauges hold one value per interface, and a vanished interface is blanked to NaN', () => {
  const { meter, series } = recordingMeter();
  const gauges = createWindowLagGauges(meter);
  gauges.report([
    { interfaceId: 1, enabled: true, lagSeconds: 12 },
    { interfaceId: 2, enabled: false, lagSeconds: 900 },
  ]);
  assert.deepEqual(Object.fromEntries(series), {
    'barcodes_window_lag_seconds{1}': 12,
    'barcodes_interface_enabled{1}': 1,
    'barcodes_window_lag_seconds{2}': 900,
    'barcodes_interface_enabled{2}': 0,
  });
  gauges.report([{ interfaceId: 1, enabled: true, lagSeconds: 27 }]);
  assert.equal(series.get('barcodes_window_lag_seconds{1}'), 27);
  assert.ok(Number.isNaN(series.get('barcodes_window_lag_seconds{2}')));
  assert.equal(series.get('barcodes_interface_enabled{2}'), 0);
});

test('the reporter refreshes at once and then periodically, survives a failed read, and stops', async () => {
  const reported: InterfaceLag[][] = [];
  const errors: string[] = [];
  let reads = 0;
  const reporter = startWindowLagReporter({
    read: async () => {
      reads++;
      if (reads === 2) throw new Error('database restarting');
      return [{ interfaceId: 7, enabled: true, lagSeconds: reads }];
    },
    gauges: { report: (lags) => reported.push([...lags]) },
    intervalMillis: 20,
    onError: (error) => errors.push(error.message),
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(reported.length, 1, 'the first refresh does not wait for the interval');
  await new Promise((resolve) => setTimeout(resolve, 150));
  await reporter.stop();
  const readsAtStop = reads;
  assert.deepEqual(errors, ['database restarting']);
  assert.ok(reported.length >= 3, `refreshed after the failure: ${reported.length}`);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(reads, readsAtStop, 'no refresh after stop');
});
