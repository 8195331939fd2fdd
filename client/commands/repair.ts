import { Command, Option } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { parseInstant } from '../../lib/duration';
import { BarcodesError, InputError, NotFoundError } from '../../lib/errors';
import { compactUtc } from '../../lib/mail/message';
import { InterfaceIdKey } from '../../workflows/search-attributes';
import {
  BACKFILL_INPUT_VERSION,
  backfillRangeProblem,
  countBackfillWindows,
  type BackfillInput,
  type BackfillResult,
} from '../../workflows/backfill-shared';
import type { WindowSummary } from '../../activities/types';
import { followBackfillProgress, progressBar } from '../backfill-progress';
import { deliveryJson, deliveryLine } from '../output';
import { parseId, type Runner } from './common';
import { DESTINATION_KINDS, type DestinationKind } from '../../lib/destinations/types';
import type { ExportInterface } from '../../lib/interfaces/store';

const PROGRESS_POLL_MILLIS = 1_000;

export function backfillCommand(run: Runner): Command {
  return new Command('backfill')
    .argument('<id>', 'interface id')
    .description('re-deliver the tickets created in a past range, one delivery per interval-sized window, labelled backfill; never moves the watermark')
    .requiredOption('--from <time>', 'start of the range (ISO 8601 with offset)')
    .requiredOption('--to <time>', 'end of the range (exclusive, not in the future)')
    .option('--json', 'print JSON')
    // For tests: a low value proves continue-as-new without thousands of windows.
    .addOption(new Option('--windows-per-run <n>', 'windows per workflow run before it continues as new').hideHelp())
    .addHelpText('after', '\nExample:\n  barcodes backfill 3 --from 2026-11-28T00:00:00Z --to 2026-11-29T00:00:00Z')
    .action(run(async (context, output, options: { from: string; to: string; windowsPerRun?: string }, idText: string) => {
      const iface = await context.store.get(parseId(idText));
      const from = parseInstant(options.from, '--from');
      const to = parseInstant(options.to, '--to');
      const windowMillis = iface.intervalSeconds * 1000;
      // Counted, never listed, before anything else: a typo like 0001-01-01 costs nothing.
      const problem = backfillRangeProblem(from.getTime(), to.getTime(), windowMillis);
      if (problem) throw new InputError(problem.startsWith('--') ? problem : `--from/--to: ${problem}`);
      if (to.getTime() > Date.now()) throw new InputError(`--to: ${JSON.stringify(options.to)} is in the future`);
      if (iface.contacts.length === 0 && iface.channels.length === 0) throw new InputError(`interface ${iface.id} has no contact or sales channel mapping`);
      const windowsPerRun = options.windowsPerRun === undefined ? undefined : parseWindowsPerRun(options.windowsPerRun);
      const count = countBackfillWindows(from.getTime(), to.getTime(), windowMillis);
      const input: BackfillInput = {
        interfaceId: iface.id,
        from: from.toISOString(),
        to: to.toISOString(),
        windowMillis,
        version: BACKFILL_INPUT_VERSION,
        ...(windowsPerRun ? { windowsPerRun } : {}),
      };
      const client = await context.temporalClient();
      const handle = await client.workflow.start('backfill', {
        workflowId: `barcodes-${iface.id}-backfill-${compactUtc(from)}-${compactUtc(to)}-${Date.now()}`,
        taskQueue: context.config.taskQueue,
        args: [input],
        typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
        staticSummary: `Backfill of ${iface.name}`,
      });
      output.note(`backfill ${handle.workflowId}: ${count} window(s) from ${from.toISOString()} to ${to.toISOString()}`);
      const result = (await waitWithProgress(client, handle.workflowId, !output.json && count > 0)) as BackfillResult;
      // The result only counts (it must stay small for any range); the ledger lists the deliveries.
      const deliveries = await context.ledger.byWorkflow(handle.workflowId);
      output.result({ ...result, workflowId: handle.workflowId, deliveries: deliveries.map(deliveryJson) }, () =>
        [
          ...deliveries.map(deliveryLine),
          `backfill done: ${result.windowsDone} window(s), ${result.ticketsDelivered} ticket(s), ${result.windowsSent} email(s)` +
            (result.runs > 1 ? ` in ${result.runs} workflow runs` : ''),
        ].join('\n'),
      );
    }));
}

