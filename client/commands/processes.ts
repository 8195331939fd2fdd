import { Command } from 'commander';
import { runWorkerUntilSignal } from '../../worker/main';
import { runDemo } from '../demo';
import { DURATION_LIMITS, parseDuration } from '../../lib/duration';
import { InputError } from '../../lib/errors';

/** The demo's simulator: fractions allowed (0.5: one order every two seconds), up to what one PostgreSQL takes easily. */
const MAX_SALES_PER_SECOND = 1000;

function parseSalesRate(text: string): number {
  const rate = /^\d{1,4}(\.\d{1,3})?$/.test(text) ? Number(text) : NaN;
  if (!(rate > 0 && rate <= MAX_SALES_PER_SECOND)) {
    throw new InputError(
      `--sales-per-second: invalid rate ${JSON.stringify(text)} (a number above 0, at most ${MAX_SALES_PER_SECOND})`,
    );
  }
  return rate;
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run a Temporal worker (workflows and activities) until SIGINT/SIGTERM, then drain')
    .option('--json', 'accepted for symmetry: the worker always logs one JSON object per line on stderr')
    .addHelpText(
      'after',
      '\nExample:\n  TEMPORAL_ADDRESS=127.0.0.1:7233 BARCODES_METRICS_ADDRESS=127.0.0.1:9464 barcodes worker',
    )
    .action(async () => {
      await runWorkerUntilSignal();
    });
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'the whole product on one machine: Temporal, PostgreSQL, an SMTP sink, a worker, schedules and simulated sales',
    )
    .option('--every <duration>', 'interval of the demo interfaces', '20s')
    .option('--mail-dir <folder>', 'where the SMTP sink keeps each received email as .eml', 'demo-mail')
    .option('--sales-per-second <n>', 'orders the simulator writes per second', '2')
    .option('--json', 'print one JSON object per line instead of text')
    .addHelpText(
      'after',
      '\nExample:\n  barcodes demo --every 30s\n\nCtrl-C stops everything the demo started.',
    )
    .action(async (options: { every: string; mailDir: string; salesPerSecond: string; json?: boolean }) => {
      await runDemo({
        json: Boolean(options.json),
        everyMillis: parseDuration(options.every, '--every', DURATION_LIMITS.interval),
        mailDir: options.mailDir,
        salesPerSecond: parseSalesRate(options.salesPerSecond),
      });
    });
}
