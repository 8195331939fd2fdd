import { Command } from 'commander';
import { migrate } from '../../lib/db/migrate';
import type { Runner } from './common';

export function migrateCommand(run: Runner): Command {
  return new Command('migrate')
    .description(
      "create or upgrade the exporter's tables (and the ticket source tables with --with-source); idempotent",
    )
    .option('--with-source', 'also create the ticket source tables of the contract (demo, tests)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/barcodes barcodes migrate --with-source',
    )
    .action(
      run(async (context, output, options: { withSource?: boolean }) => {
        const result = await migrate(context.pool, context.sourcePool, {
          exporterSchema: context.config.exporterSchema,
          ticketingSchema: context.config.ticketingSchema,
          withSource: Boolean(options.withSource),
        });
        output.result(result, () =>
          result.applied.length
            ? result.applied.map((step) => `applied ${step}`).join('\n')
            : 'database already up to date',
        );
      }),
    );
}
