import { Command } from 'commander';
import { InputError } from '../../lib/errors';
import { unscheduledReason } from '../../lib/interfaces/schedulability';
import type { ExportInterface } from '../../lib/interfaces/store';
import { describeInterfaceSchedule } from '../../lib/schedules/describe';
import type { CommandContext } from '../context';
import {
  deliveryJson,
  deliveryLine,
  interfaceJson,
  interfaceTable,
  interfaceText,
  type Output,
} from '../output';
import { applyToTemporal } from './apply';
import {
  DEFAULT_EVERY,
  DEFAULT_LAG,
  parseInterfaceOptions,
  type InterfaceOptions,
} from './interface-options';
import { actorOf, collect, parseId, type Runner } from './common';
import { checkChangeLog } from '../../lib/source/change-log-check';

/** Help of the options create and update share, written once. */
const HELP = {
  alertEmail:
    'who receives its alerts: a self-pause, refused recipients or destinations, failures that need an operator (default: BARCODES_ALERT_EMAIL)',
  pgpKey: "encrypt the files to this OpenPGP public key (the reseller's; armored or binary)",
};

export function interfaceCommand(run: Runner): Command {
  const command = new Command('interface').description('manage interfaces (one reseller export each)');

  command
    .command('create')
    .description('create an interface (enabled unless --disabled) and schedule it')
    .requiredOption('--name <name>', 'name, e.g. "Barcodes for MyReseller"')
    .option('--email <address>', 'recipient (repeat for several)', collect, [])
    .option('--contact <number>', 'contact mapping: contact number of the buyer (repeatable)', collect, [])
    .option('--channel <code>', 'sales channel mapping (repeatable)', collect, [])
    .option('--every <duration>', 'interval between windows', DEFAULT_EVERY)
    .option('--lag <duration>', 'safety lag subtracted from each window end', DEFAULT_LAG)
    .option('--timezone <zone>', 'IANA time zone of the file dates', 'UTC')
    .option('--format <file.json>', 'format specification (default: the SecuTix CSV)')
    .option('--start <time>', 'start of the first window (default: now)')
    .option('--alert-email <address>', HELP.alertEmail)
    .option('--pgp-key <file>', HELP.pgpKey)
    .option(
      '--state-changes [states]',
      'also send state-change rows for tickets sent earlier: every change, or only changes to these states (comma-separated, e.g. CANCELLED,INVALIDATED)',
    )
    .option('--no-state-changes', 'only new tickets (the default)')
    .option('--sftp <url>', 'also deliver by SFTP: sftp://user@host[:port]/folder')
    .option(
      '--sftp-key <file>',
      'private key the exporter logs in with (stored encrypted with BARCODES_SECRETS_KEY)',
    )
    .option(
      '--sftp-host-key <fingerprint>',
      "the server's pinned host key, SHA256:… (ssh-keyscan HOST | ssh-keygen -lf -)",
    )
    .option('--https <url>', 'also deliver by signed HTTPS POST to this URL')
    .option('--https-secret-file <file>', 'shared secret of the HMAC-SHA256 signature (stored encrypted)')
    .option('--disabled', 'create it paused')
    .option('--strict', 'refuse unknown contacts or channels instead of warning')
    .option('--actor <name>', 'who makes the change, for the audit trail (default: OS user)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  barcodes interface create --name "Barcodes for Acme" --email tickets@acme.example --contact 100234 --channel WEB\n  barcodes interface create --name "Barcodes for Acme" --email tickets@acme.example --contact 100234 --pgp-key acme-public.asc\n  barcodes interface create --name "Barcodes for Acme" --email tickets@acme.example --contact 100234 --state-changes CANCELLED,INVALIDATED\n  barcodes interface create --name "Barcodes for Acme" --contact 100234 --sftp sftp://acme@sftp.acme.example/in --sftp-key exporter_ed25519 --sftp-host-key SHA256:…',
    )
    .action(
      run(async (context, output, options: InterfaceOptions & { strict?: boolean; actor?: string }) => {
        const actor = actorOf(options);
        const fields = await parseInterfaceOptions(options, context.config);
        if (!fields.recipients?.length && !fields.setDestinations?.sftp && !fields.setDestinations?.https) {
          throw new InputError('--email, --sftp or --https: an interface needs at least one destination');
        }
        await checkMappingsKnown(
          context,
          output,
          fields.contacts ?? [],
          fields.channels ?? [],
          options.strict,
        );
        if (fields.stateChanges) await warnWithoutChangeLog(context, output);
        const created = await context.store.create(
          {
            name: fields.name!,
            recipients: fields.recipients ?? [],
            intervalSeconds: fields.intervalSeconds!,
            lagSeconds: fields.lagSeconds!,
            timeZone: fields.timeZone!,
            format: fields.format ?? null,
            startAt: fields.startAt ?? new Date(),
            enabled: !options.disabled,
            alertEmail: fields.alertEmail ?? null,
            pgpPublicKey: fields.pgpPublicKey ?? null,
            stateChanges: fields.stateChanges ?? null,
            setDestinations: fields.setDestinations,
          },
          { contacts: fields.contacts ?? [], channels: fields.channels ?? [] },
          actor,
        );
        warnIfUnscheduled(output, created);
        await applyToTemporal(context, output, created.id);
        output.result(interfaceJson(created), () => interfaceText(created));
      }),
    );

  command
    .command('list')
    .description('list interfaces')
    .option('--json', 'print JSON (an array)')
    .addHelpText('after', '\nExample:\n  barcodes interface list --json')
    .action(
      run(async (context, output) => {
        const all = await context.store.list();
        output.result(all.map(interfaceJson), () =>
          all.length === 0
            ? 'no interfaces (create one with `barcodes interface create`)'
            : interfaceTable(all),
        );
      }),
    );

  command
    .command('show <id>')
    .description('show an interface: mappings, recipients, format, schedule, watermark, last deliveries')
    .option('--history', 'also show who changed what, when')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes interface show 3 --history')
    .action(
      run(async (context, output, options: { history?: boolean }, idText: string) => {
        const iface = await context.store.get(parseId(idText));
        const deliveries = await context.ledger.list(iface.id, 5);
        const watermark = await context.ledger.chainWatermark(context.pool, iface.id);
        const schedule = await scheduleState(context, iface);
        const history = options.history ? await context.store.history(iface.id) : undefined;
        output.result(
          {
            ...interfaceJson(iface),
            watermark: (watermark ?? iface.startAt).toISOString(),
            schedule,
            lastDeliveries: deliveries.map(deliveryJson),
            history,
          },
          () =>
            [
              interfaceText(iface),
              `  watermark:  ${(watermark ?? iface.startAt).toISOString()} (next window starts here)`,
              `  schedule:   ${schedule.text}`,
              '  last deliveries:',
              ...(deliveries.length
                ? deliveries.map((delivery) => '    ' + deliveryLine(delivery))
                : ['    none yet']),
              ...(history
                ? [
                    '  history:',
                    ...history.map(
                      (entry) =>
                        `    ${entry.at.toISOString()}  ${entry.actor}  ${entry.action}  ${JSON.stringify(entry.details)}`,
                    ),
                  ]
                : []),
            ].join('\n'),
        );
      }),
    );

  command
    .command('update <id>')
    .description('change an interface (only the options given)')
    .option('--name <name>', 'new name')
    .option('--email <address>', 'recipients, replacing the current ones (repeatable)', collect)
    .option('--no-email', 'stop delivering by email (another destination must remain)')
    .option('--every <duration>', 'interval between windows')
    .option('--lag <duration>', 'safety lag')
    .option('--timezone <zone>', 'IANA time zone of the file dates')
    .option('--format <file.json>', 'format specification')
    .option('--alert-email <address>', HELP.alertEmail)
    .option('--pgp-key <file>', HELP.pgpKey)
    .option('--no-alert-email', "send its alerts to BARCODES_ALERT_EMAIL again (the deployment's address)")
    .option('--no-pgp-key', 'stop encrypting: send plain files')
    .option(
      '--state-changes [states]',
      'also send state-change rows: every change, or only changes to these states (comma-separated); alone, back to every state',
    )
    .option('--no-state-changes', 'stop sending state-change rows: only new tickets')
    .option(
      '--sftp <url>',
      'deliver by SFTP: sftp://user@host[:port]/folder (with --sftp-key and --sftp-host-key)',
    )
    .option('--sftp-key <file>', 'private key the exporter logs in with (stored encrypted)')
    .option('--sftp-host-key <fingerprint>', "the server's pinned host key, SHA256:…")
    .option('--no-sftp', 'stop delivering by SFTP')
    .option('--https <url>', 'deliver by signed HTTPS POST (with --https-secret-file)')
    .option('--https-secret-file <file>', 'shared secret of the HMAC-SHA256 signature (stored encrypted)')
    .option('--no-https', 'stop delivering by HTTPS')
    .option('--actor <name>', 'who makes the change (default: OS user)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  barcodes interface update 3 --every 5m --email a@acme.example --email b@acme.example\n  barcodes interface update 3 --pgp-key acme-public.asc\n  barcodes interface update 3 --state-changes\n\nMappings change with `barcodes mapping add|remove`.',
    )
    .action(
      run(async (context, output, options: InterfaceOptions & { actor?: string }, idText: string) => {
        const id = parseId(idText);
        const actor = actorOf(options);
        const fields = await parseInterfaceOptions(options, context.config);
        if (fields.stateChanges) await warnWithoutChangeLog(context, output);
        const updated = await context.store.update(id, fields, actor);
        await applyToTemporal(context, output, id);
        output.result(interfaceJson(updated), () => interfaceText(updated));
      }),
    );

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    command
      .command(`${name} <id>`)
      .description(
        enabled
          ? 'resume an interface: its schedule continues from its watermark'
          : 'pause an interface: its schedule pauses, its watermark is kept',
      )
      .option('--actor <name>', 'who makes the change (default: OS user)')
      .option('--json', 'print JSON')
      .addHelpText('after', `\nExample:\n  barcodes interface ${name} 3`)
      .action(
        run(async (context, output, options: { actor?: string }, idText: string) => {
          const id = parseId(idText);
          const updated = await context.store.update(id, { enabled }, actorOf(options), name);
          await applyToTemporal(context, output, id);
          output.result(
            interfaceJson(updated),
            () => `interface ${updated.id} ${enabled ? 'enabled' : 'disabled'}`,
          );
        }),
      );
  }

  command
    .command('delete <id>')
    .description('delete an interface, its schedule and its delivery history')
    .option('--actor <name>', 'who makes the change (default: OS user)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  barcodes interface delete 3')
    .action(
      run(async (context, output, options: { actor?: string }, idText: string) => {
        const actor = actorOf(options);
        const iface = await context.store.get(parseId(idText));
        const pending = await context.ledger.pendingChainDelivery(context.pool, iface.id);
        if (pending) {
          throw new InputError(
            `interface ${iface.id} has a window in flight (delivery ${pending.id}, ${pending.status}): disable it and let the window finish first`,
          );
        }
        const schedule = await scheduleState(context, iface);
        if (schedule.running) {
          throw new InputError(
            `interface ${iface.id} has a run in progress (${schedule.lastWorkflowId}): disable it and let the run finish first`,
          );
        }
        await context.store.delete(iface.id, actor);
        await applyToTemporal(context, output, iface.id);
        output.result({ id: iface.id, deleted: true }, () => `interface ${iface.id} deleted`);
      }),
    );

  return command;
}

