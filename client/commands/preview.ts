import { Command } from 'commander';
import { once } from 'node:events';
import { parseInstant } from '../../lib/duration';
import { InputError } from '../../lib/errors';
import { DEFAULT_FORMAT_SPEC, parseFormatSpec, renderWindow, type PartSink } from '../../lib/format';
import { planWindow } from '../../lib/window';
import { parseId, type Runner } from './common';

/** Writes rendered parts to stdout, honouring backpressure so a large window stays flat in memory. */
function stdoutSink(): PartSink {
  return {
    async beginPart() {},
    async write(chunk: Buffer) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    },
    async endPart() {},
  };
}

export function previewCommand(run: Runner): Command {
  return new Command('preview')
    .argument('<id>', 'interface id')
    .description('print the file that would be sent (default: the pending window); sends nothing, moves nothing')
    .option('--from <time>', 'start of the range (ISO 8601 with offset)')
    .option('--to <time>', 'end of the range (exclusive)')
    .addHelpText('after', '\nExample:\n  barcodes preview 3\n  barcodes preview 3 --from 2026-11-29T10:00:00Z --to 2026-11-29T10:15:00Z > window.csv\n\nThe window and ticket count go to stderr, the file to stdout.')
    .action(run(async (context, output, options: { from?: string; to?: string }, idText: string) => {
      const iface = await context.store.get(parseId(idText));
      if ((options.from === undefined) !== (options.to === undefined)) throw new InputError('preview: give both --from and --to, or neither');
      const spec = iface.format ? parseFormatSpec(iface.format) : DEFAULT_FORMAT_SPEC;
      let from: Date;
      let to: Date;
      if (options.from !== undefined) {
        from = parseInstant(options.from, '--from');
        to = parseInstant(options.to!, '--to');
        if (to <= from) throw new InputError(`--to: ${JSON.stringify(options.to)} is not after --from`);
      } else {
        const pending = await context.ledger.pendingChainDelivery(context.pool, iface.id);
        if (pending) {
          output.note(`pending frozen window ${pending.windowStart.toISOString()} .. ${pending.windowEnd.toISOString()}, ${pending.ticketCount} tickets (delivery ${pending.id}, stored file)`);
          for (const part of await context.ledger.parts(pending.id)) {
            for await (const chunk of context.ledger.readPart(pending.id, part.index)) {
              if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
            }
          }
          return;
        }
        from = (await context.ledger.chainWatermark(context.pool, iface.id)) ?? iface.startAt;
        const plan = planWindow({
          start: from,
          scheduledAt: new Date(),
          lagMillis: iface.lagSeconds * 1000,
          horizon: await context.source.horizon(),
          maxHoldbackMillis: context.config.maxHoldbackMillis,
        });
        if (!plan) {
          output.note(`nothing pending yet: the next window starts at ${from.toISOString()}`);
          return;
        }
        to = plan.end;
      }
      const rows = context.source.streamWindow({ contacts: iface.contacts, channels: iface.channels, from, to });
      const result = await renderWindow(rows, spec, { interfaceName: iface.name, timeZone: iface.timeZone, windowStart: from, windowEnd: to }, stdoutSink());
      output.note(`window ${from.toISOString()} .. ${to.toISOString()}: ${result.ticketCount} tickets, ${result.parts.length} file(s)${result.parts.length ? ': ' + result.parts.map((part) => part.fileName).join(', ') : ''}`);
    }));
}
