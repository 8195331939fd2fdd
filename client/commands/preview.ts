import { Command } from 'commander';
import { once } from 'node:events';
import { parseInstant } from '../../lib/duration';
import { InputError } from '../../lib/errors';
import { buffer } from 'node:stream/consumers';
import { MemorySink, parseFormatSpec, type FilePart, type PartSink } from '../../lib/format';
import { ResumableSink } from '../../lib/format/resumable-sink';
import { renderWindowChoosingPath } from '../../lib/source/window-render';
import { DEFAULT_HEAP_GROWING_PERCENT, limitHeapGrowth } from '../../lib/heap-growth';
import { nextWindow } from '../../lib/next-window';
import { windowRows } from '../../lib/source/window-rows';
import type { CommandContext } from '../context';
import type { ExportInterface } from '../../lib/interfaces/store';
import type { Delivery } from '../../lib/ledger/ledger';
import { parseId, type Runner } from './common';

/** Writes rendered parts to stdout, honouring backpressure so a large window stays flat in memory. */
const stdoutSink: PartSink = {
  async beginPart() {},
  async write(chunk: Buffer) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  },
  async endPart() {},
};

/** The range to preview: the given one, or the pending window as the next run would see it now. */
async function previewRange(
  context: CommandContext,
  iface: ExportInterface,
  options: { from?: string; to?: string },
): Promise<{ from: Date; to: Date; frozen?: Delivery } | null> {
  if ((options.from === undefined) !== (options.to === undefined))
    throw new InputError('preview: give both --from and --to, or neither');
  if (options.from !== undefined) {
    const from = parseInstant(options.from, '--from');
    const to = parseInstant(options.to!, '--to');
    if (to <= from) throw new InputError(`--to: ${JSON.stringify(options.to)} is not after --from`);
    return { from, to };
  }
  const next = await nextWindow(
    { ledger: context.ledger, source: context.source, maxHoldbackMillis: context.config.maxHoldbackMillis },
    context.pool,
    iface,
    null,
  );
  // A frozen window is sent as its stored file, whatever changed since: preview shows that file.
  if (next.kind === 'frozen')
    return { from: next.delivery.windowStart, to: next.delivery.windowEnd, frozen: next.delivery };
  return next.kind === 'due' ? { from: next.plan.start, to: next.plan.end } : null;
}

export function previewCommand(run: Runner): Command {
  return new Command('preview')
    .argument('<id>', 'interface id')
    .description(
      'print the file that would be sent (default: the pending window); sends nothing, moves nothing',
    )
    .option('--from <time>', 'start of the range (ISO 8601 with offset)')
    .option('--to <time>', 'end of the range (exclusive)')
    .option('--json', 'print the window, ticket count and files (text, or base64 when compressed) as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  barcodes preview 3\n  barcodes preview 3 --from 2026-11-29T10:00:00Z --to 2026-11-29T10:15:00Z > window.csv\n\nThe file goes to stdout, its window and ticket count to stderr.',
    )
    .action(
      run(async (context, output, options: { from?: string; to?: string }, idText: string) => {
        limitHeapGrowth(DEFAULT_HEAP_GROWING_PERCENT);
        const iface = await context.store.get(parseId(idText));
        const spec = parseFormatSpec(iface.format);
        const range = await previewRange(context, iface, options);
        if (!range) {
          const watermark = (await context.ledger.chainWatermark(context.pool, iface.id)) ?? iface.startAt;
          output.result(
            {
              interfaceId: iface.id,
              windowStart: watermark.toISOString(),
              windowEnd: watermark.toISOString(),
              ticketCount: 0,
              files: [],
            },
            () => '',
          );
          output.note(`nothing pending yet: the next window starts at ${watermark.toISOString()}`);
          return;
        }
        const summary = `window ${range.from.toISOString()} .. ${range.to.toISOString()}`;
        let ticketCount: number;
        let parts: (FilePart & { bytes?: Buffer })[];
        if (range.frozen) {
          ticketCount = range.frozen.ticketCount;
          parts = await context.ledger.parts(range.frozen.id);
          for (const part of parts) {
            if (output.json) part.bytes = await buffer(context.ledger.readPart(range.frozen.id, part.index));
            else
              for await (const chunk of context.ledger.readPart(range.frozen.id, part.index))
                await stdoutSink.write(chunk);
          }
        } else {
          // The rows the window would send: with state changes on, its state-change rows too.
          const rows = windowRows(context, iface, range);
          const renderContext = {
            interfaceName: iface.name,
            timeZone: iface.timeZone,
            windowStart: range.from,
            windowEnd: range.to,
          };
          let memory = new MemorySink();
          // The renderer the freeze would use (lib/source/window-render.ts), so preview shows its speed
          // too. Should the database hand the window back to JavaScript mid-way, stdout cannot take its
          // bytes back: the JavaScript attempt skips the bytes already printed (checked to be the same).
          const printed = new ResumableSink((chunk) => stdoutSink.write(chunk));
          const { rendered: result } = await renderWindowChoosingPath<PartSink>({
            source: context.source,
            selection: { contacts: iface.contacts, channels: iface.channels, from: range.from, to: range.to },
            stateChanges: Boolean(iface.stateChanges),
            javascriptRows: () => rows,
            spec,
            ctx: renderContext,
            sinks: output.json
              ? { open: async () => (memory = new MemorySink()), discard: async () => {} }
              : { open: async () => printed, discard: async () => printed.restart() },
          });
          if (!output.json) printed.finish();
          ticketCount = result.ticketCount;
          parts = result.parts.map((part, index) => ({ ...part, bytes: memory.parts[index] }));
        }
        output.note(
          `${summary}${range.frozen ? ` (frozen, delivery ${range.frozen.id})` : ''}: ${ticketCount} tickets, ${parts.length} file(s)${parts.length ? ': ' + parts.map((part) => part.fileName).join(', ') : ''}`,
        );
        if (!output.json) return;
        output.result(
          {
            interfaceId: iface.id,
            windowStart: range.from.toISOString(),
            windowEnd: range.to.toISOString(),
            ticketCount,
            frozenDeliveryId: range.frozen?.id ?? null,
            files: parts.map(({ bytes, ...part }) => {
              const utf8 = /charset=utf-8/i.test(part.contentType);
              return {
                ...part,
                encoding: utf8 ? 'utf-8' : 'base64',
                content: utf8 ? bytes!.toString('utf8') : bytes!.toString('base64'),
              };
            }),
          },
          () => '',
        );
      }),
    );
}
