import { sleep } from '../../../devstack/log';
import { parseFormatSpec } from '../../../lib/format';
import type { FaultStack, ScenarioInterface } from '../fault-stack';
import { rowFrom } from '../report';
import { SalesWriter } from '../sales-writer';
import {
  byMode,
  describeSales,
  heldBackWindows,
  randomSaleOver,
  withFaultStack,
  type Scenario,
} from '../scenario';
import { checkStateChangeInterface, type StateChangeInterface } from '../state-change-checker';
import { StateChanger, type ChangeTransaction } from '../state-changer';

const SETTINGS = {
  quick: {
    writers: 3,
    changers: 3,
    writeMillis: 25_000,
    longHoldMillis: [2_500, 6_000] as [number, number],
    quietMillis: 2_000,
    settleMillis: 90_000,
  },
  full: {
    writers: 6,
    changers: 6,
    writeMillis: 150_000,
    longHoldMillis: [3_000, 30_000] as [number, number],
    quietMillis: 5_000,
    settleMillis: 300_000,
  },
};

/** Every interface of the scenario shows whether a row is new or a state change. */
const FORMAT = parseFormatSpec({ columns: ['BAR_CODE', 'TICKET_STATE', 'CHANGE'] }) as unknown as Record<
  string,
  unknown
>;

/**
 * State changes under concurrency: sales, cancellations, invalidations, controls and reprints
 * (some in transactions held open for seconds and committed after windows were read, some rolled
 * back) across interfaces with the option on (every state, or only cancellations and
 * invalidations), off, and on from a later start. The checker derives each window's rows from
 * the change log and the windows' bounds alone and compares them with what arrived per window.
 */
export const stateChanges: Scenario = {
  name: 'state-changes',
  summary:
    'cancellations, invalidations, reprints (late, rolled back) reach interfaces with state changes on once per window, never others',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'state-changes', salesConnections: 12 }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.startWorker('worker');
      const every = await stack.createInterface({
        label: 'every',
        contacts: ['C-1001'],
        intervalSeconds: 2,
        stateChanges: [],
        format: FORMAT,
      });
      const cancellations = await stack.createInterface({
        label: 'cancellations',
        channels: ['WEB'],
        intervalSeconds: 3,
        stateChanges: ['CANCELLED', 'INVALIDATED'],
        format: FORMAT,
      });
      const off = await stack.createInterface({
        label: 'off',
        contacts: ['C-1001'],
        channels: ['AGENCY'],
        intervalSeconds: 2,
        format: FORMAT,
      });
      const writer = new SalesWriter({
        pool: stack.salesPool,
        schema: stack.schema,
        nextSale: randomSaleOver(
          [null, 'C-1001', 'C-1002', 'C-2001'],
          ['WEB', 'BOX', 'AGENCY', 'RESELLER-WEB'],
        ),
        concurrency: settings.writers,
        ordersPerTransaction: [1, 2],
        pauseMillis: [50, 300],
        longShare: 0.05,
        longHoldMillis: settings.longHoldMillis,
        rollbackShare: 0.1,
      }).start();
      const changer: StateChanger = new StateChanger({
        pool: stack.salesPool,
        schema: stack.schema,
        tickets: () => [...writer.committedTickets(), ...changer.record.reprinted],
        concurrency: settings.changers,
        pauseMillis: [20, 150],
        longShare: 0.08,
        longHoldMillis: settings.longHoldMillis,
        rollbackShare: 0.15,
      });
      changer.start();
      // Halfway, an interface starts whose mappings match tickets sold (and changed) before it.
      await sleep(settings.writeMillis / 2);
      const late = await stack.createInterface({
        label: 'late',
        contacts: ['C-1002'],
        channels: ['BOX'],
        intervalSeconds: 2,
        stateChanges: [],
        format: FORMAT,
      });
      await sleep(settings.writeMillis / 2);
      const [sales, changes] = await Promise.all([writer.stop(), changer.stop()]);
      await sleep(settings.quietMillis);
      const interfaces = [every, cancellations, off, late];
      await stack.settle(interfaces, settings.settleMillis);

      const input = {
        pool: stack.stack.pool,
        ticketingSchema: stack.schema,
        exporterSchema: stack.stack.config.exporterSchema,
        sink: stack.sink,
        interfaces: [],
      };
      const withOption = (iface: ScenarioInterface, states: string[]): StateChangeInterface => ({
        ...iface,
        states,
      });
      const plain = await stack.check([off], sales);
      const accounts = [
        ...plain.accounts,
        await checkStateChangeInterface(input, withOption(every, [])),
        await checkStateChangeInterface(input, withOption(cancellations, ['CANCELLED', 'INVALIDATED'])),
        await checkStateChangeInterface(input, withOption(late, [])),
      ];
      const evidence = await gatherEvidence(stack, interfaces, late, changes.committed);
      const problems: string[] = [];
      // Evidence that the scenario exercised what it claims; without it it proves nothing.
      if (evidence.stateChangeRows === 0)
        problems.push('no state-change row was expected: the scenario changed nothing an interface holds');
      if (evidence.lateOvertaken === 0)
        problems.push(
          'no late state change committed after a window of an interface with the option on was read',
        );
      if (evidence.olderTicketsChangedForLate === 0)
        problems.push(`no ticket created before interface ${late.id}'s start changed state after it`);
      if (changes.rolledBack === 0) problems.push('no state change was rolled back');
      const byAction = Object.entries(countBy(changes.committed.map((change) => change.action)))
        .map(([action, count]) => `${count} ${action}`)
        .join(', ');
      return [
        rowFrom(
          'state changes',
          await stack.countRuns(interfaces),
          { accounts, sourceProblems: plain.sourceProblems },
          {
            problems,
            notes: [
              describeSales(sales),
              `state changes: ${changes.committed.length} committed (${byAction}; ${changes.committed.filter((change) => change.long).length} held open long), ${changes.rolledBack} rolled back, ${changes.failed} failed (lock timeouts)`,
              `${evidence.lateOvertaken} long state-changing transactions committed after a window of an interface with the option on was read; ${await heldBackWindows(stack, interfaces)} windows held back`,
              `rows expected: ${accounts.map((account) => `interface ${account.interfaceId} ${account.expected}`).join(', ')}; ${evidence.stateChangeRows} state-change rows delivered`,
              `${evidence.olderTicketsChangedForLate} tickets created before interface ${late.id} (late) started changed state after it: none may reach it`,
            ],
            durationMillis: Date.now() - startedAt,
          },
        ),
      ];
    }),
};

