/**
 * Records workflow histories for the replay test: runs real windows (a delivered one, an empty
 * one, a failed-then-resumed one, a backfill and a resend) through a real worker and writes each
 * history as JSON under test/fixtures/histories/ (binary protobuf). Run it after a deliberate workflow change that
 * is versioned by a new workflow input version, keeping the old files: they are what running schedules replay.
 *
 *   npm run build && node dist/test/support/record-histories.js <label> [workflow type]
 *
 * With a workflow type, only that type's histories are written (a change to one workflow records
 * its own fixtures without touching the others'). Every run of a workflow that continued as new
 * is written, each to its own file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { TestStack } from './stack';
import { insertSale } from '../../devstack/sales-simulator';
import { BACKFILL_INPUT_VERSION, type BackfillInput } from '../../workflows/boundary';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'histories');

async function main(label: string, onlyType: string | undefined) {
  const stack = await TestStack.start();
  try {
    await stack.startWorker();
    const iface = await stack.createInterface({ recipients: ['replay@reseller.test'], contacts: ['C-1001'] });
    const sell = () =>
      insertSale(stack.pool, stack.config.ticketingSchema, {
        contactNumber: 'C-1001',
        salesChannelCode: 'WEB',
        ticketCount: 2,
      });
    const workflowIds: string[] = [];
    await sell();
    workflowIds.push((await stack.runNow(iface.id)).workflowId);
    workflowIds.push((await stack.runNow(iface.id)).workflowId);
    stack.sink.rejectRecipients(['replay@reseller.test']);
    await sell();
    await stack.runNow(iface.id).catch(() => {});
    stack.sink.rejectRecipients([]);
    workflowIds.push((await stack.runNow(iface.id)).workflowId);
    const deliveries = await stack.ledger.list(iface.id);
    const sent = deliveries.find((delivery) => delivery.status === 'sent')!;
    const backfill = await stack.client.workflow.execute('backfill', {
      workflowId: `record-backfill-${Date.now()}`,
      taskQueue: stack.config.taskQueue,
      args: [
        {
          interfaceId: iface.id,
          from: sent.windowStart.toISOString(),
          to: sent.windowEnd.toISOString(),
          windowMillis: 3_600_000,
        },
      ],
    });
    void backfill;
    // Version 2: three windows, two per run: a run that continues as new, and the one that finishes.
    const continued: BackfillInput = {
      interfaceId: iface.id,
      from: new Date(sent.windowEnd.getTime() - 3 * 60_000).toISOString(),
      to: sent.windowEnd.toISOString(),
      windowMillis: 60_000,
      version: BACKFILL_INPUT_VERSION,
      windowsPerRun: 2,
    };
    await stack.client.workflow.execute('backfill', {
      workflowId: `record-backfill-v2-${Date.now()}`,
      taskQueue: stack.config.taskQueue,
      args: [continued],
    });
    await stack.client.workflow.execute('resend', {
      workflowId: `record-resend-${Date.now()}`,
      taskQueue: stack.config.taskQueue,
      args: [{ deliveryId: sent.id }],
    });
    const all: { workflowId: string; runId: string }[] = [];
    for await (const execution of stack.client.workflow.list())
      all.push({ workflowId: execution.workflowId, runId: execution.runId });
    fs.mkdirSync(FIXTURES, { recursive: true });
    for (const [index, { workflowId, runId }] of all.entries()) {
      const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
      const type =
        history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'workflow';
      if (onlyType && type !== onlyType) continue;
      // Binary protobuf: exact, and independent of JSON conventions between SDK packages.
      const file = path.join(FIXTURES, `${label}-${type}-${index}.history.pb`);
      fs.writeFileSync(file, temporal.api.history.v1.History.encode(history).finish());
      process.stdout.write(`recorded ${file}\n`);
    }
  } finally {
    await stack.close();
  }
}

main(process.argv[2] ?? 'v1', process.argv[3]).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