/** Warns (or, with --strict, refuses) when a mapped contact or channel is unknown in the source. */
export async function checkMappingsKnown(
  context: CommandContext,
  output: Output,
  contacts: string[],
  channels: string[],
  strict?: boolean,
) {
  for (const [kind, codes] of [
    ['contact', contacts],
    ['channel', channels],
  ] as const) {
    let unknown: string[];
    try {
      unknown = await context.source.unknownCodes(kind, codes);
    } catch (error) {
      if (strict) throw error;
      output.note(
        `warning: cannot check ${kind} codes against the ticket source: ${(error as Error).message}`,
      );
      continue;
    }
    if (unknown.length === 0) continue;
    const message = `--${kind}: unknown ${kind} ${unknown.map((code) => JSON.stringify(code)).join(', ')} in the ticket source`;
    if (strict) throw new InputError(message);
    output.note(`warning: ${message}`);
  }
}

/**
 * State changes need the change log in the ticket source (docs/state-changes.md): without it
 * every window of the interface fails. Said at once, as a warning: the operator may install the
 * log before the first window runs.
 */
async function warnWithoutChangeLog(context: CommandContext, output: Output) {
  try {
    const log = await checkChangeLog(context.sourcePool, context.config.ticketingSchema, {
      tryTrigger: false,
    });
    if (!log.table || !log.trigger) {
      output.note(
        `warning: --state-changes: the ticket source has no ${!log.table ? 'ticket_state_change table' : 'trigger writing ticket_state_change'}: windows of this interface fail until it is installed (docs/state-changes.md)`,
      );
    }
  } catch (error) {
    output.note(
      `warning: --state-changes: cannot check the ticket source for its change log: ${(error as Error).message}`,
    );
  }
}

function warnIfUnscheduled(output: Output, iface: ExportInterface) {
  const reason = unscheduledReason(iface);
  if (reason)
    output.note(
      `note: interface ${iface.id} is not scheduled: ${reason}: add one with \`barcodes mapping add ${iface.id} --contact C\``,
    );
}

/** The interface's schedule, asked of Temporal with a short connect timeout. */
function scheduleState(context: CommandContext, iface: ExportInterface) {
  return describeInterfaceSchedule(() => context.scheduleScope(3_000), iface.id);
}
