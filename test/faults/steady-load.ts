import type { FaultStack, ScenarioInterface } from './fault-stack';
import { SalesWriter, type SalesRecord } from './sales-writer';
import { randomSaleOver, waitForSentWindows } from './scenario';

/** A scenario's background: two scheduled interfaces with overlapping mappings, sales going on. */
export interface SteadyLoad {
  interfaces: ScenarioInterface[];
  writer: SalesWriter;
}

/** Windows every 2 and 3 s: an outage of N seconds spans many of them. */
const INTERVALS_SECONDS = [2, 3];

/** How long the schedules may take to send their first windows. */
const FIRST_WINDOWS_TIMEOUT_MILLIS = 60_000;

/**
 * Creates two interfaces (sharing the AGENCY channel), starts a modest sales simulator (short
 * transactions, a few held open for seconds, some rolled back), and waits until both deliver.
 */
export async function startSteadyLoad(stack: FaultStack): Promise<SteadyLoad> {
  const interfaces = [
    await stack.createInterface({
      label: 'web-agency',
      channels: ['WEB', 'AGENCY'],
      intervalSeconds: INTERVALS_SECONDS[0]!,
    }),
    await stack.createInterface({
      label: 'reseller',
      contacts: ['C-1001'],
      channels: ['AGENCY'],
      intervalSeconds: INTERVALS_SECONDS[1]!,
    }),
  ];
  const writer = new SalesWriter({
    pool: stack.salesPool,
    schema: stack.schema,
    nextSale: randomSaleOver([null, 'C-1001', 'C-2001'], ['WEB', 'AGENCY', 'BOX']),
    concurrency: 3,
    ordersPerTransaction: [1, 2],
    pauseMillis: [100, 400],
    longShare: 0.05,
    longHoldMillis: [1_000, 4_000],
    rollbackShare: 0.1,
  }).start();
  for (const iface of interfaces) await waitForSentWindows(stack, iface, 1, FIRST_WINDOWS_TIMEOUT_MILLIS);
  return { interfaces, writer };
}

/** Stops the sales and waits until every window covering them is sent. */
export async function finishSteadyLoad(
  stack: FaultStack,
  load: SteadyLoad,
  settleMillis: number,
): Promise<SalesRecord> {
  const sales = await load.writer.stop();
  await stack.settle(load.interfaces, settleMillis);
  return sales;
}
