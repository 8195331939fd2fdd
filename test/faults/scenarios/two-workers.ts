import { sleep } from '../../../devstack/log';
import type { FaultPoint } from '../../../lib/fault-points';
import type { FaultStack } from '../fault-stack';
import { SalesWriter } from '../sales-writer';
import { byMode, randomSaleOver, scenarioRow, withFaultStack, type Scenario } from '../scenario';

const SETTINGS = {
  // Quick: one kill inside a freeze, the dead attempt reported to Temporal. Full: a kill inside a
  // freeze and one after SMTP accepted, each found by the heartbeat timeout while the survivor
  // carries on with the other interfaces.
  quick: {
    kills: ['after-render'] as FaultPoint[],
    reportDeadActivities: true,
    afterKillMillis: 8_000,
    settleMillis: 120_000,
  },
  full: {
    kills: ['after-render', 'after-smtp-accepted'] as FaultPoint[],
    reportDeadActivities: false,
    afterKillMillis: 75_000,
    settleMillis: 300_000,
  },
};

/**
 * Two worker processes on one task queue, three interfaces with overlapping mappings on short
 * intervals; one worker is killed in the middle of a run (at a fault point, so the kill lands
 * inside a run every time) while the other goes on.
 */
export const twoWorkers: Scenario = {
  name: 'two-workers',
  summary: 'two worker processes on one task queue, one SIGKILLed mid-run; still exactly once',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'two-workers' }, async (stack) => {
      const settings = byMode(context.mode, SETTINGS);
      const startedAt = Date.now();
      const interfaces = [
        await stack.createInterface({ label: 'web', channels: ['WEB'], intervalSeconds: 2 }),
        await stack.createInterface({
          label: 'reseller',
          contacts: ['C-1001'],
          channels: ['RESELLER-WEB'],
          intervalSeconds: 2,
        }),
        await stack.createInterface({
          label: 'agency',
          contacts: ['C-1001'],
          channels: ['AGENCY', 'WEB'],
          intervalSeconds: 3,
        }),
      ];
      const writer = new SalesWriter({
        pool: stack.salesPool,
        schema: stack.schema,
        nextSale: randomSaleOver([null, 'C-1001', 'C-2001'], ['WEB', 'RESELLER-WEB', 'AGENCY', 'BOX']),
        concurrency: 3,
        ordersPerTransaction: [1, 2],
        pauseMillis: [100, 400],
        longShare: 0.05,
        longHoldMillis: [1_000, 4_000],
        rollbackShare: 0.1,
      }).start();
      await stack.startWorker('survivor');
      const notes: string[] = [];
      for (const point of settings.kills)
        notes.push(await killOneMidRun(stack, point, settings.reportDeadActivities));
      await sleep(settings.afterKillMillis);
      const sales = await writer.stop();
      await stack.settle(interfaces, settings.settleMillis);
      return [await scenarioRow(stack, 'two workers, one killed', interfaces, startedAt, { sales, notes })];
    }),
};

/** Starts a second worker that stops at the point, waits until a run gets there, kills it. */
async function killOneMidRun(
  stack: FaultStack,
  point: FaultPoint,
  reportDeadActivities: boolean,
): Promise<string> {
  const marker = stack.markerFile(`second-${point}`);
  const second = await stack.startWorker(`second-stops-${point}`, { stopAt: point, marker });
  await stack.waitForMarker(marker);
  await second.kill();
  const inFlight = reportDeadActivities
    ? await stack.failActivitiesOf(second)
    : (await stack.activitiesOf(second)).length;
  // Every run that reached the point on that worker stopped there, so a kill can catch several.
  return (
    `second worker killed at ${point} with ${inFlight} activities stopped there, while the survivor kept running` +
    (reportDeadActivities ? ' (reported to Temporal as failed)' : ' (found by the heartbeat timeout)')
  );
}
