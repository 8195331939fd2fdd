import { Command } from 'commander';
import { maskUrl } from '../../lib/config';
import { EXPORTER_SCHEMA_SHAPE } from '../../lib/db/migrations';
import { verifyExporterSchema } from '../../lib/db/schema-verify';
import { NodemailerMailer } from '../../lib/mail/mailer';
import { findScheduleDrift } from '../../lib/schedules/drift';
import { describeSmtpTls } from '../../lib/security/smtp-transport';
import type { CommandContext } from '../context';
import type { Runner } from './common';
import { checkChangeLog } from '../../lib/source/change-log-check';
import { openDestinations } from '../../lib/destinations/configured';
import { createHttpsSender, readHttpsCaPem } from '../../lib/destinations/https';
import { sealedKeyId } from '../../lib/destinations/secret-box';
import { checkSftp } from '../../lib/destinations/sftp';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const CHECK_TIMEOUT_MILLIS = 5_000;
/** An SSH login and a TLS handshake to a reseller's server take longer than a local check. */
const DESTINATION_CHECK_TIMEOUT_MILLIS = 20_000;
/** A poller Temporal has not heard from for this long is a worker that is gone. */
const WORKER_GONE_MILLIS = 90_000;

/** Each check answers in one line; a check that hangs counts as failed after a few seconds. */
async function check(
  name: string,
  probe: () => Promise<string>,
  timeoutMillis = CHECK_TIMEOUT_MILLIS,
): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMillis / 1000}s`)), timeoutMillis);
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
      const { rows } = await context.pool.query<{ server_version: string }>('SHOW server_version');
      const migrated = await context.pool.query(`SELECT to_regclass($1) AS t`, [
        `${config.exporterSchema}.interface`,
      ]);
      if (!migrated.rows[0].t)
        throw new Error(`${maskUrl(config.databaseUrl)}: exporter tables missing: run \`barcodes migrate\``);
      return `${maskUrl(config.databaseUrl)} (PostgreSQL ${rows[0]!.server_version}), schema ${config.exporterSchema} migrated`;
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
      await context.sourcePool.query(
        `SELECT 1 FROM ${config.ticketingSchema}.ticket t JOIN ${config.ticketingSchema}.ticket_order o ON o.id = t.order_id LIMIT 1`,
      );
      const horizon = await context.source.horizon();
      const visibility =
        horizon.hiddenSessions > 0
          ? `; WARNING: ${horizon.hiddenSessions} session(s) hidden from this role: grant pg_read_all_stats so late commits are detected`
          : '';
      return `tables in schema ${config.ticketingSchema} readable at ${maskUrl(config.sourceDatabaseUrl)}${visibility}`;
    }),
  );
  checks.push(
    await check('state changes', async () => {
      const using = (await context.store.list())
        .filter((iface) => iface.stateChanges)
        .map((iface) => iface.id);
      const log = await checkChangeLog(context.sourcePool, config.ticketingSchema);
      const users = using.length
        ? `${using.length} interface(s) use it (${using.join(', ')})`
        : 'no interface uses it';
      if (!log.table || !log.trigger) {
        const missing = !log.table
          ? `${config.ticketingSchema}.ticket_state_change missing`
          : `no enabled trigger on ${config.ticketingSchema}.ticket writes ticket_state_change`;
        // Only a failure when an interface needs it: the log is opt-in.
        if (using.length) throw new Error(`${missing}, but ${users}: install it (docs/state-changes.md)`);
        return `change log not installed (${missing}); ${users}`;
      }
      if (log.fires === false)
        throw new Error(`trigger ${log.trigger} exists but a state update wrote no change row; ${users}`);
      const trial = log.fires ? 'fires (tried in a rolled-back transaction)' : `not tried: ${log.untested}`;
      return `trigger ${log.trigger} on ${config.ticketingSchema}.ticket ${trial}; ${users}`;
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
          client.workflowService.describeTaskQueue({
            namespace: config.temporalNamespace,
            taskQueue: { name: config.taskQueue },
            taskQueueType,
          }),
        ),
      );
      const lastSeen = new Map<string, number>();
      for (const poller of [...(workflows!.pollers ?? []), ...(activities!.pollers ?? [])]) {
        const seconds = Number(poller.lastAccessTime?.seconds ?? 0) * 1000;
        lastSeen.set(poller.identity ?? '?', Math.max(lastSeen.get(poller.identity ?? '?') ?? 0, seconds));
      }
      const now = Date.now();
      const alive = [...lastSeen]
        .filter(([, at]) => now - at <= WORKER_GONE_MILLIS)
        .map(([identity]) => identity);
      const gone = [...lastSeen]
        .filter(([, at]) => now - at > WORKER_GONE_MILLIS)
        .map(([identity, at]) => `${identity} (last seen ${Math.round((now - at) / 1000)}s ago)`);
      if (alive.length === 0)
        throw new Error(
          `no worker polls task queue ${config.taskQueue}: start \`barcodes worker\`${gone.length ? `; gone: ${gone.join(', ')}` : ''}`,
        );
      return `${alive.length} worker(s) on task queue ${config.taskQueue}: ${alive.join(', ')}${gone.length ? `; gone: ${gone.join(', ')}` : ''}`;
    }),
  );
  checks.push(
    await check('schedules', async () => {
      const interfaces = await context.store.list();
      const drift = await findScheduleDrift(await context.scheduleScope(CHECK_TIMEOUT_MILLIS), interfaces);
      if (drift.length > 0) {
        throw new Error(
          `${drift.map((entry) => `interface ${entry.interfaceId} (${entry.scheduleId}): ${entry.differences.join(', ')}`).join('; ')}: run \`barcodes schedules sync\``,
        );
      }
      return `${interfaces.length} interface(s), every schedule matches the database`;
    }),
  );
  checks.push(
    await check('interfaces', async () => {
      const interfaces = await context.store.list();
      const paused = interfaces.filter((iface) => iface.pausedReason);
      if (paused.length > 0)
        throw new Error(
          paused
            .map((iface) => `interface ${iface.id} ${iface.pausedReason} (enable it once fixed)`)
            .join('; '),
        );
      const failing = interfaces
        .filter((iface) => iface.consecutiveFailures > 0)
        .map((iface) => `${iface.id}`);
      return `${interfaces.length} interface(s), none paused itself${failing.length ? `; failing now: ${failing.join(', ')}` : ''}`;
    }),
  );
  checks.push(
    await check('smtp', async () => {
      const mailer = new NodemailerMailer({
        smtpUrl: config.smtpUrl,
        socketTimeoutMillis: CHECK_TIMEOUT_MILLIS,
      });
      try {
        await mailer.verify();
      } finally {
        mailer.close();
      }
      return `${maskUrl(config.smtpUrl)} answers; ${describeSmtpTls(config.smtpUrl)}`;
    }),
  );
  checks.push(...(await destinationChecks(context)));
  return checks;
}

