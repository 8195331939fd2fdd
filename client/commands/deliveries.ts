import { Command } from 'commander';
import { deliveryJson, deliveryLine } from '../output';
import { parseId, type Runner } from './common';

export function deliveriesCommand(run: Runner): Command {
  return new Command('deliveries')
    .argument('<id>', 'interface id')
    .description("an interface's delivery history, newest first")
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON (an array)')
    .addHelpText('after', '\nExample:\n  barcodes deliveries 3 --limit 10')
    .action(run(async (context, output, options: { limit: string }, idText: string) => {
      const iface = await context.store.get(parseId(idText));
      const deliveries = await context.ledger.list(iface.id, parseId(options.limit, '--limit'));
      const withRecipients = await Promise.all(
        deliveries.map(async (delivery) => ({ ...deliveryJson(delivery), recipientResults: await context.ledger.recipientResults(delivery.id) })),
      );
      output.result(withRecipients, () => (deliveries.length ? deliveries.map(deliveryLine).join('\n') : `interface ${iface.id} has no deliveries yet`));
    }));
}