async function gatherEvidence(
  stack: FaultStack,
  interfaces: ScenarioInterface[],
  late: ScenarioInterface,
  changes: ChangeTransaction[],
) {
  const schema = stack.stack.config.exporterSchema;
  const source = stack.schema;
  const withOption = interfaces
    .filter((iface) => iface.recipient !== `off@state-changes.test`)
    .map((iface) => iface.id);
  let lateOvertaken = 0;
  for (const change of changes.filter((candidate) => candidate.long)) {
    const { rows } = await stack.stack.pool.query<{ frozen: number }>(
      `SELECT count(*)::int AS frozen FROM ${schema}.delivery WHERE interface_id = ANY($1) AND created_at > $2 AND created_at < $3`,
      [withOption, change.startedAt, change.committedAt],
    );
    if (rows[0]!.frozen > 0) lateOvertaken++;
  }
  const { rows: older } = await stack.stack.pool.query<{ count: number }>(
    `SELECT count(DISTINCT t.id)::int AS count FROM ${source}.ticket t JOIN ${source}.ticket_order o ON o.id = t.order_id
       JOIN ${source}.ticket_state_change c ON c.ticket_id = t.id
      WHERE t.created_at < $1 AND c.changed_at >= $1 AND (o.contact_number = ANY($2::text[]) OR o.sales_channel_code = ANY($3::text[]))`,
    [late.startAt, late.contacts, late.channels],
  );
  const stateChangeRows = stack.sink.messages
    .filter((mail) =>
      mail.envelope.to.some((address) =>
        withOption.some((id) => interfaces.find((iface) => iface.id === id)!.recipient === address),
      ),
    )
    .flatMap((mail) => mail.parsed.attachments.map((attachment) => attachment.content.toString('utf8')))
    .reduce((sum, text) => sum + (text.match(/;STATE_CHANGE$/gm)?.length ?? 0), 0);
  return { lateOvertaken, olderTicketsChangedForLate: older[0]!.count, stateChangeRows };
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
