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
    if (Date.now() > deadline || worker.exitCode !== null) throw new Error(`worker did not start: ${workerLog}`);
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
  await insertSale(stack.pool, stack.config.ticketingSchema, { contactNumber: 'C-1001', salesChannelCode: 'WEB', ticketCount: 4 });
  const ran = await barcodes(['run', String(iface.id), '--json'], cliEnv(stack.config));
  assert.equal(ran.code, 0, ran.stderr);
  const delivery = JSON.parse(ran.stdout);

  const lines = workerLog.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  const aboutWindow = lines.filter((line) => line.message === 'window frozen' || line.message === 'delivery sent');
  assert.equal(aboutWindow.length, 2, workerLog);
  for (const line of aboutWindow) {
    assert.equal(line.interfaceId, iface.id);
    assert.equal(line.windowStart, delivery.windowStart);
    assert.equal(line.windowEnd, delivery.windowEnd);
  }

  const metrics = await (await fetch(metricsUrl)).text();
  assert.match(metrics, new RegExp(`barcodes_deliveries[^\\n]*interface="${iface.id}"[^\\n]*status="sent"[^\\n]* 1`));
  assert.match(metrics, new RegExp(`barcodes_tickets[^\\n]*interface="${iface.id}"[^\\n]* 4`));
  assert.match(metrics, new RegExp(`barcodes_window_lag_seconds[^\\n]*interface="${iface.id}"`));
  assert.match(metrics, /temporal_/, 'the SDK metrics are there too');
});
