import { Command } from 'commander';
import { DURATION_LIMITS, parseDuration } from '../../lib/duration';
import { InputError } from '../../lib/errors';
import { runNow } from '../../lib/schedules/run-now';
import { unscheduledReason } from '../../lib/interfaces/schedulability';
import { scheduleIdFor } from '../../lib/schedules/schedule-id';
import { applyToTemporal } from './apply';
import { deliveryJson, deliveryLine } from '../output';
import { parseId, type Runner } from './common';

export function runCommand(run: Runner): Command {
  return new Command('run')
    .argument('<id>', 'interface id')
    .description(
      "run the interface's next window now, through its schedule (never two windows at once), and print the delivery",
    )
    .option('--timeout <duration>', 'how long to wait for the run', '2m')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes run 3 --timeout 5m')
    .action(
      run(async (context, output, options: { timeout: string }, idText: string) => {
        const id = parseId(idText);
        const timeoutMillis = parseDuration(options.timeout, '--timeout', DURATION_LIMITS.timeout);
        const iface = await context.store.get(id);
        const reason = unscheduledReason(iface);
        if (reason) throw new InputError(`interface ${id} cannot run: ${reason}`);
        if (!iface.enabled)
          throw new InputError(
            `interface ${id} is disabled: enable it first (barcodes interface enable ${id})`,
          );
        const { client, deploymentId } = await context.scheduleScope();
        // A missing or stale schedule is repaired first, so the run shares its overlap policy and chain.
        await applyToTemporal(context, output, id);
        const { workflowId, result } = await runNow(client, {
          scheduleId: scheduleIdFor(deploymentId, id),
          taskQueue: context.config.taskQueue,
          timeoutMillis,
          beforeTrigger: () => context.store.requestRun(id),
        });
        const last = result.windows.at(-1);
        if (!last && result.busy) {
          output.result(
            { interfaceId: id, workflowId, kind: 'run', status: 'busy', ticketCount: 0, note: result.busy },
            () =>
              `interface ${id}: another run holds its window and sends it (${result.busy}); workflow ${workflowId}`,
          );
          return;
        }
        if (!last || last.deliveryId === null) {
          output.result(
            {
              interfaceId: id,
              workflowId,
              kind: 'run',
              status: 'empty',
              windowStart: result.windowEnd,
              windowEnd: result.windowEnd,
              ticketCount: 0,
              note: 'nothing due yet',
            },
            () => `interface ${id}: nothing due yet (watermark ${result.windowEnd}); workflow ${workflowId}`,
          );
          return;
        }
        const delivery = (await context.ledger.get(last.deliveryId))!;
        output.result(
          { ...deliveryJson(delivery), workflowId, windows: result.windows },
          () => `${deliveryLine(delivery)}\nworkflow ${workflowId}`,
        );
      }),
    );
}
