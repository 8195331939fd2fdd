import { loadConfig } from '../lib/config';
import { startWorker } from './worker';

/** `barcodes worker`: runs until SIGINT/SIGTERM, then drains (the SDK handles both signals). */
export async function runWorkerUntilSignal(log: (line: string) => void = (line) => process.stderr.write(line + '\n')): Promise<void> {
  const config = loadConfig();
  const running = await startWorker(config);
  log(`worker polling task queue ${config.taskQueue} on ${config.temporalAddress} (namespace ${config.temporalNamespace})`);
  await running.done;
  log('worker stopped');
}
