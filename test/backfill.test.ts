import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { TestStack } from './support/stack';
import { deliveredBarCodes, filesFor } from './support/mail';
import { barcodes, cliEnv } from './support/cli';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';
import { followBackfillProgress } from '../client/backfill-progress';
import { MAX_BACKFILL_WINDOWS } from '../workflows/backfill-windows';
import type { RunningWorker } from '../worker/worker';
import {
  BACKFILL_INPUT_VERSION,
  FailureTypes,
  InterfaceIdKey,
  type BackfillProgress,
} from '../workflows/boundary';

let stack: TestStack;
let env: NodeJS.ProcessEnv;

before(async () => {
  stack = await TestStack.start();
  env = cliEnv(stack.config);
});
after(async () => {
  await stack?.close();
});

const MINUTE = 60_000;
const sorted = (values: string[]) => [...values].sort();

/** Sells tickets whose created_at lies in the past, committed as one transaction (no window sees them half-moved). */
async function sellAt(contactNumber: string, createdAt: Date, ticketCount: number): Promise<SoldTicket[]> {
  const client = await stack.pool.connect();
  try {
    await client.query('BEGIN');
    const sold = await insertSale(client, stack.config.ticketingSchema, {
      contactNumber,
      salesChannelCode: 'WEB',
      ticketCount,
    });
    await client.query(
      `UPDATE ${stack.config.ticketingSchema}.ticket SET created_at = $2 WHERE id = ANY($1::bigint[])`,
      [sold.map((ticket) => ticket.id), createdAt],
    );
    await client.query('COMMIT');
    return sold;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMillis: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a backfill over many continue-as-new runs delivers every window exactly once, through a worker restart, with progress over the whole backfill', async () => {
  const recipient = 'long-backfill@reseller.test';
  // Disabled: only the backfill delivers to this recipient.
  const iface = await stack.createInterface({
    recipients: [recipient],
    contacts: ['C-1002'],
    intervalSeconds: 60,
    enabled: false,
  });
  const windowsTotal = 60;
  const windowsPerRun = 5;
  const from = new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 3 * 60 * MINUTE);
  const to = new Date(from.getTime() + windowsTotal * MINUTE);
  // Tickets in the first and last window, on both sides of run boundaries (every 5th window), and inside runs.
  const ticketWindows = [0, 4, 5, 9, 10, 17, 31, 44, 45, 59];
  const sold: SoldTicket[] = [];
  for (const index of ticketWindows)
    sold.push(
      ...(await sellAt('C-1002', new Date(from.getTime() + index * MINUTE + 10_000), 1 + (index % 3))),
    );

  let worker: RunningWorker = await stack.startWorker();
  let workflowId = '';
  const observed: BackfillProgress[] = [];
  let stopFollowing = () => {};
  const cli = barcodes(
    [
      'backfill',
      String(iface.id),
      '--from',
      from.toISOString(),
      '--to',
      to.toISOString(),
      '--windows-per-run',
      String(windowsPerRun),
      '--json',
    ],
    env,
    (stderr) => {
      const started = /^backfill (\S+): /m.exec(stderr);
      if (!started || workflowId) return;
      workflowId = started[1]!;
      // What the CLI's progress bar draws, asked the way the CLI asks it.
      stopFollowing = followBackfillProgress(
        stack.client.workflow.getHandle(workflowId),
        (progress) => observed.push(progress),
        50,
      );
    },
  );

  // Restart the worker in the middle, in a later run than the first.
  await until(
    () => observed.some((progress) => progress.windowsDone >= 2 * windowsPerRun + 1),
    60_000,
    'the backfill to pass its second run',
  );
  await worker.shutdown();
  const doneBeforeRestart = (await stack.ledger.byWorkflow(workflowId)).length;
  assert.ok(
    doneBeforeRestart < windowsTotal,
    `the worker stopped in the middle (${doneBeforeRestart} of ${windowsTotal} windows done)`,
  );
  const lastAnswerBeforeRestart = observed.at(-1)!.windowsDone;
  worker = await stack.startWorker();

  const ran = await cli;
  stopFollowing();
  assert.equal(ran.code, 0, ran.stderr);
  const result = JSON.parse(ran.stdout);
  const expectedRuns = Math.ceil(windowsTotal / windowsPerRun);
  assert.equal(
    result.runs,
    expectedRuns,
    'the backfill continued as new every 5 windows, and the CLI got the last run’s result',
  );
  assert.equal(result.windowsDone, windowsTotal);
  assert.equal(result.windowsTotal, windowsTotal);
  assert.equal(result.ticketsDelivered, sold.length);
  assert.equal(result.windowsSent, ticketWindows.length);
  assert.equal(result.deliveries.length, windowsTotal, 'the CLI lists every delivery, from the ledger');

  // Every window exactly once in the ledger, in order, without gap or overlap.
  const deliveries = await stack.ledger.byWorkflow(workflowId);
  assert.deepEqual(
    deliveries.map((delivery) => [
      delivery.windowStart.toISOString(),
      delivery.windowEnd.toISOString(),
      delivery.kind,
    ]),
    Array.from({ length: windowsTotal }, (_, index) => [
      new Date(from.getTime() + index * MINUTE).toISOString(),
      new Date(from.getTime() + (index + 1) * MINUTE).toISOString(),
      'backfill',
    ]),
  );
  assert.deepEqual(
    deliveries
      .filter((delivery) => delivery.status === 'sent')
      .map((delivery) => (delivery.windowStart.getTime() - from.getTime()) / MINUTE),
    ticketWindows,
  );
  // Every ticket exactly once at the reseller, one email per window with tickets.
  const files = filesFor(stack.sink, recipient);
  assert.equal(files.length, ticketWindows.length);
  assert.equal(
    new Set(files.map((file) => file.mail.parsed.messageId)).size,
    ticketWindows.length,
    'no email twice',
  );
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, recipient)),
    sorted(sold.map((ticket) => ticket.barCode)),
  );

  // The progress query answered for the whole backfill in every run, never restarting at zero.
  assert.ok(observed.length > 0);
  assert.ok(observed.every((progress) => progress.windowsTotal === windowsTotal));
  for (let index = 1; index < observed.length; index++) {
    assert.ok(
      observed[index]!.windowsDone >= observed[index - 1]!.windowsDone,
      `progress went back: ${JSON.stringify(observed)}`,
    );
  }
  assert.ok(
    observed.some((progress) => progress.windowsDone > lastAnswerBeforeRestart),
    'answers after the restart carry on from before it',
  );

  // The later runs keep the interface's search attribute: operators still find the whole backfill.
  const handle = stack.client.workflow.getHandle(workflowId);
  const lastRun = await handle.describe();
  const firstRunId = lastRun.raw.workflowExecutionInfo?.firstRunId;
  assert.ok(firstRunId, 'Temporal names the first run of the chain');
  assert.notEqual(lastRun.runId, firstRunId, 'the handle’s latest run is a continued one');
  assert.equal(lastRun.typedSearchAttributes.get(InterfaceIdKey), String(iface.id));
  // The workflow's own result stays small whatever the range: counts, no list of windows.
  assert.deepEqual(Object.keys(await handle.result()).sort(), [
    'interfaceId',
    'runs',
    'ticketsDelivered',
    'windowsDone',
    'windowsSent',
    'windowsTotal',
  ]);
});

