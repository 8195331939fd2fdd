import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStack } from './support/stack';
import { deliveredBarCodes, filesFor } from './support/mail';
import { barcodes, cliEnv } from './support/cli';
import { insertSale } from '../devstack/sales-simulator';

let stack: TestStack;
let env: NodeJS.ProcessEnv;

before(async () => {
  stack = await TestStack.start({ env: { BARCODES_PAUSE_AFTER_FAILURES: '2', BARCODES_MAX_HOLDBACK: '3s' } });
  await stack.startWorker();
  env = cliEnv(stack.config);
});
after(async () => {
  await stack?.close();
});

const sell = (contactNumber: string | null, salesChannelCode: string, ticketCount = 2) =>
  insertSale(stack.pool, stack.config.ticketingSchema, { contactNumber, salesChannelCode, ticketCount });
const sorted = (values: string[]) => [...values].sort();

test('permanent refusals pause the interface after the threshold, alert once, and nothing is lost after the fix', async () => {
  const iface = await stack.createInterface({
    recipients: ['gone@reseller.test'],
    alertEmail: 'ops@operator.test',
    contacts: ['C-1001'],
  });
  stack.sink.rejectRecipients(['gone@reseller.test'], 550);
  const sold = await sell('C-1001', 'WEB', 3);
  await assert.rejects(stack.runNow(iface.id), /SMTP refused|550/);
  let current = await stack.store.get(iface.id);
  assert.equal(current.consecutiveFailures, 1);
  assert.equal(current.enabled, true);
  await assert.rejects(stack.runNow(iface.id), /SMTP refused|550/);
  current = await stack.store.get(iface.id);
  assert.equal(current.enabled, false, 'paused itself at the threshold');
  assert.match(current.pausedReason ?? '', /2 consecutive failed windows/);
  const schedule = await stack.client.schedule.getHandle(stack.scheduleId(iface.id)).describe();
  assert.equal(schedule.state.paused, true);
  assert.match(schedule.state.note ?? '', /paused itself/);
  const [alert] = await stack.sink.waitFor((mail) => mail.envelope.to.includes('ops@operator.test'), 10_000);
  assert.match(alert!.parsed.subject ?? '', new RegExp(`interface ${iface.id}.*paused`));
  assert.match(alert!.parsed.text ?? '', /Failing since: \d{4}-/);
  assert.match(alert!.parsed.text ?? '', /SmtpPermanentFailure/);

  const shown = await barcodes(['interface', 'show', String(iface.id), '--json'], env);
  assert.equal(JSON.parse(shown.stdout).schedule.paused, true);

  stack.sink.rejectRecipients([]);
  const enabled = await barcodes(['interface', 'enable', String(iface.id)], env);
  assert.equal(enabled.code, 0, enabled.stderr);
  const later = await sell('C-1001', 'BOX', 1);
  await stack.runNow(iface.id);
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'gone@reseller.test')),
    sorted([...sold, ...later].map((ticket) => ticket.barCode)),
  );
  assert.equal(
    stack.sink.messages.filter((mail) => mail.envelope.to.includes('ops@operator.test')).length,
    1,
    'one alert',
  );
  assert.equal((await stack.store.get(iface.id)).consecutiveFailures, 0);
});

test('a temporary SMTP refusal recovers by itself without counting as a failure', async () => {
  const iface = await stack.createInterface({ recipients: ['patient@reseller.test'], contacts: ['C-1002'] });
  const sold = await sell('C-1002', 'WEB', 2);
  stack.sink.setMode('tempfail');
  const running = stack.runNow(iface.id, 120_000);
  await waitUntil(async () => ((await stack.ledger.list(iface.id))[0]?.attempts ?? 0) >= 2, 60_000);
  stack.sink.setMode('accept');
  await running;
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'patient@reseller.test')),
    sorted(sold.map((ticket) => ticket.barCode)),
  );
  const current = await stack.store.get(iface.id);
  assert.equal(current.enabled, true);
  assert.equal(current.consecutiveFailures, 0);
});

