/**
 * State changes end to end: interfaces set up with the real `barcodes` executable, windows run
 * through their schedules by a worker, files read back from the SMTP server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestStack } from './support/stack';
import { filesFor } from './support/mail';
import { barcodes, cliEnv } from './support/cli';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';

let stack: TestStack;
let env: NodeJS.ProcessEnv;
const schema = () => stack.config.ticketingSchema;

before(async () => {
  stack = await TestStack.start();
  env = cliEnv(stack.config);
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
});

async function sell(count: number): Promise<SoldTicket[]> {
  const tickets = await insertSale(stack.pool, schema(), {
    contactNumber: 'C-1001',
    salesChannelCode: 'BOX',
    ticketCount: count,
  });
  await setState(tickets, 'PRINTED');
  return tickets;
}

async function setState(tickets: SoldTicket[], state: string): Promise<void> {
  await stack.pool.query(`UPDATE ${schema()}.ticket SET state = $2 WHERE id = ANY($1::bigint[])`, [
    tickets.map((ticket) => ticket.id),
    state,
  ]);
}

async function create(name: string, extra: string[]): Promise<{ id: number; stateChanges: string[] | null }> {
  const result = await barcodes(
    [
      'interface',
      'create',
      '--name',
      name,
      '--email',
      `${name}@reseller.test`,
      '--contact',
      'C-1001',
      '--lag',
      '0s',
      '--json',
      ...extra,
    ],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** The records of the files a recipient got, per file: [BAR_CODE, TICKET_STATE, CHANGE?, PREVIOUS_STATE?]. */
function received(name: string) {
  return filesFor(stack.sink, `${name}@reseller.test`).map((file) => file.records);
}

