import { Command } from 'commander';
import { syncSchedules } from '../../lib/schedules/sync';
import type { Runner } from './common';

export function schedulesCommand(run: Runner): Command {
  const command = new Command('schedules').description('Temporal schedules of the interfaces');
  command
    .command('sync')
    .description(
      'the starter: make the Temporal Schedules match the interfaces (create, update, pause, delete); idempotent',
    )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes schedules sync')
    .action(
      run(async (context, output) => {
        const report = await syncSchedules(await context.scheduleScope(), context.store);
        output.result(report, () =>
          [
            ...report.changes.map((change) => `${change.scheduleId}: ${change.action} (${change.detail})`),
            ...report.unscheduled.map(
              (entry) => `interface ${entry.interfaceId}: not scheduled: ${entry.reason}`,
            ),
            report.changes.length === 0
              ? 'schedules already match the interfaces: nothing to do'
              : `${report.changes.length} change(s) applied`,
          ].join('\n'),
        );
      }),
    );
  return command;
}
