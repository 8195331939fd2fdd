import { Command } from 'commander';
import { deliveryJson, deliveryTable } from '../output';
import { parseCount, parseId, type Runner } from './common';
import type { DeliveryLedger } from '../../lib/ledger/ledger';

/**
 * Each destination's status per part: email from the part's acceptance (or its recorded permanent
 * failure), SFTP and HTTPS from their own rows. One destination's result never stands for another's.
 */
async function destinationResults(ledger: DeliveryLedger, deliveryId: number) {
  const [parts, results] = await Promise.all([
    ledger.parts(deliveryId),
    ledger.destinationResults(deliveryId),
  ]);
  const email = parts
    .filter((part) => part.sentAt)
    .map((part) => ({
      part: part.index,
      destination: 'email' as const,
      status: 'delivered' as const,
      detail: part.messageId,
      at: part.sentAt!,
    }));
  return [...email, ...results]
    .sort((a, b) => a.part - b.part || a.destination.localeCompare(b.destination))
    .map((result) => ({ ...result, at: result.at.toISOString() }));
}

/** More deliveries than this in one listing is a report, not a look: use --json and a query. */
const MAX_LIMIT = 10_000;

export function deliveriesCommand(run: Runner): Command {
  return new Command('deliveries')
    .argument('<id>', 'interface id')
    .description("an interface's delivery history, newest first")
    .option('--limit <n>', `how many, 1 to ${MAX_LIMIT}`, '50')
    .option('--json', 'print JSON (an array)')
    .addHelpText('after', '\nExample:\n  barcodes deliveries 3 --limit 10')
    .action(
      run(async (context, output, options: { limit: string }, idText: string) => {
        const id = parseId(idText);
        const limit = parseCount(options.limit, '--limit', 1, MAX_LIMIT);
        const iface = await context.store.get(id);
        const deliveries = await context.ledger.list(iface.id, limit);
        const withRecipients = await Promise.all(
          deliveries.map(async (delivery) => ({
            ...deliveryJson(delivery),
            recipientResults: await context.ledger.recipientResults(delivery.id),
            destinationResults: await destinationResults(context.ledger, delivery.id),
          })),
        );
        output.result(withRecipients, () =>
          deliveries.length ? deliveryTable(deliveries) : `interface ${iface.id} has no deliveries yet`,
        );
      }),
    );
}
