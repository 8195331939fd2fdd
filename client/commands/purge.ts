import { Command } from 'commander';
import { DURATION_LIMITS, parseDuration } from '../../lib/duration';
import {
  FILE_RETENTION_VARIABLE,
  DEFAULT_FILE_RETENTION,
  fileRetentionMillis,
  purgeStoredFiles,
} from '../../lib/ledger/retention';
import { temporalWorkflowState } from '../../lib/temporal/workflow-state';
import type { Runner } from './common';

const TEMPORAL_CONNECT_TIMEOUT_MILLIS = 5_000;

export function purgeCommand(run: Runner): Command {
  return new Command('purge')
    .description(
      `delete stored files (they hold barcodes) older than the retention (${FILE_RETENTION_VARIABLE}, default ${DEFAULT_FILE_RETENTION}); the delivery records stay`,
    )
    .option(
      '--older-than <duration>',
      `purge files of deliveries sent before this long ago (default: ${FILE_RETENTION_VARIABLE} or ${DEFAULT_FILE_RETENTION})`,
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  barcodes purge --older-than 30d\n\nRun it daily (cron, systemd timer). A purged delivery keeps its window, ticket count, checksum and\nrecipients, but can no longer be resent. Unsent scheduled windows are never purged; an unsent\nbackfill or resend is purged only once its workflow has ended (kept while Temporal cannot say).',
    )
    .action(
      run(async (context, output, options: { olderThan?: string }) => {
        const olderThanMillis =
          options.olderThan !== undefined
            ? parseDuration(options.olderThan, '--older-than', DURATION_LIMITS.retention)
            : fileRetentionMillis();
        const workflowState = temporalWorkflowState(() =>
          context.temporalClient(TEMPORAL_CONNECT_TIMEOUT_MILLIS),
        );
        const report = await purgeStoredFiles(context.pool, context.config.exporterSchema, {
          olderThanMillis,
          workflowState,
        });
        output.result({ ...report, cutoff: report.cutoff.toISOString() }, () =>
          [
            `purged the stored files of ${plural(report.deliveries, 'delivery', 'deliveries')} (${plural(report.chunks, 'chunk', 'chunks')}, ${report.bytes} bytes) older than ${report.cutoff.toISOString()}`,
            ...(report.keptUnsent > 0
              ? [
                  `kept ${plural(report.keptUnsent, 'unsent scheduled window', 'unsent scheduled windows')} older than that: still to be delivered (see barcodes deliveries)`,
                ]
              : []),
            ...(report.keptInFlight > 0
              ? [
                  `kept ${plural(report.keptInFlight, 'unsent backfill or resend', 'unsent backfills or resends')} older than that: its workflow is still running or Temporal could not say (purged by a later run once it has ended)`,
                ]
              : []),
          ].join('\n'),
        );
      }),
    );
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}
