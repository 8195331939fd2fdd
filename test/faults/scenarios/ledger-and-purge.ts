import { sleep } from '../../../devstack/log';
import { barcodes, cliEnv } from '../../support/cli';
import type { FaultStack } from '../fault-stack';
import { byMode, scenarioRow, withFaultStack, type Scenario } from '../scenario';
import { finishSteadyLoad, startSteadyLoad } from '../steady-load';

const SETTINGS = {
  quick: { damageMillis: 8_000, purgeRounds: 6, settleMillis: 120_000 },
  full: { damageMillis: 40_000, purgeRounds: 20, settleMillis: 300_000 },
};

/**
 * The exporter's own tables under attack while sales go on: the table of recipients' answers is
 * taken away for several intervals (the ledger cannot record an accepted email), then given back;
 * `barcodes purge --older-than 0s` runs again and again while a backfill is still sending. Proves:
 * the ledger is never the cause of a repeat (no duplicate email, no storm), a purged or pending
 * file is never sent empty, and after the repair (and re-enabling what paused itself) every ticket
 * arrives exactly once.
 */
export const ledgerAndPurge: Scenario = {
  name: 'ledger-and-purge',
  summary:
    'ledger table gone for several intervals, purge during a running backfill; no repeat, no empty file, exactly once after the repair',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'ledger-and-purge' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.startWorker('worker');
      const load = await startSteadyLoad(stack);
      // Backfilled only (its schedule never fires in the scenario): a backfill's files repeat
      // tickets on purpose, so they go to a recipient of their own, outside the exactly-once check.
      const backfilled = await stack.createInterface({
        label: 'backfilled',
        channels: ['WEB', 'AGENCY'],
        intervalSeconds: 3_600,
      });
      const env = cliEnv(stack.stack.config);
      const schema = stack.stack.config.exporterSchema;

      await stack.stack.pool.query(
        `ALTER TABLE ${schema}.delivery_recipient RENAME TO delivery_recipient_away`,
      );
      await sleep(settings.damageMillis);
      await stack.stack.pool.query(
        `ALTER TABLE ${schema}.delivery_recipient_away RENAME TO delivery_recipient`,
      );
      const failed = await failedWindows(
        stack,
        load.interfaces.map((iface) => iface.id),
        new Date(startedAt),
      );
      // What an operator does after the repair: windows that failed permanently paused the interface.
      for (const iface of load.interfaces) await barcodes(['interface', 'enable', String(iface.id)], env);

      const backfill = runBackfill(env, backfilled.id, new Date(startedAt));
      for (let round = 0; round < settings.purgeRounds; round++) {
        await barcodes(['purge', '--older-than', '0s'], env);
        await sleep(500);
      }
      const backfillExit = await backfill;
      const sales = await finishSteadyLoad(stack, load, settings.settleMillis);
      const problems = [
        ...emptyAttachments(stack),
        ...(backfillExit === 0 ? [] : [`the backfill exited ${backfillExit}`]),
      ];
      if (failed === 0)
        problems.push('no window failed while the ledger was damaged: the damage hit no send');
      return [
        await scenarioRow(stack, 'ledger and purge', load.interfaces, startedAt, {
          sales,
          problems,
          notes: [
            `delivery_recipient gone for ${settings.damageMillis / 1000} s: ${failed} window(s) failed before sending, then sent once after the repair`,
            `${settings.purgeRounds} purges (--older-than 0s) while a backfill of the scenario's range was sending`,
          ],
        }),
      ];
    }),
};

/** Chain windows that failed since the start (the ledger's rehearsal refused to send them). */
async function failedWindows(stack: FaultStack, interfaceIds: number[], since: Date): Promise<number> {
  const { rows } = await stack.stack.pool.query<{ failed: number }>(
    `SELECT count(*)::int AS failed FROM ${stack.stack.config.exporterSchema}.delivery
      WHERE interface_id = ANY($1) AND created_at >= $2 AND (status = 'failed' OR last_error LIKE 'LedgerError%' OR attempts > 1)`,
    [interfaceIds, since],
  );
  return rows[0]!.failed;
}

/** Backfills the range so far through the CLI; resolves with its exit code. */
async function runBackfill(env: NodeJS.ProcessEnv, interfaceId: number, from: Date): Promise<number> {
  const to = new Date(Math.floor((Date.now() - 2_000) / 1000) * 1000);
  const result = await barcodes(
    ['backfill', String(interfaceId), '--from', from.toISOString(), '--to', to.toISOString(), '--json'],
    env,
  );
  return result.code;
}

/** Emails whose subject counts tickets but whose attachment holds none: a purged file sent empty. */
function emptyAttachments(stack: FaultStack): string[] {
  return stack.sink.messages.flatMap((mail) => {
    const count = Number(/, (\d+) tickets?/.exec(mail.parsed.subject ?? '')?.[1] ?? 0);
    const bytes = mail.parsed.attachments.reduce((sum, attachment) => sum + attachment.size, 0);
    return count > 0 && bytes === 0
      ? [`${mail.parsed.messageId}: "${mail.parsed.subject}" with an empty attachment`]
      : [];
  });
}
