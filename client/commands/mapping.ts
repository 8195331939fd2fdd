import { Command } from 'commander';
import { InputError } from '../../lib/errors';
import { checkCode } from '../../lib/interfaces/validate';
import type { MappingKind } from '../../lib/interfaces/store';
import { interfaceJson, interfaceText } from '../output';
import { applyToTemporal } from './apply';
import { actorOf, parseId, type Runner } from './common';
import { checkMappingsKnown } from './interface';

interface MappingOptions {
  contact?: string;
  channel?: string;
  strict?: boolean;
  actor?: string;
}

function oneMapping(options: MappingOptions): { kind: MappingKind; code: string } {
  if ((options.contact === undefined) === (options.channel === undefined)) {
    throw new InputError('mapping: give exactly one of --contact C or --channel S');
  }
  return options.contact !== undefined
    ? { kind: 'contact', code: checkCode(options.contact, '--contact') }
    : { kind: 'channel', code: checkCode(options.channel!, '--channel') };
}

export function mappingCommand(run: Runner): Command {
  const command = new Command('mapping').description(
    "manage an interface's contact and sales channel mappings",
  );
  for (const action of ['add', 'remove'] as const) {
    command
      .command(`${action} <id>`)
      .description(
        action === 'add'
          ? 'map a contact (SecuTix "Generic" mapping: the contact number) or a sales channel'
          : 'remove a mapping',
      )
      .option('--contact <number>', 'contact number')
      .option('--channel <code>', 'sales channel code')
      .option('--strict', 'refuse an unknown contact or channel instead of warning')
      .option('--actor <name>', 'who makes the change (default: OS user)')
      .option('--json', 'print JSON')
      .addHelpText(
        'after',
        `\nExample:\n  barcodes mapping ${action} 3 --contact 100234\n  barcodes mapping ${action} 3 --channel WEB`,
      )
      .action(
        run(async (context, output, options: MappingOptions, idText: string) => {
          const id = parseId(idText);
          const mapping = oneMapping(options);
          const actor = actorOf(options);
          await context.store.get(id);
          if (action === 'add') {
            await checkMappingsKnown(
              context,
              output,
              mapping.kind === 'contact' ? [mapping.code] : [],
              mapping.kind === 'channel' ? [mapping.code] : [],
              options.strict,
            );
            await context.store.addMapping(id, mapping.kind, mapping.code, actor);
          } else {
            await context.store.removeMapping(id, mapping.kind, mapping.code, actor);
          }
          await applyToTemporal(context, output, id);
          const updated = await context.store.get(id);
          output.result(interfaceJson(updated), () => interfaceText(updated));
        }),
      );
  }
  return command;
}
