import type { InterfaceLag, WindowLagGauges } from '../lib/metrics';

/** How often the worker reads the ledger for the window-lag gauges: well inside a scrape interval. */
const WINDOW_LAG_REFRESH_MILLIS = 15_000;

interface WindowLagReporterOptions {
  /** Every interface's lag, from the ledger (one query). */
  read: () => Promise<readonly InterfaceLag[]>;
  gauges: WindowLagGauges;
  intervalMillis?: number;
  /** Receives a failed refresh; the gauges then keep their last values until the next one. */
  onError: (error: Error) => void;
}

export interface WindowLagReporter {
  /** Stops refreshing and waits for a refresh in progress (so the pool can close after it). */
  stop(): Promise<void>;
}

/**
 * Refreshes the window-lag gauges from the ledger now and then every interval. Computed from the
 * ledger rather than set when a window ends, the lag keeps growing while no window runs (a stopped
 * schedule, no worker, Temporal down): exactly when it matters. A refresh never overlaps the
 * previous one, and a failed one (PostgreSQL restarting) is reported and retried at the next tick.
 */
export function startWindowLagReporter(options: WindowLagReporterOptions): WindowLagReporter {
  const intervalMillis = options.intervalMillis ?? WINDOW_LAG_REFRESH_MILLIS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const refresh = async () => {
    try {
      const lags = await options.read();
      if (!stopped) options.gauges.report(lags);
    } catch (error) {
      if (!stopped) options.onError(error as Error);
    }
  };
  const tick = () => {
    current = refresh().finally(() => {
      if (stopped) return;
      timer = setTimeout(tick, intervalMillis);
      // Never what keeps a process alive: the worker is.
      timer.unref();
    });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
