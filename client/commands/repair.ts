import { Command } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { parseInstant } from '../../lib/duration';
import { BarcodesError, InputError, NotFoundError } from '../../lib/errors';
import { compactUtc } from '../../lib/mail/message';
import { InterfaceIdKey } from '../../workflows/search-attributes';
import { backfillProgressQuery, backfillWindows, type BackfillResult } from '../../workflows/backfill-shared';
import type { WindowSummary } from '../../activities/types';
import { deliveryJson, deliveryLine } from '../output';
import { parseId, type Runner } from './common';

/** More windows than this in one backfill is almost certainly a typo in --from. */
const MAX_BACKFILL_WINDOWS = 10_000;
const PROGRESS_POLL_MILLIS = 1_000;

export function backfillCommand(run: Runner): Command {
  return new Command('backfill')
    .argument('<id>', 'interface id')
    .description('re-deliver the tickets created in a past range, one delivery per interval-sized window, labelled backfill; never moves the watermark')
    .requiredOption('--from <time>', 'start of the range (ISO 8601 with offset)')
    .requiredOption('--to <time>', 'end of the range (exclusive, not in the future)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes backfill 3 --from 2026-11-28T00:00:00Z --to 2026-11-29T00:00:00Z')
    .action(run(async (context, output, options: { from: string; to: string }, idText: string) => {
      const iface = await context.store.get(parseId(idText));
      const from = parseInstant(options.from, '--from');
      const to = parseInstant(options.to, '--to');
      if (to <= from) throw new InputError(`--to: ${JSON.stringify(options.to)} is not after --from`);
      if (to.getTime() > Date.now()) throw new InputError(`--to: ${JSON.stringify(options.to)} is in the future`);
      if (iface.contacts.length === 0 && iface.channels.length === 0) throw new InputError(`interface ${iface.id} has no contact or sales channel mapping`);
      const windowMillis = iface.intervalSeconds * 1000;
      const count = backfillWindows(from.getTime(), to.getTime(), windowMillis).length;
      if (count > MAX_BACKFILL_WINDOWS) throw new InputError(`--from: the range holds ${count} windows of ${iface.intervalSeconds}s, more than ${MAX_BACKFILL_WINDOWS}`);
      const client = await context.temporalClient();
      const handle = await client.workflow.start('backfill', {
        workflowId: `barcodes-${iface.id}-backfill-${compactUtc(from)}-${compactUtc(to)}-${Date.now()}`,
        taskQueue: context.config.taskQueue,
        args: [{ interfaceId: iface.id, from: from.toISOString(), to: to.toISOString(), windowMillis }],
        typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
        staticSummary: `Backfill of ${iface.name}`,
      });
      output.note(`backfill ${handle.workflowId}: ${count} window(s) from ${from.toISOString()} to ${to.toISOString()}`);
      const result = (await waitWithProgress(client, handle.workflowId, count, output.json)) as BackfillResult;
      output.result(result, () =>
        [
          ...result.deliveries.map((delivery) => `#${delivery.deliveryId}  backfill  ${delivery.status}  ${delivery.windowStart} .. ${delivery.windowEnd}  ${delivery.ticketCount} tickets`),
          `backfill done: ${result.windowsDone} window(s), ${result.ticketsDelivered} ticket(s), ${result.deliveries.filter((delivery) => delivery.status === 'sent').length} email(s)`,
        ].join('\n'),
      );
    }));
}

export function resendCommand(run: Runner): Command {
  return new Command('resend')
    .argument('<delivery-id>', 'a delivery id from `barcodes deliveries`')
    .description('send a stored file again, labelled resend, with its own Message-ID referencing the original')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes resend 1234')
    .action(run(async (context, output, _options: object, idText: string) => {
      const original = await context.ledger.get(parseId(idText, 'DELIVERY_ID'));
      if (!original) throw new NotFoundError(`delivery ${idText} does not exist`);
      if (original.purgedAt) throw new InputError(`delivery ${original.id}: its file was purged at ${original.purgedAt.toISOString()} (retention); use backfill instead`);
      if (original.partCount === 0) throw new InputError(`delivery ${original.id} has no file to resend (status ${original.status})`);
      const client = await context.temporalClient();
      const handle = await client.workflow.start('resend', {
        workflowId: `barcodes-${original.interfaceId}-resend-${original.id}-${Date.now()}`,
        taskQueue: context.config.taskQueue,
        args: [{ deliveryId: original.id }],
        typedSearchAttributes: [{ key: InterfaceIdKey, value: String(original.interfaceId) }],
        staticSummary: `Resend of delivery ${original.id}`,
      });
      const summary = (await waitWithProgress(client, handle.workflowId, 0, true)) as WindowSummary;
      const delivery = (await context.ledger.get(summary.deliveryId!))!;
      output.result(deliveryJson(delivery), () => deliveryLine(delivery));
    }));
}

/** Waits for a workflow, drawing a progress bar on a terminal (backfills answer a progress query). */
async function waitWithProgress(client: Client, workflowId: string, total: number, quiet: boolean): Promise<unknown> {
  const handle = client.workflow.getHandle(workflowId);
  const result = handle.result();
  result.catch(() => {});
  const drawing = !quiet && total > 0 && process.stderr.isTTY;
  const timer = drawing
    ? setInterval(() => {
        handle
          .query(backfillProgressQuery)
          .then((progress) => {
            const width = 30;
            const filled = Math.round((progress.windowsDone / Math.max(1, progress.windowsTotal)) * width);
            process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.windowsDone}/${progress.windowsTotal} windows, ${progress.ticketsDelivered} tickets`);
          })
          .catch(() => {});
      }, PROGRESS_POLL_MILLIS)
    : undefined;
  try {
    return await result;
  } catch (error) {
    if (error instanceof WorkflowFailedError) {
      const cause = (error.cause?.cause ?? error.cause) as Error | undefined;
      throw new BarcodesError(`${workflowId} failed: ${cause?.message ?? error.message}`, 'RUN_FAILED', { cause: error });
    }
    throw error;
  } finally {
    if (timer) {
      clearInterval(timer);
      process.stderr.write('\n');
    }
  }
}
