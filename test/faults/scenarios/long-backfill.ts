import { randomInt } from 'node:crypto';
import { insertSale, type SoldTicket } from '../../../devstack/sales-simulator';
import { sleep } from '../../../devstack/log';
import { barcodes, cliEnv } from '../../support/cli';
import { filesFor } from '../../support/mail';
import { countBackfillWindows } from '../../../workflows/backfill-windows';
import { DEFAULT_BACKFILL_WINDOWS_PER_RUN } from '../../../workflows/boundary';
import type { FaultStack } from '../fault-stack';
import type { ScenarioRow } from '../report';
import { byMode, withFaultStack, type Scenario } from '../scenario';

const DAY_MILLIS = 86_400_000;
const INTERVAL_SECONDS = 900;

const SETTINGS = {
  // Quick (only with --only: it is not in the CI subset): four days (two runs), a sanity check of the scenario
  // itself; full: the 90 days at 15 minutes (8,640 windows, 29 workflow runs) docs/operators.md promises.
  quick: { days: 4, sales: 60, timeoutMillis: 10 * 60_000 },
  full: { days: 90, sales: 1_500, timeoutMillis: 120 * 60_000 },
};

/** A channel of its own: only this scenario's tickets match the interface. */
const CHANNEL = 'BACKFILL-90';

/**
 * A 90-day backfill at 15 minutes through the real CLI and worker processes: it continues as new
 * every 300 windows (a single run ended at Temporal's history limit after 7,314 windows), its
 * worker is SIGKILLed past the middle and a fresh one takes over. Every window must be in the
 * ledger exactly once, every ticket of the range must arrive exactly once, and the CLI must print
 * the whole backfill's result.
 */