test('a recipient refused while another accepts is recorded per recipient, alerted, and not retried for the other', async () => {
  const iface = await stack.createInterface({
    recipients: ['ok@reseller.test', 'typo@reseller.test'],
    alertEmail: 'ops2@operator.test',
    channels: ['AGENCY'],
  });
  stack.sink.rejectRecipients(['typo@reseller.test'], 550);
  const sold = await sell(null, 'AGENCY', 2);
  const run = await stack.runNow(iface.id);
  stack.sink.rejectRecipients([]);
  const delivery = run.result.windows[0]!;
  assert.equal(delivery.status, 'sent');
  const answers = await stack.ledger.recipientResults(delivery.deliveryId!);
  assert.deepEqual(
    answers.map((answer) => [answer.address, answer.status]),
    [
      ['ok@reseller.test', 'accepted'],
      ['typo@reseller.test', 'refused'],
    ],
  );
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'ok@reseller.test')),
    sorted(sold.map((ticket) => ticket.barCode)),
  );
  await stack.sink.waitFor((mail) => mail.envelope.to.includes('ops2@operator.test'), 10_000);
  await stack.runNow(iface.id);
  assert.equal(
    filesFor(stack.sink, 'ok@reseller.test').length,
    1,
    'the accepting recipient is not sent the window again',
  );
});

test('backfill re-delivers a past range labelled backfill without moving the watermark; resend repeats a stored file as a new message', async () => {
  const iface = await stack.createInterface({
    recipients: ['replay@reseller.test'],
    contacts: ['C-2001'],
    intervalSeconds: 3600,
  });
  const first = await sell('C-2001', 'WEB', 2);
  const run = await stack.runNow(iface.id);
  const original = run.result.windows[0]!;
  const watermarkBefore = await stack.ledger.chainWatermark(stack.pool, iface.id);

  const backfill = await barcodes(
    ['backfill', String(iface.id), '--from', original.windowStart, '--to', original.windowEnd, '--json'],
    env,
  );
  assert.equal(backfill.code, 0, backfill.stderr);
  const result = JSON.parse(backfill.stdout);
  assert.equal(result.windowsDone, 1);
  assert.equal(result.ticketsDelivered, first.length);
  assert.deepEqual(
    (await stack.ledger.chainWatermark(stack.pool, iface.id))?.toISOString(),
    watermarkBefore?.toISOString(),
    'watermark unchanged',
  );
  const files = filesFor(stack.sink, 'replay@reseller.test');
  assert.equal(files.length, 2);
  const [scheduled, backfilled] = files;
  assert.match(backfilled!.mail.parsed.subject ?? '', /^\[backfill\]/);
  assert.notEqual(backfilled!.mail.parsed.messageId, scheduled!.mail.parsed.messageId);
  assert.ok(
    String(backfilled!.mail.parsed.references ?? '').includes(scheduled!.mail.parsed.messageId!),
    'the backfill references the original',
  );
  assert.deepEqual(backfilled!.content, scheduled!.content, 'same window, same bytes');

  const resent = await barcodes(['resend', String(original.deliveryId), '--json'], env);
  assert.equal(resent.code, 0, resent.stderr);
  const resend = JSON.parse(resent.stdout);
  assert.equal(resend.kind, 'resend');
  assert.equal(resend.originalDeliveryId, original.deliveryId);
  const third = filesFor(stack.sink, 'replay@reseller.test')[2]!;
  assert.match(third.mail.parsed.subject ?? '', /^\[resend\]/);
  assert.deepEqual(third.content, scheduled!.content);
  assert.ok(String(third.mail.parsed.references ?? '').includes(scheduled!.mail.parsed.messageId!));
  const deliveries = JSON.parse((await barcodes(['deliveries', String(iface.id), '--json'], env)).stdout);
  assert.deepEqual(sorted(deliveries.map((delivery: { kind: string }) => delivery.kind)), [
    'backfill',
    'resend',
    'run',
  ]);

  const refused = await barcodes(
    ['backfill', String(iface.id), '--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z'],
    env,
  );
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /not after --from/);
});

