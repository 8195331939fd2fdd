import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStack } from './support/stack';
import { deliveredBarCodes } from './support/mail';
import { insertSale } from '../devstack/sales-simulator';
import pg from 'pg';

// What one run costs Temporal: history events of an ordinary window (one email destination, one
// part, some tickets) and of an empty one. Counts, not times: they do not flake on a busy machine.

const MAX_EVENTS_ORDINARY_WINDOW = 12;

let stack: TestStack;

before(async () => {
  stack = await TestStack.start();
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
});

async function historyEvents(workflowId: string): Promise<string[]> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).map((event) => String(event.eventType));
}

test(`an ordinary window costs at most ${MAX_EVENTS_ORDINARY_WINDOW} history events and still shows its window, count and status`, async () => {
  const iface = await stack.createInterface({ recipients: ['cost@reseller.test'], contacts: ['C-1001'] });
  const sold = await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: 'C-1001',
    salesChannelCode: 'WEB',
    ticketCount: 3,
  });
  const queries = countQueries();
  const { workflowId, result } = await stack.runNow(iface.id);
  const queryCount = queries.stop();
  assert.equal(result.windows.length, 1);
  assert.deepEqual(
    deliveredBarCodes(stack.sink, 'cost@reseller.test').sort(),
    sold.map((ticket) => ticket.barCode).sort(),
  );
  const events = await historyEvents(workflowId);
  assert.ok(events.length <= MAX_EVENTS_ORDINARY_WINDOW, `${events.length} events: ${events.join(', ')}`);
  // For docs/performance.md (queries per window at 100,000 interfaces); printed, not asserted.
  process.stderr.write(
    `# run cost: ${events.length} history events, ${queryCount} PostgreSQL statements (worker and test client together)\n`,
  );
  const description = await stack.client.workflow.getHandle(workflowId).describe();
  const attributes = Object.fromEntries(
    description.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value]),
  );
  assert.equal(attributes.BarcodesDeliveryStatus, 'sent');
  assert.equal(attributes.BarcodesTicketCount, 3);
  assert.equal(attributes.BarcodesInterfaceId, String(iface.id));

  // An empty window is recorded in the ledger (the lag follows it) and costs no more.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const empty = await stack.runNow(iface.id);
  const emptyEvents = await historyEvents(empty.workflowId);
  process.stderr.write(`# run cost of an empty window: ${emptyEvents.length} history events\n`);
  assert.ok(
    emptyEvents.length <= MAX_EVENTS_ORDINARY_WINDOW,
    `${emptyEvents.length} events: ${emptyEvents.join(', ')}`,
  );
  const [latest] = await stack.ledger.list(iface.id, 1);
  assert.equal(latest?.status, 'empty');
  assert.equal(latest?.windowEnd.toISOString(), empty.result.windowEnd);
});

test('a run that fails after freezing marks the window it held failed, and the next run sends it unchanged', async () => {
  const iface = await stack.createInterface({ recipients: ['held@reseller.test'], contacts: ['C-1002'] });
  const sold = await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: 'C-1002',
    salesChannelCode: 'WEB',
    ticketCount: 2,
  });
  stack.sink.rejectRecipients(['held@reseller.test'], 550);
  await assert.rejects(stack.runNow(iface.id), /550|refused/i);
  stack.sink.rejectRecipients([]);
  const [failed] = await stack.ledger.list(iface.id, 1);
  assert.equal(failed?.status, 'failed', 'the window the run held is marked failed');
  assert.match(failed?.lastError ?? '', /SmtpPermanentFailure/);
  // The failed run shows that window in the UI beside its status, as a delivered one does.
  const shown = await failedRunAttributes(iface.id);
  assert.equal(shown.BarcodesDeliveryStatus, 'failed');
  assert.equal((shown.BarcodesWindowEnd as Date | undefined)?.toISOString(), failed!.windowEnd.toISOString());
  assert.equal(shown.BarcodesTicketCount, 2);
  await stack.runNow(iface.id);
  const [sent] = await stack.ledger
    .list(iface.id, 2)
    .then((deliveries) => deliveries.filter((delivery) => delivery.id === failed!.id));
  assert.equal(sent?.status, 'sent');
  assert.deepEqual(
    deliveredBarCodes(stack.sink, 'held@reseller.test').sort(),
    sold.map((ticket) => ticket.barCode).sort(),
  );
});

/** Counts statements sent by every pg client of this process (the worker runs in it) until stopped. */
function countQueries(): { stop(): number } {
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  let count = 0;
  prototype.query = function (this: unknown, ...args: unknown[]) {
    count++;
    return original.apply(this, args);
  };
  return {
    stop() {
      prototype.query = original;
      return count;
    },
  };
}

/** The search attributes of the interface's failed run, once visibility lists it. */
async function failedRunAttributes(interfaceId: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    for await (const execution of stack.client.workflow.list({
      query: `BarcodesInterfaceId = "${interfaceId}" AND BarcodesDeliveryStatus = "failed"`,
    })) {
      if (execution.status.name === 'FAILED')
        return Object.fromEntries(
          execution.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value]),
        );
    }
    if (Date.now() > deadline) throw new Error(`no failed run of interface ${interfaceId} is listed`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
