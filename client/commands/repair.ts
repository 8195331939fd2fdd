import { Command, Option } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import { parseInstant } from '../../lib/duration';
import { InputError, NotFoundError } from '../../lib/errors';
import { unscheduledReason } from '../../lib/interfaces/schedulability';
import { ticketsChangedSince } from '../../lib/source/state-changes';
import { backfillResultOf, resultOf, startBackfill, startResend } from '../../lib/temporal/repairs';
import { backfillRangeProblem, countBackfillWindows } from '../../workflows/backfill-windows';
import type { BackfillResult, BarcodesWorkflows } from '../../workflows/boundary';
import { followBackfillProgress, progressBar } from '../backfill-progress';
import { deliveryJson, deliveryLine } from '../output';
import { parseId, type Runner } from './common';
import type { CommandContext } from '../context';
import type { Output } from '../output';
import type { Delivery } from '../../lib/ledger/ledger';
import { DESTINATION_KINDS, type DestinationKind } from '../../lib/destinations/types';
import type { ExportInterface } from '../../lib/interfaces/store';

const PROGRESS_POLL_MILLIS = 1_000;

export function backfillCommand(run: Runner): Command {
  return (
    new Command('backfill')
      .argument('<id>', 'interface id')
      .description(
        're-deliver the tickets created in a past range, one delivery per interval-sized window, labelled backfill; never moves the watermark',
      )
      .requiredOption('--from <time>', 'start of the range (ISO 8601 with offset)')
      .requiredOption('--to <time>', 'end of the range (exclusive, not in the future)')
      .option('--json', 'print JSON')
      // For tests: a low value proves continue-as-new without thousands of windows.
      .addOption(
        new Option('--windows-per-run <n>', 'windows per workflow run before it continues as new').hideHelp(),
      )
      .addHelpText(
        'after',
        '\nExample:\n  barcodes backfill 3 --from 2026-11-28T00:00:00Z --to 2026-11-29T00:00:00Z',
      )
      .action(
        run(
          async (
            context,
            output,
            options: { from: string; to: string; windowsPerRun?: string },
            idText: string,
          ) => {
            const iface = await context.store.get(parseId(idText));
            const from = parseInstant(options.from, '--from');
            const to = parseInstant(options.to, '--to');
            const windowMillis = iface.intervalSeconds * 1000;
            // Counted, never listed, before anything else: a typo like 0001-01-01 costs nothing.
            const problem = backfillRangeProblem(from.getTime(), to.getTime(), windowMillis);
            if (problem) throw new InputError(problem.startsWith('--') ? problem : `--from/--to: ${problem}`);
            if (to.getTime() > Date.now())
              throw new InputError(`--to: ${JSON.stringify(options.to)} is in the future`);
            const unscheduled = unscheduledReason(iface);
            if (unscheduled) throw new InputError(`interface ${iface.id}: ${unscheduled}`);
            const windowsPerRun =
              options.windowsPerRun === undefined ? undefined : parseWindowsPerRun(options.windowsPerRun);
            const count = countBackfillWindows(from.getTime(), to.getTime(), windowMillis);
            const handle = await startBackfill(await repairScope(context), {
              interface: iface,
              from,
              to,
              windowsPerRun,
            });
            output.note(
              `backfill ${handle.workflowId}: ${count} window(s) from ${from.toISOString()} to ${to.toISOString()}`,
            );
            const result = await withProgress(handle, !output.json && count > 0);
            // The result only counts (it must stay small for any range); the ledger lists the deliveries.
            const deliveries = await context.ledger.byWorkflow(handle.workflowId);
            output.result(
              { ...result, workflowId: handle.workflowId, deliveries: deliveries.map(deliveryJson) },
              () =>
                [
                  ...deliveries.map(deliveryLine),
                  `backfill done: ${result.windowsDone} window(s), ${result.ticketsDelivered} ticket(s), ${result.windowsSent} email(s)` +
                    (result.runs > 1 ? ` in ${result.runs} workflow runs` : ''),
                ].join('\n'),
            );
          },
        ),
      )
  );
}

function parseWindowsPerRun(text: string): number {
  if (!/^[1-9]\d{0,5}$/.test(text))
    throw new InputError(`--windows-per-run: ${JSON.stringify(text)} is not a positive integer`);
  return Number(text);
}