test('schedules follow the configuration: disable pauses, enable resumes, a deleted schedule is recreated and continues from the ledger', async () => {
  const iface = await stack.createInterface({ recipients: ['lifecycle@reseller.test'], channels: ['BOX'] });
  const before = await sell(null, 'BOX', 2);
  await stack.runNow(iface.id);
  const disabled = await barcodes(['interface', 'disable', String(iface.id)], env);
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(
    (await stack.client.schedule.getHandle(stack.scheduleId(iface.id)).describe()).state.paused,
    true,
  );
  await barcodes(['interface', 'enable', String(iface.id)], env);
  assert.equal(
    (await stack.client.schedule.getHandle(stack.scheduleId(iface.id)).describe()).state.paused,
    false,
  );

  await stack.client.schedule.getHandle(stack.scheduleId(iface.id)).delete();
  const sync = await barcodes(['schedules', 'sync', '--json'], env);
  const changes = JSON.parse(sync.stdout).changes;
  assert.ok(
    changes.some(
      (change: { scheduleId: string; action: string }) =>
        change.scheduleId === stack.scheduleId(iface.id) && change.action === 'created',
    ),
  );
  const after = await sell(null, 'BOX', 1);
  await stack.runNow(iface.id);
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'lifecycle@reseller.test')),
    sorted([...before, ...after].map((ticket) => ticket.barCode)),
  );
});

test('every run of an interface can be found in Temporal by its search attributes, with window, count and status', async () => {
  const iface = await stack.createInterface({ recipients: ['visible@reseller.test'], contacts: ['C-1002'] });
  await sell('C-1002', 'BOX', 3);
  const { workflowId } = await stack.runNow(iface.id);
  let found: { workflowId: string; searchAttributes: Record<string, unknown> }[] = [];
  await waitUntil(async () => {
    found = [];
    for await (const execution of stack.client.workflow.list({
      query: `BarcodesInterfaceId = "${iface.id}"`,
    })) {
      found.push({
        workflowId: execution.workflowId,
        searchAttributes: Object.fromEntries(
          execution.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value]),
        ),
      });
    }
    return found.some(
      (execution) =>
        execution.workflowId === workflowId && execution.searchAttributes.BarcodesDeliveryStatus === 'sent',
    );
  }, 20_000);
  const run = found.find((execution) => execution.workflowId === workflowId)!;
  assert.equal(run.searchAttributes.BarcodesTicketCount, 3);
  assert.ok(run.searchAttributes.BarcodesWindowEnd instanceof Date);
});

test('a transaction open longer than the bound stops holding windows back, is alerted once, and its tickets are recoverable by backfill', async () => {
  const iface = await stack.createInterface({
    recipients: ['bound@reseller.test'],
    alertEmail: 'ops3@operator.test',
    channels: ['RESELLER-WEB'],
  });
  const writer = await stack.pool.connect();
  try {
    await writer.query('BEGIN');
    const forgotten = await insertSale(writer, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'RESELLER-WEB',
      ticketCount: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const meanwhile = await sell(null, 'RESELLER-WEB', 2);
    const first = await stack.runNow(iface.id);
    const held = await stack.ledger.get(first.result.windows[0]!.deliveryId!);
    assert.equal(held?.heldBack?.beyondBound, true, 'the window closed past the forgotten transaction');
    await stack.sink.waitFor((mail) => mail.envelope.to.includes('ops3@operator.test'), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await stack.runNow(iface.id);
    assert.equal(
      stack.sink.messages.filter((mail) => mail.envelope.to.includes('ops3@operator.test')).length,
      1,
      'alerted once per transaction',
    );
    await writer.query('COMMIT');
    await stack.runNow(iface.id);
    const scheduled = deliveredBarCodes(stack.sink, 'bound@reseller.test');
    assert.deepEqual(
      sorted(scheduled),
      sorted(meanwhile.map((ticket) => ticket.barCode)),
      'beyond the bound, the schedule does not deliver it (documented)',
    );
    const { rows } = await stack.pool.query<{ created_at: Date }>(
      `SELECT created_at FROM ${stack.config.ticketingSchema}.ticket WHERE bar_code = $1`,
      [forgotten[0]!.barCode],
    );
    const backfill = await barcodes(
      [
        'backfill',
        String(iface.id),
        '--from',
        rows[0]!.created_at.toISOString(),
        '--to',
        new Date(Date.now() - 1000).toISOString(),
        '--json',
      ],
      env,
    );
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.ok(
      deliveredBarCodes(stack.sink, 'bound@reseller.test').includes(forgotten[0]!.barCode),
      'the backfill recovers it',
    );
  } finally {
    await writer.query('ROLLBACK').catch(() => {});
    writer.release();
  }
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
