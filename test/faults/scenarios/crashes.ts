import { insertSale } from '../../../devstack/sales-simulator';
import type { FaultPoint } from '../../../lib/fault-points';
import type { FaultStack, ScenarioInterface } from '../fault-stack';
import type { ScenarioRow } from '../report';
import {
  byMode,
  scenarioRow,
  withFaultStack,
  type Scenario,
  type ScenarioContext,
  type SuiteMode,
} from '../scenario';

/** Where a worker is killed: a fault point of lib/fault-points.ts, or inside the SMTP conversation. */
type CrashPoint = FaultPoint | 'smtp-in-flight';

const CRASH_POINTS: Record<SuiteMode, CrashPoint[]> = {
  quick: ['after-render', 'after-smtp-accepted', 'smtp-in-flight'],
  full: ['before-select', 'after-render', 'before-smtp', 'after-smtp-accepted', 'smtp-in-flight'],
};

const SETTINGS = {
  // The quick suite reports the killed worker's activity as failed; the full one waits for
  // Temporal's heartbeat timeout (20 s, workflows/activities.ts) and the retry policy, as production does.
  quick: { reportDeadActivities: true, runTimeoutMillis: 90_000 },
  full: { reportDeadActivities: false, runTimeoutMillis: 300_000 },
};

/** Where the bystander's tickets are sold: it shares them with every crash case's interface. */
const SHARED_CONTACT = 'C-1002';

/**
 * Crashes: for each point of a window's life, a worker process is SIGKILLed exactly there and a
 * fresh one takes over. One interface per case (a channel of its own), plus a bystander interface
 * that shares some of their tickets, so a leak or a double delivery across interfaces shows too.
 */
export const crashes: Scenario = {
  name: 'crashes',
  summary:
    'a worker SIGKILLed at each step of a run (and during SMTP) loses nothing, never sends a window as two files',
  quick: true,
  run: (context) =>
    withFaultStack(context, { name: 'crashes' }, async (stack) => {
      const points = CRASH_POINTS[context.mode];
      await stack.addSalesChannels(points.map(channelOf));
      const bystander = await stack.createInterface({
        label: 'bystander',
        contacts: [SHARED_CONTACT],
        intervalSeconds: 3600,
      });
      const rows: ScenarioRow[] = [];
      const cases: {
        point: CrashPoint;
        iface: ScenarioInterface;
        durationMillis: number;
        notes: string[];
      }[] = [];
      for (const point of points) {
        const startedAt = Date.now();
        const iface = await stack.createInterface({
          label: point,
          channels: [channelOf(point)],
          intervalSeconds: 3600,
        });
        const notes = await crashOnce(stack, context, point, iface);
        cases.push({ point, iface, notes, durationMillis: Date.now() - startedAt });
      }
      const settleStartedAt = Date.now();
      const worker = await stack.startWorker('settle');
      await stack.settle(
        [bystander, ...cases.map((entry) => entry.iface)],
        byMode(context.mode, SETTINGS).runTimeoutMillis,
      );
      await worker.stop();
      for (const entry of cases) {
        const row = await scenarioRow(stack, `crash ${entry.point}`, [entry.iface], 0, {
          notes: entry.notes,
          durationMillis: entry.durationMillis,
        });
        rows.push({ ...row, notes: [...row.notes, ...duplicateEmailNote(entry.point, row.duplicateEmails)] });
      }
      rows.push(await scenarioRow(stack, 'crash bystander', [bystander], settleStartedAt));
      return rows;
    }),
};

/**
 * One case: a worker that stops at the point (or an SMTP server that never answers), SIGKILL, a
 * fresh worker, and the run finishes; then a second window shows the chain goes on.
 */
async function crashOnce(
  stack: FaultStack,
  context: ScenarioContext,
  point: CrashPoint,
  iface: ScenarioInterface,
): Promise<string[]> {
  const settings = byMode(context.mode, SETTINGS);
  await sellForCase(stack, point);
  const inFlight = point === 'smtp-in-flight';
  const marker = stack.markerFile(point);
  const doomed = inFlight
    ? await stack.startWorker('doomed')
    : await stack.startWorker(`stops-${point}`, { stopAt: point, marker });
  if (inFlight) stack.sink.setMode('hang');
  const run = stack.stack.runNow(iface.id, settings.runTimeoutMillis);
  run.catch(() => {}); // awaited below; this keeps a failure during the crash from going unhandled
  if (inFlight) await stack.waitForHangingMessage();
  else await stack.waitForMarker(marker);
  await doomed.kill();
  if (inFlight) stack.sink.setMode('accept');
  const killedAt = Date.now();
  const successor = await stack.startWorker('successor');
  const reported = settings.reportDeadActivities ? await stack.failActivitiesOf(doomed) : 0;
  const first = await run;
  const recoveredSeconds = Math.round((Date.now() - killedAt) / 1000);
  await sellForCase(stack, point);
  const second = await stack.stack.runNow(iface.id, settings.runTimeoutMillis);
  await successor.stop();
  const windows = [...first.result.windows, ...second.result.windows].filter(
    (window) => window.status === 'sent',
  ).length;
  return [
    `killed at ${point}; the run finished ${recoveredSeconds} s after the kill` +
      (settings.reportDeadActivities
        ? ` (${reported} dead activity attempt(s) reported to Temporal as failed)`
        : ' (found by the heartbeat timeout)') +
      `; ${windows} windows sent by the two runs`,
  ];
}

/** Tickets of one case: its own channel (anonymous and shared with the bystander), and nobody's. */
async function sellForCase(stack: FaultStack, point: CrashPoint): Promise<void> {
  await insertSale(stack.salesPool, stack.schema, {
    contactNumber: null,
    salesChannelCode: channelOf(point),
    ticketCount: 3,
  });
  await insertSale(stack.salesPool, stack.schema, {
    contactNumber: SHARED_CONTACT,
    salesChannelCode: channelOf(point),
    ticketCount: 2,
  });
  await insertSale(stack.salesPool, stack.schema, {
    contactNumber: 'C-2001',
    salesChannelCode: 'BOX',
    ticketCount: 1,
  });
}

function channelOf(point: CrashPoint): string {
  return `CRASH-${point.toUpperCase()}`;
}

/** SMTP accepted, then the worker died before recording it: the retry repeats the identical email. */
function duplicateEmailNote(point: CrashPoint, duplicateEmails: number): string[] {
  if (point === 'after-smtp-accepted') {
    return [
      `${duplicateEmails} duplicate email (same Message-ID, identical attachment) after 1 crash between SMTP acceptance and its record`,
    ];
  }
  return duplicateEmails > 0 ? [`${duplicateEmails} duplicate emails where none was expected`] : [];
}
