import { sleep } from '../../../devstack/log';
import type { FaultStack, ScenarioInterface } from '../fault-stack';
import { SalesWriter, type CommittedTransaction } from '../sales-writer';
import {
  byMode,
  heldBackWindows,
  randomSaleOver,
  scenarioRow,
  withFaultStack,
  type Scenario,
} from '../scenario';

const SETTINGS = {
  quick: {
    writers: 4,
    writeMillis: 20_000,
    lateTransactions: 4,
    lateHoldMillis: [4_000, 9_000] as [number, number],
    settleMillis: 60_000,
  },
  full: {
    writers: 8,
    writeMillis: 120_000,
    lateTransactions: 10,
    lateHoldMillis: [15_000, 45_000] as [number, number],
    settleMillis: 180_000,
  },
};

/**
 * Late transactions that begin within one second and commit one after the other, several
 * intervals apart: each holds a window end in turn, so windows shorter than a second follow
 * each other (their files and Message-IDs must still be distinct).
 */
const SAME_SECOND_BURST = { transactions: 3, startSpacingMillis: 200, commitSpacingMillis: 5_000 };

/**
 * Late commits: transactions that begin inside a window and commit after that window was read
 * (seconds in the quick suite, tens of seconds in the full one), among many concurrent short
 * writers, with windows every 2 and 3 seconds and no safety lag.
 */
export const lateCommits: Scenario = {
  name: 'late-commits',
  summary: 'tickets whose transaction commits after their window was read arrive once, later',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'late-commits', salesConnections: 16 }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.startWorker('worker');
      const web = await stack.createInterface({ label: 'web', channels: ['WEB'], intervalSeconds: 2 });
      const reseller = await stack.createInterface({
        label: 'reseller',
        contacts: ['C-1001'],
        intervalSeconds: 3,
      });
      const interfaces = [web, reseller];
      const nextSale = randomSaleOver([null, 'C-1001', 'C-1002'], ['WEB', 'BOX', 'AGENCY']);
      const writer = new SalesWriter({
        pool: stack.salesPool,
        schema: stack.schema,
        nextSale,
        concurrency: settings.writers,
        ordersPerTransaction: [1, 2],
        pauseMillis: [50, 250],
        longShare: 0,
        longHoldMillis: [0, 0],
        rollbackShare: 0.1,
      }).start();
      // The burst first, its transactions the oldest open ones while it lasts (an older one would
      // hold every window and hide it); then late transactions spread over the writing time, each
      // matching both interfaces.
      await sleep(1000 - (Date.now() % 1000));
      const burst = sameSecondBurst(writer);
      await sleep(SAME_SECOND_BURST.transactions * SAME_SECOND_BURST.startSpacingMillis);
      const spacingMillis = settings.writeMillis / settings.lateTransactions;
      const late = Array.from({ length: settings.lateTransactions }, async (_, index) => {
        await sleep(index * spacingMillis);
        const [min, max] = settings.lateHoldMillis;
        await writer.writeTransaction(
          [{ contactNumber: 'C-1001', salesChannelCode: 'WEB', ticketCount: 2 }],
          min + ((max - min) * index) / Math.max(1, settings.lateTransactions - 1),
        );
      });
      await sleep(settings.writeMillis);
      const sales = await writer.stop();
      const [burstTransactions] = await Promise.all([burst, ...late]);
      await stack.settle(interfaces, settings.settleMillis);
      const longOnes = sales.committed.filter((transaction) => transaction.long);
      const overtaken = await transactionsOvertakenByAWindow(stack, interfaces, longOnes);
      const burstHolding = await transactionsThatHeldAWindow(stack, interfaces, burstTransactions);
      const held = await heldBackWindows(stack, interfaces);
      const problems: string[] = [];
      // Evidence that the scenario did what it says; otherwise it proves nothing and must fail. (Not
      // every late transaction sees a window read while it is open: an older one may hold them all.)
      if (overtaken === 0)
        problems.push(
          `none of the ${longOnes.length} late transactions committed after a window of their interface was read`,
        );
      // Not a problem when 0: windows end on whole seconds, so a burst inside one second may hold
      // nothing new (the window is simply not due yet). Its note still says what happened.
      if (held === 0) problems.push('no window was held back by an open transaction');
      return [
        await scenarioRow(stack, 'late commits', interfaces, startedAt, {
          sales,
          problems,
          notes: [
            `${overtaken} of ${longOnes.length} late transactions (held open ${settings.lateHoldMillis[0] / 1000}-${settings.lateHoldMillis[1] / 1000} s) committed after a window of their interface was read`,
            `${SAME_SECOND_BURST.transactions} of them began within one second and committed ${SAME_SECOND_BURST.commitSpacingMillis / 1000} s apart; ${burstHolding} of those held a window back`,
            `${held} windows were held back by an open transaction`,
          ],
        }),
      ];
    }),
};

/**
 * Begins SAME_SECOND_BURST's transactions (call it right after a second begins, so they all begin
 * in that second); resolves with them once all have committed.
 */
async function sameSecondBurst(writer: SalesWriter): Promise<CommittedTransaction[]> {
  const { transactions, startSpacingMillis, commitSpacingMillis } = SAME_SECOND_BURST;
  const burst = Array.from({ length: transactions }, async (_, index) => {
    await sleep(index * startSpacingMillis);
    // Each one commits commitSpacingMillis after the previous one.
    const holdMillis = (index + 1) * commitSpacingMillis - index * startSpacingMillis;
    return writer.writeTransaction(
      [{ contactNumber: null, salesChannelCode: 'WEB', ticketCount: 1 }],
      holdMillis,
    );
  });
  return (await Promise.all(burst)).filter((transaction) => transaction !== undefined);
}

/** Transactions that the ledger names as having held back a window of these interfaces. */
async function transactionsThatHeldAWindow(
  stack: FaultStack,
  interfaces: ScenarioInterface[],
  transactions: CommittedTransaction[],
): Promise<number> {
  let holding = 0;
  for (const transaction of transactions) {
    // The ledger keeps the start to the millisecond; the simulator's copy went through a JS Date.
    const { rows } = await stack.stack.pool.query<{ held: number }>(
      `SELECT count(*)::int AS held FROM ${stack.stack.config.exporterSchema}.delivery
        WHERE interface_id = ANY($1) AND abs(extract(epoch FROM (held_back->>'transactionStart')::timestamptz - $2::timestamptz)) < 0.002`,
      [interfaces.map((iface) => iface.id), transaction.startedAt],
    );
    if (rows[0]!.held > 0) holding++;
  }
  return holding;
}

/** Late transactions during which at least one window of an interface they match was frozen. */
async function transactionsOvertakenByAWindow(
  stack: FaultStack,
  interfaces: ScenarioInterface[],
  transactions: CommittedTransaction[],
): Promise<number> {
  let overtaken = 0;
  for (const transaction of transactions) {
    const { rows } = await stack.stack.pool.query<{ frozen: number }>(
      `SELECT count(*)::int AS frozen FROM ${stack.stack.config.exporterSchema}.delivery
        WHERE interface_id = ANY($1) AND created_at > $2 AND created_at < $3`,
      [interfaces.map((iface) => iface.id), transaction.startedAt, transaction.committedAt],
    );
    if (rows[0]!.frozen > 0) overtaken++;
  }
  return overtaken;
}