export function resendCommand(run: Runner): Command {
  return new Command('resend')
    .argument('<delivery-id>', 'a delivery id from `barcodes deliveries`')
    .description(
      'send a stored file again, labelled resend, with its own Message-ID referencing the original',
    )
    .option(
      '--to <destinations>',
      'only to these destinations, comma-separated: email, sftp, https (default: all the interface has)',
    )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes resend 1234\n  barcodes resend 1234 --to sftp')
    .action(
      run(async (context, output, options: { to?: string }, idText: string) => {
        const to = options.to === undefined ? undefined : parseDestinationList(options.to);
        const original = await context.ledger.get(parseId(idText, 'DELIVERY_ID'));
        if (!original) throw new NotFoundError(`delivery ${idText} does not exist`);
        if (original.purgedAt)
          throw new InputError(
            `delivery ${original.id}: its file was purged at ${original.purgedAt.toISOString()} (retention); use backfill instead`,
          );
        if (original.partCount === 0)
          throw new InputError(`delivery ${original.id} has no file to resend (status ${original.status})`);
        if (to) await checkConfigured(context, original.interfaceId, to);
        await noteStaleStates(context, output, original);
        // A deleted interface's deliveries can still be resent: its id alone is shown then.
        const iface = await context.store.find(original.interfaceId);
        const summary = await resultOf(await startResend(await repairScope(context), original, iface, to));
        const delivery = await context.ledger.get(summary.deliveryId);
        if (!delivery)
          throw new NotFoundError(`delivery ${summary.deliveryId} (the resend) is not in the ledger`);
        output.result(deliveryJson(delivery), () => deliveryLine(delivery));
      }),
    );
}

/** `--to email,sftp`: known kinds, no repeats. */
function parseDestinationList(text: string): DestinationKind[] {
  const kinds = text
    .split(',')
    .map((kind) => kind.trim())
    .filter(Boolean);
  const unknown = kinds.filter((kind) => !(DESTINATION_KINDS as readonly string[]).includes(kind));
  if (kinds.length === 0 || unknown.length > 0) {
    throw new InputError(`--to: ${JSON.stringify(text)} is not a list of ${DESTINATION_KINDS.join(', ')}`);
  }
  return [...new Set(kinds)] as DestinationKind[];
}

/** A resend to a destination the interface does not have would fail in the worker; say so now. */
async function checkConfigured(
  context: { store: { get(id: number): Promise<ExportInterface> } },
  interfaceId: number,
  to: DestinationKind[],
): Promise<void> {
  const iface = await context.store.get(interfaceId);
  const has = (kind: DestinationKind) =>
    kind === 'email'
      ? iface.recipients.length > 0
      : iface.destinations.some((destination) => destination.kind === kind);
  const missing = to.filter((kind) => !has(kind));
  if (missing.length > 0)
    throw new InputError(`--to: interface ${interfaceId} has no ${missing.join(' or ')} destination`);
}

/**
 * A resend sends the stored file as it was (the reseller may already hold its bytes): when
 * tickets in it changed state since its window, the operator hears so before it goes out. A
 * failed check is a note too, never a refusal.
 */
async function noteStaleStates(context: CommandContext, output: Output, original: Delivery): Promise<void> {
  try {
    const iface = await context.store.get(original.interfaceId);
    const changed = await ticketsChangedSince(context.stateChangeSource, iface, original);
    if (changed) {
      output.note(
        `note: ${changed} ticket(s) in delivery ${original.id} changed state since its window; the file is resent unchanged, with the states it had` +
          (iface.stateChanges
            ? ' (later windows carry the changes)'
            : ` (\`barcodes backfill ${iface.id} --from ${original.windowStart.toISOString()} --to ${original.windowEnd.toISOString()}\` sends the states now)`),
      );
    }
  } catch (error) {
    output.note(
      `note: could not check delivery ${original.id} for state changes since: ${(error as Error).message}`,
    );
  }
}

async function repairScope(context: CommandContext) {
  const { client, deploymentId } = await context.scheduleScope();
  return { client, deploymentId, taskQueue: context.config.taskQueue };
}

/** Waits for the backfill's result, drawing a progress bar on a terminal when asked. */
async function withProgress(
  handle: WorkflowHandle<BarcodesWorkflows['backfill']>,
  drawProgress: boolean,
): Promise<BackfillResult> {
  const stopDrawing =
    drawProgress && process.stderr.isTTY
      ? followBackfillProgress(
          handle,
          (progress) => process.stderr.write(`\r${progressBar(progress)}`),
          PROGRESS_POLL_MILLIS,
        )
      : undefined;
  try {
    return await backfillResultOf(handle);
  } finally {
    if (stopDrawing) {
      stopDrawing();
      process.stderr.write('\n');
    }
  }
}