test('the option is set, shown, changed and refused through the command line', async () => {
  const created = await create('options', ['--state-changes', 'CANCELLED,INVALIDATED', '--disabled']);
  assert.deepEqual(created.stateChanges, ['CANCELLED', 'INVALIDATED']);
  const show = await barcodes(['interface', 'show', String(created.id)], env);
  assert.match(show.stdout, /state changes: changes to CANCELLED, INVALIDATED/);
  const every = await barcodes(['interface', 'update', String(created.id), '--state-changes', '--json'], env);
  assert.deepEqual(JSON.parse(every.stdout).stateChanges, [], '--state-changes alone: every state');
  const off = await barcodes(
    ['interface', 'update', String(created.id), '--no-state-changes', '--json'],
    env,
  );
  assert.equal(JSON.parse(off.stdout).stateChanges, null);
  const bad = await barcodes(['interface', 'update', String(created.id), '--state-changes', 'CANCELED'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--state-changes: unknown ticket state "CANCELED"/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
  const list = JSON.parse((await barcodes(['interface', 'list', '--json'], env)).stdout);
  assert.equal(list.find((iface: { id: number }) => iface.id === created.id).stateChanges, null);
  const history = await barcodes(['interface', 'show', String(created.id), '--history', '--json'], env);
  const audited = JSON.parse(history.stdout).history.map(
    (entry: { details: { stateChanges?: unknown } }) => entry.details.stateChanges,
  );
  assert.deepEqual(audited, [['CANCELLED', 'INVALIDATED'], [], null]);
  await sell(1); // a ticket to try the trigger on (in a rolled-back transaction)
  const doctor = await barcodes(['doctor', '--json'], env);
  const line = JSON.parse(doctor.stdout).find((entry: { name: string }) => entry.name === 'state changes');
  assert.equal(line.ok, true, line.detail);
  assert.match(line.detail, /trigger ticket_state_change_log .* fires/);
});

test('resellers with state changes on get each change once; those without get new tickets only', async () => {
  const formatFile = path.join(mkdtempSync(path.join(tmpdir(), 'barcodes-')), 'changes.json');
  writeFileSync(
    formatFile,
    JSON.stringify({
      columns: [
        'BAR_CODE',
        'TICKET_STATE',
        'CHANGE',
        'PREVIOUS_STATE',
        'CHANGED_AT',
        { constant: 'ACME', header: 'VENDOR' },
      ],
      trailer: true,
    }),
  );
  const every = await create('every', ['--state-changes', '--format', formatFile]);
  const cancelled = await create('cancelled', ['--state-changes', 'CANCELLED']);
  const plain = await create('plain', []);
  const runAll = async () => {
    for (const iface of [every, cancelled, plain]) await stack.runNow(iface.id);
  };

  const [t1, t2, t3] = await sell(3);
  await runAll();

  await setState([t1!], 'CANCELLED');
  await setState([t2!], 'CONTROLLED');
  const [t4] = await sell(1);
  await setState([t4!], 'CANCELLED'); // created and cancelled inside one window: one NEW row
  await setState([t3!], 'CANCELLED');
  await setState([t3!], 'PRINTED'); // there and back inside one window: no row
  await runAll();

  // Nothing changed: nothing sent.
  await runAll();

  const rows = (name: string) =>
    received(name).map((records) =>
      records
        .filter((r) => r.BAR_CODE !== 'TRAILER')
        .map((r) => [r.BAR_CODE, r.TICKET_STATE, r.CHANGE ?? '', r.PREVIOUS_STATE ?? '']),
    );
  assert.deepEqual(rows('every'), [
    [t1, t2, t3].map((t) => [t!.barCode, 'PRINTED', 'NEW', '']),
    [
      [t4!.barCode, 'CANCELLED', 'NEW', ''],
      [t1!.barCode, 'CANCELLED', 'STATE_CHANGE', 'PRINTED'],
      [t2!.barCode, 'CONTROLLED', 'STATE_CHANGE', 'PRINTED'],
    ],
  ]);
  assert.deepEqual(rows('cancelled'), [
    [t1, t2, t3].map((t) => [t!.barCode, 'PRINTED', '', '']),
    [
      [t4!.barCode, 'CANCELLED', '', ''],
      [t1!.barCode, 'CANCELLED', '', ''],
    ],
  ]);
  assert.deepEqual(rows('plain'), [
    [t1, t2, t3].map((t) => [t!.barCode, 'PRINTED', '', '']),
    [[t4!.barCode, 'CANCELLED', '', '']],
  ]);

  // The second file: CHANGED_AT rendered like the other date-times for state changes, empty for
  // NEW rows; the trailer counts every row.
  const second = filesFor(stack.sink, 'every@reseller.test')[1]!;
  const records = second.records.filter((record) => record.BAR_CODE !== 'TRAILER');
  assert.deepEqual(
    records.map(
      (record) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(record.CHANGED_AT!) || record.CHANGED_AT === '',
    ),
    [true, true, true],
  );
  assert.equal(records[0]!.CHANGED_AT, '');
  const trailer = second.content.toString('utf8').trim().split('\n').at(-1)!.split(';');
  assert.equal(trailer[0], 'TRAILER');
  assert.equal(trailer[1], '3');
  assert.match(second.mail.parsed.subject ?? '', /3 tickets/);

  // A resend sends the stored file unchanged and says tickets in it changed since.
  await setState([t2!], 'INVALIDATED');
  const deliveries = JSON.parse((await barcodes(['deliveries', String(every.id), '--json'], env)).stdout) as {
    id: number;
    status: string;
    windowStart: string;
  }[];
  const firstSent = deliveries
    .filter((delivery) => delivery.status === 'sent')
    .sort((a, b) => a.windowStart.localeCompare(b.windowStart))[0]!;
  const resent = await barcodes(['resend', String(firstSent.id), '--json'], env);
  assert.equal(resent.code, 0, resent.stderr);
  assert.match(
    resent.stderr,
    /note: 3 ticket\(s\) in delivery \d+ changed state since its window; the file is resent unchanged/,
  );
  const files = filesFor(stack.sink, 'every@reseller.test');
  assert.deepEqual(files.at(-1)!.content, files[0]!.content, 'the stored bytes, unchanged');

  // A backfill of the first window shows each ticket's state now: no cancelled barcode revives.
  const backfill = await barcodes(
    [
      'backfill',
      String(every.id),
      '--from',
      firstSent.windowStart,
      '--to',
      new Date(Date.now() - 1000).toISOString(),
      '--json',
    ],
    env,
  );
  assert.equal(backfill.code, 0, backfill.stderr);
  const backfilled = filesFor(stack.sink, 'every@reseller.test').filter((file) =>
    /^\[backfill\]/.test(file.mail.parsed.subject ?? ''),
  );
  const states = new Map(
    backfilled
      .flatMap((file) => file.records)
      .filter((r) => r.BAR_CODE !== 'TRAILER')
      .map((r) => [r.BAR_CODE, r.TICKET_STATE]),
  );
  assert.equal(states.get(t1!.barCode), 'CANCELLED');
  assert.equal(states.get(t2!.barCode), 'INVALIDATED');
  assert.equal(states.get(t4!.barCode), 'CANCELLED');

  // Preview shows what the next window would send: t2's latest change, as a state change.
  const preview = await barcodes(['preview', String(every.id)], env);
  assert.equal(preview.code, 0, preview.stderr);
  assert.match(preview.stdout, new RegExp(`${t2!.barCode};INVALIDATED;STATE_CHANGE;CONTROLLED;`));
});
