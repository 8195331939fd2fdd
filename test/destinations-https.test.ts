import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestStack } from './support/stack';
import { HttpsReceiver } from './support/https-receiver';
import { insertSale } from '../devstack/sales-simulator';
import { parseDestinationOptions } from '../lib/destinations/options';
import { createHttpsSender, parseRetryAfter } from '../lib/destinations/https';
import { DestinationError } from '../lib/destinations/types';

const SECRETS_KEY = `k1:${randomBytes(32).toString('base64')}`;
const SECRET = randomBytes(32).toString('hex');
let stack: TestStack;
let receiver: HttpsReceiver;
let secretFile: string;

before(async () => {
  receiver = await HttpsReceiver.start(Buffer.from(SECRET));
  secretFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'barcodes-secret-')), 'secret');
  writeFileSync(secretFile, SECRET + '\n', { mode: 0o600 });
  stack = await TestStack.start({
    env: {
      BARCODES_SECRETS_KEY: SECRETS_KEY,
      BARCODES_HTTPS_CA_FILE: receiver.caFile,
      BARCODES_HTTPS_TIMEOUT: '2s',
    },
  });
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
  await receiver?.close();
});

function httpsDestination(url = receiver.url) {
  return parseDestinationOptions({ https: url, httpsSecretFile: secretFile }, stack.config.secretsKeyring);
}

async function storedBytes(deliveryId: number, part = 1): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stack.ledger.readPart(deliveryId, part)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function sellAndRun(channel: string, interfaceId: number) {
  await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: null,
    salesChannelCode: channel,
    ticketCount: 2,
  });
  return stack.runNow(interfaceId, 60_000);
}

test('a window is POSTed signed, byte for byte, with the part Message-ID as idempotency key', async () => {
  receiver.behaviour = {};
  const iface = await stack.createInterface({
    recipients: ['https-and-mail@reseller.test'],
    channels: ['WEB'],
    setDestinations: httpsDestination(),
  });
  const run = await sellAndRun('WEB', iface.id);
  const deliveryId = run.result.windows[0]!.deliveryId!;
  assert.equal(run.result.windows[0]!.status, 'sent');
  const [part] = await stack.ledger.parts(deliveryId);
  const posts = receiver.postsFor(part!.messageId);
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0]!.body, await storedBytes(deliveryId));
  assert.equal(posts[0]!.fileName, part!.fileName);
  assert.deepEqual(receiver.rejected, [], 'every signature verified');
  const results = await stack.ledger.destinationResults(deliveryId);
  assert.deepEqual(
    results.map((result) => [result.destination, result.status]),
    [['https', 'delivered']],
  );
});

test('a receiver that stored the body but timed out gets the same idempotency key and bytes again', async () => {
  const iface = await stack.createInterface({
    recipients: [],
    channels: ['BOX'],
    setDestinations: httpsDestination(),
  });
  receiver.behaviour = { stallAfterStoringMillis: 5_000, stallCount: 1 };
  const run = await sellAndRun('BOX', iface.id);
  const deliveryId = run.result.windows[0]!.deliveryId!;
  const [part] = await stack.ledger.parts(deliveryId);
  const posts = receiver.postsFor(part!.messageId);
  assert.equal(posts.length, 2, 'posted again after the timeout');
  assert.deepEqual(posts[1]!.body, posts[0]!.body);
  assert.equal(
    (await stack.store.get(iface.id)).consecutiveFailures,
    0,
    'a timeout does not count toward self-pause',
  );
});

test('4xx is permanent (alerted, counted; email still delivers); 503 with Retry-After is retried', async () => {
  const iface = await stack.createInterface({
    recipients: ['https-4xx@reseller.test'],
    channels: ['AGENCY'],
    setDestinations: httpsDestination(),
  });
  receiver.behaviour = { status: 422 };
  const run = await sellAndRun('AGENCY', iface.id);
  receiver.behaviour = {};
  const deliveryId = run.result.windows[0]!.deliveryId!;
  assert.equal(run.result.windows[0]!.status, 'sent', 'email delivered, the chain goes on');
  const results = await stack.ledger.destinationResults(deliveryId);
  assert.deepEqual(
    results.map((result) => [result.destination, result.status]),
    [['https', 'failed']],
  );
  assert.match(results[0]!.detail ?? '', /HTTP 422/);
  assert.equal((await stack.store.get(iface.id)).consecutiveFailures, 1);

  const onlyHttps = await stack.createInterface({
    recipients: [],
    channels: ['RESELLER-WEB'],
    setDestinations: httpsDestination(),
  });
  receiver.behaviour = { status: 503, retryAfterSeconds: 1 };
  setTimeout(() => (receiver.behaviour = {}), 1_500).unref();
  const retried = await sellAndRun('RESELLER-WEB', onlyHttps.id);
  assert.equal(retried.result.windows[0]!.status, 'sent');
  assert.equal((await stack.store.get(onlyHttps.id)).consecutiveFailures, 0);
});

test('doctor check: a signed dry run is accepted; a wrong secret is refused', async () => {
  const sender = createHttpsSender({ extraCaPem: readFileSync(receiver.caFile, 'utf8') });
  try {
    const before = receiver.dryRuns;
    assert.match(
      await sender.check({ kind: 'https', url: receiver.url, secret: Buffer.from(SECRET) }),
      /signature accepted/,
    );
    assert.equal(receiver.dryRuns, before + 1);
    await assert.rejects(
      sender.check({ kind: 'https', url: receiver.url, secret: Buffer.from('wrong'.repeat(8)) }),
      (error: unknown) => error instanceof DestinationError && error.permanent && /401/.test(error.message),
    );
  } finally {
    await sender.close();
  }
  assert.equal(parseRetryAfter('7'), 7000);
  assert.equal(parseRetryAfter(undefined), undefined);
});