/**
 * One line per SFTP or HTTPS destination: SFTP logs in with the pinned host key and proves the
 * folder writable; HTTPS posts a signed dry run the receiver must accept. A secret sealed under a
 * key that is no longer the first of BARCODES_SECRETS_KEY is named, so a rotation can be finished.
 */
async function destinationChecks(context: CommandContext): Promise<Check[]> {
  const checks: Check[] = [];
  let interfaces: Awaited<ReturnType<CommandContext['store']['list']>>;
  try {
    interfaces = (await context.store.list()).filter((iface) => iface.destinations.length > 0);
  } catch {
    return checks; // the postgresql check has said why
  }
  if (interfaces.length === 0) return checks;
  const https = createHttpsSender({
    extraCaPem: readHttpsCaPem(context.config.httpsCaFile),
    timeoutMillis: DESTINATION_CHECK_TIMEOUT_MILLIS,
  });
  try {
    for (const iface of interfaces) {
      const sealed = await context.store.sealedDestinations(iface.id);
      for (const stored of sealed) {
        checks.push(
          await check(
            `interface ${iface.id} ${stored.kind}`,
            async () => {
              const keyring = context.config.secretsKeyring();
              const [destination] = openDestinations([stored], keyring);
              const answer =
                destination!.kind === 'sftp'
                  ? await checkSftp(destination!)
                  : await https.check(destination!);
              const keyId = sealedKeyId(stored.secretSealed);
              const rotation =
                keyring && keyId !== keyring.current.id
                  ? `; secret still under key ${keyId}: re-save it (interface update) to finish the rotation`
                  : '';
              return `${stored.url}: ${answer}${rotation}`;
            },
            DESTINATION_CHECK_TIMEOUT_MILLIS,
          ),
        );
      }
    }
  } finally {
    await https.close();
  }
  return checks;
}

export function doctorCommand(run: Runner): Command {
  return new Command('doctor')
    .description(
      'check PostgreSQL, the source tables, Temporal, the workers, SMTP and each SFTP/HTTPS destination: one line each',
    )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes doctor\n\nExits 1 when any check fails.')
    .action(
      run(async (context, output) => {
        const checks = await runChecks(context);
        output.result(checks, () =>
          checks
            .map((entry) => `${entry.ok ? 'ok  ' : 'FAIL'}  ${entry.name.padEnd(14)} ${entry.detail}`)
            .join('\n'),
        );
        if (checks.some((entry) => !entry.ok)) process.exitCode = 1;
      }),
    );
}
