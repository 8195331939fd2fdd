import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TestStack } from './support/stack';
import { barcodes, cliEnv } from './support/cli';
import { insertSale } from '../devstack/sales-simulator';
import { freePort } from '../devstack/ports';

let stack: TestStack;
let worker: ChildProcess;
let workerLog = '';
let metricsUrl: string;

before(async () => {
  stack = await TestStack.start();
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  // The real `barcodes worker` process, as an operator runs it.
  worker = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'barcodes.js'), 'worker'], {
    env: { ...cliEnv(stack.config), BARCODES_METRICS_ADDRESS: `127.0.0.1:${port}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  worker.stderr!.on('data', (chunk) => (workerLog += chunk));
  const deadline = Date.now() + 60_000;
  while (!workerLog.includes('worker polling')) {
    if (Date.now() > deadline || worker.exitCode !== null)
      throw new Error(`worker did not start: ${workerLog}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});
after(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  await stack?.close();
});

test('the worker logs JSON lines naming the interface and window, and exports per-interface metrics', async () => {
  const iface = await stack.createInterface({ recipients: ['metrics@reseller.test'], contacts: ['C-1001'] });
  await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: 'C-1001',
    salesChannelCode: 'WEB',
    ticketCount: 4,
  });
  const ran = await barcodes(['run', String(iface.id), '--json'], cliEnv(stack.config));
  assert.equal(ran.code, 0, ran.stderr);
  const delivery = JSON.parse(ran.stdout);

  const lines = workerLog
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const aboutWindow = lines.filter(
    (line) => line.message === 'window frozen' || line.message === 'delivery sent',
  );
  assert.equal(aboutWindow.length, 2, workerLog);
  for (const line of aboutWindow) {
    assert.equal(line.interfaceId, iface.id);
    assert.equal(line.windowStart, delivery.windowStart);
    assert.equal(line.windowEnd, delivery.windowEnd);
  }

  const metrics = await (await fetch(metricsUrl)).text();
  assert.match(
    metrics,
    new RegExp(`barcodes_deliveries[^\\n]*interface="${iface.id}"[^\\n]*status="sent"[^\\n]* 1`),
  );
  assert.match(metrics, new RegExp(`barcodes_tickets[^\\n]*interface="${iface.id}"[^\\n]* 4`));
  assert.match(metrics, /temporal_/, 'the SDK metrics are there too');
});

/** Every `barcodes_window_lag_seconds` sample of a scrape: its labels as written, and its value. */
async function scrapeWindowLag(): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(metricsUrl)).text();
  return [...text.matchAll(/^barcodes_window_lag_seconds(\{[^}]*\})? (\S+)$/gm)].map((match) => ({
    labels: match[1] ?? '',
    value: Number(match[2]),
  }));
}

function lagOf(samples: { labels: string; value: number }[], interfaceId: number): number[] {
  return samples
    .filter((sample) => sample.labels.includes(`interface="${interfaceId}"`))
    .map((sample) => sample.value);
}

test('the window lag is one series per interface, computed from the ledger, and grows while no window runs', async () => {
  const ran = await stack.createInterface({ recipients: ['lag@reseller.test'], contacts: ['C-1002'] });
  const run = await barcodes(['run', String(ran.id), '--json'], cliEnv(stack.config));
  assert.equal(run.code, 0, run.stderr);
  const windowEnd = Date.parse(JSON.parse(run.stdout).windowEnd);
  // Never ran: its lag counts from where its first window starts.
  const startAt = new Date(Date.now() - 600_000);
  const neverRan = await stack.createInterface({
    recipients: ['never@reseller.test'],
    contacts: ['C-2001'],
    startAt,
    enabled: false,
  });

  // The worker refreshes every 15 s: wait for a refresh that knows both interfaces.
  let first: { labels: string; value: number }[] = [];
  await waitFor(async () => {
    first = await scrapeWindowLag();
    return lagOf(first, ran.id).length > 0 && lagOf(first, neverRan.id).length > 0;
  }, 40_000);
  const firstScrapedAt = Date.now();
  for (const iface of [ran, neverRan]) {
    const series = first.filter((sample) => sample.labels.includes(`interface="${iface.id}"`));
    assert.equal(series.length, 1, `one series for interface ${iface.id}: ${JSON.stringify(series)}`);
    assert.equal(series[0]!.labels, `{interface="${iface.id}"}`, 'no activity type or task queue tags');
  }
  const [ranLag] = lagOf(first, ran.id);
  const [neverRanLag] = lagOf(first, neverRan.id);
  // Now minus the watermark, as of a refresh at most 15 s old.
  assert.ok(
    ranLag! <= (firstScrapedAt - windowEnd) / 1000 + 1 && ranLag! >= (firstScrapedAt - windowEnd) / 1000 - 17,
    `lag ${ranLag} vs watermark ${new Date(windowEnd).toISOString()}`,
  );
  assert.ok(
    neverRanLag! <= (firstScrapedAt - startAt.getTime()) / 1000 + 1 &&
      neverRanLag! >= (firstScrapedAt - startAt.getTime()) / 1000 - 17,
    `lag ${neverRanLag} vs start ${startAt.toISOString()}`,
  );

  // No window runs (hourly interval, one disabled): the lag grows by itself.
  const watermarkBefore = await stack.ledger.chainWatermark(stack.pool, ran.id);
  let later: { labels: string; value: number }[] = [];
  await waitFor(async () => {
    later = await scrapeWindowLag();
    return (lagOf(later, ran.id)[0] ?? 0) > ranLag! + 5;
  }, 40_000);
  assert.equal(
    (await stack.ledger.chainWatermark(stack.pool, ran.id))?.toISOString(),
    watermarkBefore?.toISOString(),
    'no window ran meanwhile',
  );
  assert.ok(lagOf(later, neverRan.id)[0]! > neverRanLag! + 5);
  assert.equal(lagOf(later, ran.id).length, 1);

  // A deleted interface stops reporting a number (the SDK's meter cannot remove a series).
  const deleted = await barcodes(['interface', 'delete', String(neverRan.id)], cliEnv(stack.config));
  assert.equal(deleted.code, 0, deleted.stderr);
  await waitFor(async () => lagOf(await scrapeWindowLag(), neverRan.id).every(Number.isNaN), 40_000);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(
        `condition not met within ${timeoutMillis} ms; window lag samples: ${JSON.stringify(await scrapeWindowLag())}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