export const longBackfill: Scenario = {
  name: 'long-backfill',
  summary:
    'a 90-day backfill at 15 minutes (8,640 windows, 29 continue-as-new runs), its worker SIGKILLed mid-way: every window and ticket once',
  quick: false,
  run: (context) =>
    withFaultStack(context, { name: 'long-backfill' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.addSalesChannels([CHANNEL]);
      const iface = await stack.createInterface({
        label: 'reseller',
        channels: [CHANNEL],
        intervalSeconds: INTERVAL_SECONDS,
      });
      // Paused: only the backfill delivers to its recipient.
      await stack.stack.store.update(iface.id, { enabled: false }, 'fault-suite');
      await stack.stack.syncSchedules();
      const to = new Date(Math.floor(Date.now() / DAY_MILLIS) * DAY_MILLIS);
      const from = new Date(to.getTime() - settings.days * DAY_MILLIS);
      const windowsTotal = countBackfillWindows(from.getTime(), to.getTime(), INTERVAL_SECONDS * 1000);
      const sold = await sellInto(stack, from, to, settings.sales);
      context.log(`long-backfill: ${sold.length} tickets spread over ${windowsTotal} windows`);

      await stack.startWorker('first');
      const backfillStartedAt = Date.now();
      let workflowId = '';
      const cli = barcodes(
        ['backfill', String(iface.id), '--from', from.toISOString(), '--to', to.toISOString(), '--json'],
        cliEnv(stack.stack.config),
        (stderr) => {
          workflowId ||= /^backfill (\S+): /m.exec(stderr)?.[1] ?? '';
        },
      );
      const notes: string[] = [];
      const problems: string[] = [];
      // SIGKILL past the middle, in a later run than the first.
      const killAt = Math.max(Math.ceil(windowsTotal * 0.55), DEFAULT_BACKFILL_WINDOWS_PER_RUN + 1);
      const deadline = Date.now() + settings.timeoutMillis;
      while (
        !workflowId ||
        (await backfillDeliveries(stack, workflowId)) < Math.min(killAt, windowsTotal - 1)
      ) {
        if (Date.now() > deadline)
          throw new Error(`the backfill did not reach window ${killAt} within ${settings.timeoutMillis} ms`);
        await sleep(1_000);
      }
      const doneAtKill = await backfillDeliveries(stack, workflowId);
      await stack.workers[0]!.kill();
      const secondsToKill = (Date.now() - backfillStartedAt) / 1000;
      notes.push(
        `worker SIGKILLed after ${doneAtKill} of ${windowsTotal} windows, ${Math.round(secondsToKill)} s into the backfill (${Math.round(doneAtKill / secondsToKill)} windows/s)`,
      );
      await stack.startWorker('after-kill');
      const ran = await Promise.race([cli, sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
      if (!ran) throw new Error(`the backfill did not finish within ${settings.timeoutMillis} ms`);
      if (ran.code !== 0)
        throw new Error(`barcodes backfill exited ${ran.code}: ${ran.stderr.trim().split('\n').at(-1)}`);
      const result = JSON.parse(ran.stdout) as {
        windowsDone: number;
        windowsTotal: number;
        ticketsDelivered: number;
        runs: number;
        deliveries: unknown[];
      };

      const expectedRuns = Math.ceil(windowsTotal / DEFAULT_BACKFILL_WINDOWS_PER_RUN);
      if (result.windowsDone !== windowsTotal || result.windowsTotal !== windowsTotal)
        problems.push(
          `CLI result: ${result.windowsDone}/${result.windowsTotal} windows, expected ${windowsTotal}`,
        );
      if (result.runs < expectedRuns)
        problems.push(`CLI result: ${result.runs} workflow runs, expected at least ${expectedRuns}`);
      if (result.deliveries.length !== windowsTotal)
        problems.push(`CLI listed ${result.deliveries.length} deliveries, expected ${windowsTotal}`);
      problems.push(...(await ledgerProblems(stack, workflowId, from, windowsTotal)));

      // What arrived, by bar code and by Message-ID (the same message again is a duplicate email).
      const files = filesFor(stack.sink, iface.recipient).filter((file) =>
        /^\[backfill\]/.test(file.mail.parsed.subject ?? ''),
      );
      const seenMessages = new Map<string, number>();
      const arrivals = new Map<string, number>();
      let duplicateEmails = 0;
      for (const file of files) {
        const id = file.mail.parsed.messageId ?? '';
        const seen = seenMessages.get(id) ?? 0;
        seenMessages.set(id, seen + 1);
        if (seen > 0) {
          duplicateEmails++;
          continue;
        }
        for (const record of file.records)
          arrivals.set(record.BAR_CODE!, (arrivals.get(record.BAR_CODE!) ?? 0) + 1);
      }
      const expected = new Set(sold.map((ticket) => ticket.barCode));
      const lost = [...expected].filter((barCode) => !arrivals.has(barCode));
      const leaked = [...arrivals.keys()].filter((barCode) => !expected.has(barCode));
      const duplicated = [...arrivals.values()].reduce((sum, count) => sum + Math.max(0, count - 1), 0);
      if (lost.length > 0) problems.push(`${lost.length} tickets lost (${lost.slice(0, 5).join(', ')})`);
      if (duplicated > 0) problems.push(`${duplicated} duplicated ticket arrivals`);
      if (leaked.length > 0) problems.push(`${leaked.length} tickets that are not the interface's`);
      if (result.ticketsDelivered !== expected.size)
        problems.push(`CLI result: ${result.ticketsDelivered} tickets, expected ${expected.size}`);
      notes.push(
        `${result.runs} workflow runs, ${files.length} emails, ${Math.round((Date.now() - startedAt) / 1000)} s in all`,
      );

      const row: ScenarioRow = {
        scenario: `backfill of ${settings.days} days at 15 min`,
        runs: result.runs,
        expected: expected.size,
        delivered: expected.size - lost.length,
        lost: lost.length,
        duplicated,
        leaked: leaked.length,
        duplicateEmails,
        problems,
        warnings: [],
        notes,
        durationMillis: Date.now() - startedAt,
      };
      return [row];
    }),
};

/** Sales committed with created_at moved into the range, in the same transaction (no window sees them elsewhere). */
async function sellInto(stack: FaultStack, from: Date, to: Date, sales: number): Promise<SoldTicket[]> {
  const sold: SoldTicket[] = [];
  const client = await stack.salesPool.connect();
  try {
    for (let sale = 0; sale < sales; sale++) {
      const createdAt = new Date(from.getTime() + randomInt(to.getTime() - from.getTime()));
      await client.query('BEGIN');
      const tickets = await insertSale(client, stack.schema, {
        contactNumber: null,
        salesChannelCode: CHANNEL,
        ticketCount: 1 + randomInt(3),
      });
      await client.query(`UPDATE ${stack.schema}.ticket SET created_at = $2 WHERE id = ANY($1::bigint[])`, [
        tickets.map((ticket) => ticket.id),
        createdAt,
      ]);
      await client.query('COMMIT');
      sold.push(...tickets);
    }
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
  return sold;
}

async function backfillDeliveries(stack: FaultStack, workflowId: string): Promise<number> {
  const { rows } = await stack.stack.pool.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM ${stack.stack.config.exporterSchema}.delivery WHERE workflow_id = $1`,
    [workflowId],
  );
  return rows[0]!.count;
}

/** Every window of the range exactly once, in order, finished. */
async function ledgerProblems(
  stack: FaultStack,
  workflowId: string,
  from: Date,
  windowsTotal: number,
): Promise<string[]> {
  const deliveries = await stack.stack.ledger.byWorkflow(workflowId);
  const problems: string[] = [];
  if (deliveries.length !== windowsTotal)
    problems.push(`ledger: ${deliveries.length} backfill windows, expected ${windowsTotal}`);
  const wrong = deliveries.filter(
    (delivery, index) => delivery.windowStart.getTime() !== from.getTime() + index * INTERVAL_SECONDS * 1000,
  );
  if (wrong.length > 0)
    problems.push(
      `ledger: ${wrong.length} windows not where the range puts them (gap, overlap or repeat), first at ${wrong[0]!.windowStart.toISOString()}`,
    );
  const unfinished = deliveries.filter(
    (delivery) => delivery.status !== 'sent' && delivery.status !== 'empty',
  );
  if (unfinished.length > 0) problems.push(`ledger: ${unfinished.length} windows not sent`);
  return problems;
}
