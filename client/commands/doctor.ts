import { Command } from 'commander';
import { maskUrl } from '../../lib/config';
import { EXPORTER_SCHEMA_SHAPE } from '../../lib/db/migrations';
import { verifyExporterSchema } from '../../lib/db/schema-verify';
import { NodemailerMailer } from '../../lib/mail/mailer';
import type { CommandContext } from '../context';
import type { Runner } from './common';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const CHECK_TIMEOUT_MILLIS = 5_000;

/** Each check answers in one line; a check that hangs counts as failed after a few seconds. */
async function check(name: string, probe: () => Promise<string>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MILLIS / 1000}s`)), CHECK_TIMEOUT_MILLIS);
    });
    return { name, ok: true, detail: await Promise.race([probe(), timeout]) };
  } catch (error) {
    return { name, ok: false, detail: ((error as Error).message || String(error)).replace(/\s*\n\s*/g, ' ') };
  } finally {
    clearTimeout(timer);
  }
}

async function runChecks(context: CommandContext): Promise<Check[]> {
  const { config } = context;
  const checks: Check[] = [];
  checks.push(
    await check('postgresql', async () => {
      const { rows } = await context.pool.query<{ version: string }>('SHOW server_version');
      const migrated = await context.pool.query(`SELECT to_regclass($1) AS t`, [`${config.exporterSchema}.interface`]);
      if (!migrated.rows[0].t) throw new Error(`${maskUrl(config.databaseUrl)}: exporter tables missing: run \`barcodes migrate\``);
      return `${maskUrl(config.databaseUrl)} (server ${rows[0]!.version}), schema ${config.exporterSchema} migrated`;
    }),
  );
  checks.push(
    await check('exporter schema', async () => {
      await verifyExporterSchema(context.pool, config.exporterSchema);
      return `all ${Object.keys(EXPORTER_SCHEMA_SHAPE).length} tables of schema ${config.exporterSchema} with their columns`;
    }),
  );
  checks.push(
    await check('ticket source', async () => {
      await context.sourcePool.query(`SELECT 1 FROM ${config.ticketingSchema}.ticket t JOIN ${config.ticketingSchema}.ticket_order o ON o.id = t.order_id LIMIT 1`);
      const horizon = await context.source.horizon();
      const visibility = horizon.hiddenSessions > 0
        ? `; WARNING: ${horizon.hiddenSessions} session(s) hidden from this role: grant pg_read_all_stats so late commits are detected`
        : '';
      return `tables in schema ${config.ticketingSchema} readable at ${maskUrl(config.sourceDatabaseUrl)}${visibility}`;
    }),
  );
  checks.push(
    await check('temporal', async () => {
      const client = await context.temporalClient(CHECK_TIMEOUT_MILLIS);
      await client.workflowService.describeNamespace({ namespace: config.temporalNamespace });
      return `${config.temporalAddress}, namespace ${config.temporalNamespace}`;
    }),
  );
  checks.push(
    await check('workers', async () => {
      const client = await context.temporalClient(CHECK_TIMEOUT_MILLIS);
      const [workflows, activities] = await Promise.all(
        [1, 2].map((taskQueueType) =>
          client.workflowService.describeTaskQueue({ namespace: config.temporalNamespace, taskQueue: { name: config.taskQueue }, taskQueueType }),
        ),
      );
      const pollers = new Set([...(workflows!.pollers ?? []), ...(activities!.pollers ?? [])].map((poller) => poller.identity));
      if (pollers.size === 0) throw new Error(`no worker polls task queue ${config.taskQueue}: start \`barcodes worker\``);
      return `${pollers.size} worker(s) on task queue ${config.taskQueue}: ${[...pollers].join(', ')}`;
    }),
  );
  checks.push(
    await check('smtp', async () => {
      const mailer = new NodemailerMailer({ smtpUrl: config.smtpUrl, socketTimeoutMillis: CHECK_TIMEOUT_MILLIS });
      try {
        await mailer.verify();
      } finally {
        mailer.close();
      }
      return `${maskUrl(config.smtpUrl)} answers`;
    }),
  );
  return checks;
}

export function doctorCommand(run: Runner): Command {
  return new Command('doctor')
    .description('check PostgreSQL, the source tables, Temporal, the workers and SMTP: one line each')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes doctor\n\nExits 1 when any check fails.')
    .action(run(async (context, output) => {
      const checks = await runChecks(context);
      output.result(checks, () => checks.map((entry) => `${entry.ok ? 'ok  ' : 'FAIL'}  ${entry.name.padEnd(14)} ${entry.detail}`).join('\n'));
      if (checks.some((entry) => !entry.ok)) process.exitCode = 1;
    }));
}