test('a range too long is refused up front, by the CLI and by the workflow, without building its windows', async () => {
  const iface = await stack.createInterface({
    recipients: ['typo@reseller.test'],
    contacts: ['C-2001'],
    intervalSeconds: 900,
    enabled: false,
  });
  const to = new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE);

  // 1970-01-01 at 15 minutes: about 2 million windows (the earliest time the CLI takes; the workflow
  // below gets 0001-01-01, 71 million). Counting them costs nothing; listing them would not.
  const typo = await barcodes(
    ['backfill', String(iface.id), '--from', '1970-01-01T00:00:00Z', '--to', to.toISOString()],
    env,
  );
  assert.equal(typo.code, 2, typo.stderr);
  assert.equal(typo.stderr.trimEnd().split('\n').length, 1, typo.stderr);
  assert.match(
    typo.stderr,
    /--from\/--to: 1970-01-01T00:00:00.000Z \.\. \S+ holds \d{7} windows of 900s, more than the 10000/,
  );

  // One window over the limit is refused, the limit itself is not (90 days at 15 minutes fit).
  const overLimit = await barcodes(
    [
      'backfill',
      String(iface.id),
      '--from',
      new Date(to.getTime() - (MAX_BACKFILL_WINDOWS + 1) * 15 * MINUTE).toISOString(),
      '--to',
      to.toISOString(),
    ],
    env,
  );
  assert.equal(overLimit.code, 2, overLimit.stderr);
  assert.match(overLimit.stderr, new RegExp(`holds ${MAX_BACKFILL_WINDOWS + 1} windows`));
  assert.ok(MAX_BACKFILL_WINDOWS >= 90 * 24 * 4, 'a 90-day backfill at 15 minutes is accepted');
  assert.deepEqual(await stack.ledger.list(iface.id), [], 'nothing started');

  // A workflow started by other means checks the same bound before building anything.
  await stack.startWorker();
  for (const version of [undefined, BACKFILL_INPUT_VERSION]) {
    const failed = await stack.client.workflow
      .execute('backfill', {
        workflowId: `too-long-backfill-${version}-${Date.now()}`,
        taskQueue: stack.config.taskQueue,
        args: [
          {
            interfaceId: iface.id,
            from: '0001-01-01T00:00:00Z',
            to: to.toISOString(),
            windowMillis: 900_000,
            ...(version ? { version } : {}),
          },
        ],
      })
      .then(
        () => assert.fail('accepted'),
        (error: unknown) => error,
      );
    assert.ok(failed instanceof WorkflowFailedError, String(failed));
    const cause = failed.cause as { type?: string; message: string };
    assert.equal(cause.type, FailureTypes.invalidBackfillRange, cause.message);
    assert.match(cause.message, /more than the 10000/);
  }
});
