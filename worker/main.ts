import { loadConfig } from '../lib/config';
import { installObservability } from '../lib/observability';
import { startWorker } from './worker';

/** `barcodes worker`: runs until SIGINT/SIGTERM, then drains (the SDK handles both signals). */
export async function runWorkerUntilSignal(): Promise<void> {
  const config = loadConfig();
  installObservability({
    logLevel: config.logLevel,
    write: (line) => process.stderr.write(line + '\n'),
    metricsAddress: config.metricsAddress,
  });
  const running = await startWorker(config);
  process.stderr.write(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'INFO',
      message: 'worker polling',
      taskQueue: config.taskQueue,
      temporalAddress: config.temporalAddress,
      namespace: config.temporalNamespace,
      metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : null,
    }) + '\n',
  );
  await running.done;
}
