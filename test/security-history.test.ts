import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { TestStack, workflowBundle } from './support/stack';
import { dumpTemporal, occurrences } from './support/history-dump';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';
import { startWorker } from '../worker/worker';
import { withCredentials } from './support/credentials';

// Credentials the worker really uses: PostgreSQL here trusts loopback connections and ignores the
// password; the development SMTP sink advertises AUTH PLAIN/LOGIN and accepts any password, so
// nodemailer authenticates with this one on every message (235 Authentication successful).
const DB_PASSWORD = `db-pw-${randomBytes(8).toString('hex')}`;
const SMTP_USER = 'barcodes-relay-user';
const SMTP_PASSWORD = `smtp-pw-${randomBytes(8).toString('hex')}`;

let stack: TestStack;

before(async () => {
  stack = await TestStack.start();
  const databaseUrl = withCredentials(
    stack.config.databaseUrl,
    new URL(stack.config.databaseUrl).username || 'postgres',
    DB_PASSWORD,
  );
  const config = {
    ...stack.config,
    databaseUrl,
    sourceDatabaseUrl: databaseUrl,
    smtpUrl: withCredentials(stack.sink.url, SMTP_USER, SMTP_PASSWORD),
  };
  stack.workers.push(await startWorker(config, { workflowBundle: await workflowBundle() }));
});
after(async () => {
  await stack?.close();
});

async function sell(
  contactNumber: string | null,
  salesChannelCode: string,
  ticketCount: number,
): Promise<SoldTicket[]> {
  return insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber,
    salesChannelCode,
    ticketCount,
  });
}

/** Every line of every file the ledger stored for the interfaces (sent or not). */
async function storedFileLines(interfaceIds: number[]): Promise<string[]> {
  const lines: string[] = [];
  for (const interfaceId of interfaceIds) {
    for (const delivery of await stack.ledger.list(interfaceId)) {
      for (const part of await stack.ledger.parts(delivery.id)) {
        lines.push(...(await text(stack.ledger.readPart(delivery.id, part.index))).split(/\r?\n/));
      }
    }
  }
  return lines.filter((line) => line.trim().length > 0);
}

test('no barcode, file line or credential reaches Temporal, in sent and in failed windows', async () => {
  const a = await stack.createInterface({
    name: 'History check A',
    recipients: ['a@reseller-a.test'],
    contacts: ['C-1001'],
  });
  const b = await stack.createInterface({
    name: 'History check B',
    recipients: ['b@agency-b.test'],
    channels: ['AGENCY'],
  });
  const sold: SoldTicket[] = [];

  sold.push(...(await sell('C-1001', 'WEB', 3)), ...(await sell(null, 'AGENCY', 2)));
  const sent = await stack.runNow(a.id);
  assert.equal(sent.result.windows[0]?.status, 'sent');
  await stack.runNow(b.id);

  // A window the relay refuses for good: its failure travels through history too.
  sold.push(...(await sell('C-1001', 'BOX', 2)));
  stack.sink.setMode('permfail');
  await assert.rejects(stack.runNow(a.id), /mail sink in permfail mode/);
  stack.sink.setMode('accept');
  const resumed = await stack.runNow(a.id); // sends the frozen, failed window unchanged
  assert.ok(resumed.result.windows.some((window) => window.resumed && window.status === 'sent'));

  const barCodes = sold.map((ticket) => ticket.barCode);
  const fileLines = await storedFileLines([a.id, b.id]);
  assert.ok(fileLines.length > barCodes.length, 'the stored files were read (header and ticket lines)');
  assert.equal(stack.sink.messages.length, 3, 'A twice (the second after its failure), B once');

  const dump = await dumpTemporal(stack.client, {
    taskQueue: stack.config.taskQueue,
    scheduleIds: [a.id, b.id].map((id) => stack.scheduleId(id)),
  });
  assert.equal(dump.workflowIds.length, 4, 'every run was fetched');
  // The dump really shows payload contents, so the searches below could find a leak.
  assert.ok(
    dump.text.includes(`"windowEnd":"${sent.result.windowEnd}"`),
    'workflow results are readable in the dump',
  );
  assert.ok(dump.text.includes(`"interfaceId":${a.id}`), 'inputs are readable in the dump');
  assert.ok(dump.text.includes('mail sink in permfail mode'), 'the failure message is in the dump');

  assert.deepEqual(occurrences(dump.text, barCodes), [], 'barcodes in Temporal');
  assert.deepEqual(occurrences(dump.text, fileLines), [], 'file content lines in Temporal');
  assert.deepEqual(occurrences(dump.text, [DB_PASSWORD, SMTP_PASSWORD]), [], 'credentials in Temporal');
});