function parseWindowsPerRun(text: string): number {
  if (!/^[1-9]\d{0,5}$/.test(text)) throw new InputError(`--windows-per-run: ${JSON.stringify(text)} is not a positive integer`);
  return Number(text);
}

export function resendCommand(run: Runner): Command {
  return new Command('resend')
    .argument('<delivery-id>', 'a delivery id from `barcodes deliveries`')
    .description('send a stored file again, labelled resend, with its own Message-ID referencing the original')
    .option('--to <destinations>', 'only to these destinations, comma-separated: email, sftp, https (default: all the interface has)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes resend 1234\n  barcodes resend 1234 --to sftp')
    .action(run(async (context, output, options: { to?: string }, idText: string) => {
      const to = options.to === undefined ? undefined : parseDestinationList(options.to);
      const original = await context.ledger.get(parseId(idText, 'DELIVERY_ID'));
      if (!original) throw new NotFoundError(`delivery ${idText} does not exist`);
      if (original.purgedAt) throw new InputError(`delivery ${original.id}: its file was purged at ${original.purgedAt.toISOString()} (retention); use backfill instead`);
      if (original.partCount === 0) throw new InputError(`delivery ${original.id} has no file to resend (status ${original.status})`);
      if (to) await checkConfigured(context, original.interfaceId, to);
      const client = await context.temporalClient();
      const handle = await client.workflow.start('resend', {
        workflowId: `barcodes-${original.interfaceId}-resend-${original.id}-${Date.now()}`,
        taskQueue: context.config.taskQueue,
        args: [{ deliveryId: original.id, ...(to ? { to } : {}) }],
        typedSearchAttributes: [{ key: InterfaceIdKey, value: String(original.interfaceId) }],
        staticSummary: `Resend of delivery ${original.id}`,
      });
      const summary = (await waitWithProgress(client, handle.workflowId, false)) as WindowSummary;
      const delivery = (await context.ledger.get(summary.deliveryId!))!;
      output.result(deliveryJson(delivery), () => deliveryLine(delivery));
    }));
}

/** `--to email,sftp`: known kinds, no repeats. */
function parseDestinationList(text: string): DestinationKind[] {
  const kinds = text.split(',').map((kind) => kind.trim()).filter(Boolean);
  const unknown = kinds.filter((kind) => !(DESTINATION_KINDS as readonly string[]).includes(kind));
  if (kinds.length === 0 || unknown.length > 0) {
    throw new InputError(`--to: ${JSON.stringify(text)} is not a list of ${DESTINATION_KINDS.join(', ')}`);
  }
  return [...new Set(kinds)] as DestinationKind[];
}

/** A resend to a destination the interface does not have would fail in the worker; say so now. */
async function checkConfigured(context: { store: { get(id: number): Promise<ExportInterface> } }, interfaceId: number, to: DestinationKind[]): Promise<void> {
  const iface = await context.store.get(interfaceId);
  const has = (kind: DestinationKind) => (kind === 'email' ? iface.recipients.length > 0 : iface.destinations.some((destination) => destination.kind === kind));
  const missing = to.filter((kind) => !has(kind));
  if (missing.length > 0) throw new InputError(`--to: interface ${interfaceId} has no ${missing.join(' or ')} destination`);
}

/**
 * Waits for a workflow, drawing a progress bar on a terminal when asked. The handle has no run id,
 * so its result follows a backfill's continue-as-new runs to the last one's result.
 */
async function waitWithProgress(client: Client, workflowId: string, drawProgress: boolean): Promise<unknown> {
  const handle = client.workflow.getHandle(workflowId);
  const result = handle.result();
  result.catch(() => {});
  const stopDrawing =
    drawProgress && process.stderr.isTTY ? followBackfillProgress(handle, (progress) => process.stderr.write(`\r${progressBar(progress)}`), PROGRESS_POLL_MILLIS) : undefined;
  try {
    return await result;
  } catch (error) {
    if (error instanceof WorkflowFailedError) {
      const cause = (error.cause?.cause ?? error.cause) as Error | undefined;
      throw new BarcodesError(`${workflowId} failed: ${cause?.message ?? error.message}`, 'RUN_FAILED', { cause: error });
    }
    throw error;
  } finally {
    if (stopDrawing) {
      stopDrawing();
      process.stderr.write('\n');
    }
  }
}
