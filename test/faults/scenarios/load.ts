import { sleep } from '../../../devstack/log';
import { SalesWriter } from '../sales-writer';
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
    workers: 1,
    writers: 5,
    writeMillis: 25_000,
    longHoldMillis: [1_000, 6_000] as [number, number],
    quietMillis: 3_000,
    settleMillis: 120_000,
  },
  full: {
    workers: 2,
    writers: 8,
    writeMillis: 180_000,
    longHoldMillis: [2_000, 30_000] as [number, number],
    quietMillis: 5_000,
    settleMillis: 300_000,
  },
};

/** A channel no interface maps: its tickets belong to nobody. */
const UNMAPPED_CHANNEL = 'KIOSK';

/**
 * Concurrent load: a sales simulator writes continuously (many small transactions, some long,
 * some rolled back) for five interfaces with overlapping mappings whose windows run every 2 to
 * 5 seconds; then a quiet period, final runs, and the checker.
 */
export const concurrentLoad: Scenario = {
  name: 'load',
  summary:
    'continuous sales (short, long, rolled back) for 5 overlapping interfaces with windows every 2-5 s',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'load', salesConnections: 12 }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      await stack.addSalesChannels([UNMAPPED_CHANNEL]);
      for (let index = 0; index < settings.workers; index++) await stack.startWorker(`worker${index + 1}`);
      const interfaces = [
        await stack.createInterface({
          label: 'reseller',
          contacts: ['C-1001'],
          channels: ['RESELLER-WEB'],
          intervalSeconds: 2,
        }),
        await stack.createInterface({
          label: 'agency',
          channels: ['AGENCY', 'RESELLER-WEB'],
          intervalSeconds: 3,
        }),
        await stack.createInterface({
          label: 'partners',
          contacts: ['C-1001', 'C-1002'],
          intervalSeconds: 5,
        }),
        await stack.createInterface({ label: 'web', channels: ['WEB'], intervalSeconds: 2 }),
        await stack.createInterface({
          label: 'private',
          contacts: ['C-2001'],
          channels: ['BOX'],
          intervalSeconds: 4,
        }),
      ];
      const writer = new SalesWriter({
        pool: stack.salesPool,
        schema: stack.schema,
        nextSale: randomSaleOver(
          [null, 'C-1001', 'C-1002', 'C-2001'],
          ['WEB', 'BOX', 'RESELLER-WEB', 'AGENCY', UNMAPPED_CHANNEL],
        ),
        concurrency: settings.writers,
        ordersPerTransaction: [1, 3],
        pauseMillis: [20, 200],
        longShare: 0.05,
        longHoldMillis: settings.longHoldMillis,
        rollbackShare: 0.1,
      }).start();
      await sleep(settings.writeMillis);
      const sales = await writer.stop();
      await sleep(settings.quietMillis);
      await stack.settle(interfaces, settings.settleMillis);
      return [
        await scenarioRow(stack, 'concurrent load', interfaces, startedAt, {
          sales,
          notes: [
            `${settings.workers} worker(s), ${settings.writers} writer loops for ${settings.writeMillis / 1000} s; ${await heldBackWindows(stack, interfaces)} windows held back by open transactions`,
          ],
        }),
      ];
    }),
};
