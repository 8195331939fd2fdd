import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { TestStack } from './support/stack';
import { deliveredBarCodes, filesFor } from './support/mail';
import { barcodes, cliEnv } from './support/cli';
import { insertSale } from '../devstack/sales-simulator';
import { NodemailerMailer, type Mailer } from '../lib/mail/mailer';
import type { RunningWorker } from '../worker/worker';

// The ledger is never the cause of a repeat; a file is sent only as it was frozen; a source row
// that breaks the contract fails its window before anything is sent. Each against the real stack.

let stack: TestStack;
let env: NodeJS.ProcessEnv;
let schema: string;

before(async () => {
  stack = await TestStack.start({ env: { BARCODES_ALERT_EMAIL: 'default-ops@operator.test' } });
  env = cliEnv(stack.config);
  schema = stack.config.exporterSchema;
});
after(async () => {
  await stack?.close();
});

const sell = (contactNumber: string | null, salesChannelCode: string, ticketCount = 2) =>
  insertSale(stack.pool, stack.config.ticketingSchema, { contactNumber, salesChannelCode, ticketCount });
const mailsTo = (address: string) => stack.sink.messages.filter((mail) => mail.envelope.to.includes(address));
const sorted = (values: string[]) => [...values].sort();

/** Runs `body` with a worker of its own (some tests need a worker with another mailer). */
async function withWorker<T>(body: () => Promise<T>, mailer?: Mailer): Promise<T> {
  const worker: RunningWorker = await stack.startWorker(mailer ? { mailer } : {});
  try {
    return await body();
  } finally {
    await worker.shutdown();
  }
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('a ledger that cannot record fails the window before anything is sent, alerted, not retried; after the repair it goes out once', async () => {
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['ledger-a@reseller.test'],
      alertEmail: 'ops-a@operator.test',
      contacts: ['C-1001'],
    });
    const sold = await sell('C-1001', 'WEB', 2);
    await stack.pool.query(`ALTER TABLE ${schema}.delivery_recipient RENAME TO delivery_recipient_away`);
    try {
      await assert.rejects(stack.runNow(iface.id), /delivery ledger cannot be read or written/);
    } finally {
      await stack.pool.query(`ALTER TABLE ${schema}.delivery_recipient_away RENAME TO delivery_recipient`);
    }
    assert.equal(mailsTo('ledger-a@reseller.test').length, 0, 'nothing was sent');
    const [delivery] = await stack.ledger.list(iface.id);
    assert.equal(delivery!.attempts, 1, 'the send was not retried');
    assert.match(delivery!.lastError ?? '', /^LedgerError: /);
    const [alert] = await stack.sink.waitFor(
      (mail) => mail.envelope.to.includes('ops-a@operator.test'),
      10_000,
    );
    assert.match(alert!.parsed.subject ?? '', /the delivery ledger cannot record deliveries/);
    assert.match(alert!.parsed.text ?? '', /LedgerError/);

    await stack.runNow(iface.id);
    assert.equal(mailsTo('ledger-a@reseller.test').length, 1);
    assert.deepEqual(
      sorted(deliveredBarCodes(stack.sink, 'ledger-a@reseller.test')),
      sorted(sold.map((ticket) => ticket.barCode)),
    );
  });
});

test('an email SMTP accepted but the ledger cannot record is not sent again: one email, a named alerted failure, no storm', async () => {
  const real = new NodemailerMailer({ smtpUrl: stack.config.smtpUrl });
  let broken = false;
  // The table disappears right after the reseller's server accepted the email: after the pre-flight.
  const breakingAfterSend: Mailer = {
    async send(mail) {
      const result = await real.send(mail);
      if (!broken && mail.to.includes('ledger-b@reseller.test')) {
        broken = true;
        await stack.pool.query(`ALTER TABLE ${schema}.delivery_recipient RENAME TO delivery_recipient_away`);
      }
      return result;
    },
    verify: () => real.verify(),
    close: () => real.close(),
  };
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['ledger-b@reseller.test'],
      alertEmail: 'ops-b@operator.test',
      contacts: ['C-1002'],
    });
    const sold = await sell('C-1002', 'WEB', 3);
    try {
      await assert.rejects(stack.runNow(iface.id), /SMTP accepted .* but the ledger could not record it/);
      await stack.sink.waitFor((mail) => mail.envelope.to.includes('ops-b@operator.test'), 10_000);
      await new Promise((resolve) => setTimeout(resolve, 2_000)); // room for a retry that must not come
    } finally {
      await stack.pool.query(`ALTER TABLE ${schema}.delivery_recipient_away RENAME TO delivery_recipient`);
    }
    assert.equal(mailsTo('ledger-b@reseller.test').length, 1, 'exactly one email');
    const [delivery] = await stack.ledger.list(iface.id);
    assert.match(delivery!.lastError ?? '', /^LedgerError: .*marked sent/);
    assert.ok((await stack.ledger.parts(delivery!.id))[0]!.sentAt, 'the part is recorded as handed to SMTP');

    await stack.runNow(iface.id);
    assert.equal(
      mailsTo('ledger-b@reseller.test').length,
      1,
      'the next run finishes the window without sending it again',
    );
    assert.equal((await stack.ledger.get(delivery!.id))!.status, 'sent');
    assert.deepEqual(
      sorted(deliveredBarCodes(stack.sink, 'ledger-b@reseller.test')),
      sorted(sold.map((ticket) => ticket.barCode)),
    );
  }, breakingAfterSend);
});

test('purge keeps the file of a backfill still being sent; a purged file is never sent', async () => {
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['purge-c@reseller.test'],
      contacts: ['C-2001'],
    });
    await sell('C-2001', 'WEB', 10);
    const original = (await stack.runNow(iface.id)).result.windows[0]!;
    stack.sink.setMode('tempfail');
    let backfill: ReturnType<typeof barcodes> | undefined;
    try {
      backfill = barcodes(
        ['backfill', String(iface.id), '--from', original.windowStart, '--to', original.windowEnd],
        env,
      );
      await waitUntil(
        async () =>
          (await stack.ledger.list(iface.id)).some(
            (delivery) => delivery.kind === 'backfill' && delivery.attempts >= 1,
          ),
        30_000,
      );
      const pending = (await stack.ledger.list(iface.id)).find((delivery) => delivery.kind === 'backfill')!;

      const purge = await barcodes(['purge', '--older-than', '0s', '--json'], env);
      assert.equal(purge.code, 0, purge.stderr);
      const report = JSON.parse(purge.stdout);
      assert.equal(report.keptInFlight, 1, 'the running backfill is kept');
      assert.equal((await stack.ledger.get(pending.id))!.purgedAt, null);
      assert.equal(
        (await buffer(stack.ledger.readPart(pending.id, 1))).length,
        (await stack.ledger.parts(pending.id))[0]!.byteCount,
        'its file is whole',
      );
      assert.ok((await stack.ledger.get(original.deliveryId!))!.purgedAt, 'the sent window was purged');

      // What purge did before: the file goes while the backfill still has to send it.
      await stack.pool.query(`DELETE FROM ${schema}.delivery_chunk WHERE delivery_id = $1`, [pending.id]);
      await stack.pool.query(`UPDATE ${schema}.delivery SET purged_at = now() WHERE id = $1`, [pending.id]);
    } finally {
      stack.sink.setMode('accept');
    }
    const result = await backfill!;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /its file was purged at \d{4}-\d\d-\d\dT.*nothing was sent/);
    assert.equal(
      filesFor(stack.sink, 'purge-c@reseller.test').length,
      1,
      'only the scheduled window arrived, no empty attachment',
    );
  });
});

test('a stored file whose bytes changed is not sent: sha mismatch, then size mismatch', async () => {
  await withWorker(async () => {
    const iface = await stack.createInterface({ recipients: ['tamper-d@reseller.test'], channels: ['BOX'] });
    await sell(null, 'BOX', 4);
    const original = (await stack.runNow(iface.id)).result.windows[0]!;
    await stack.pool.query(
      `UPDATE ${schema}.delivery_chunk SET data = overlay(data placing '\\x58'::bytea from 20 for 1) WHERE delivery_id = $1 AND seq = 0`,
      [original.deliveryId],
    );
    const changed = await barcodes(['resend', String(original.deliveryId)], env);
    assert.notEqual(changed.code, 0);
    assert.match(
      changed.stderr,
      /part 1 \(.*\): stored bytes have SHA-256 [0-9a-f]{64}, [0-9a-f]{64} frozen \(sha mismatch\); nothing was sent/,
    );

    await stack.pool.query(
      `UPDATE ${schema}.delivery_chunk SET data = data || '\\x0a'::bytea WHERE delivery_id = $1 AND seq = 0`,
      [original.deliveryId],
    );
    const grown = await barcodes(['resend', String(original.deliveryId)], env);
    assert.notEqual(grown.code, 0);
    assert.match(grown.stderr, /(\d+) bytes stored, \d+ frozen \(size mismatch\)/);
    assert.equal(filesFor(stack.sink, 'tamper-d@reseller.test').length, 1, 'only the original email');
  });
});

test('a source row that breaks the contract fails its window before anything is stored or sent, alerted, naming ticket and column', async () => {
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['rows-e@reseller.test'],
      alertEmail: 'ops-e@operator.test',
      channels: ['AGENCY'],
    });
    const sold = await sell(null, 'AGENCY', 3);
    const ticketing = stack.config.ticketingSchema;
    await stack.pool.query(`ALTER TABLE ${ticketing}.ticket ALTER COLUMN bar_code DROP NOT NULL`);
    await stack.pool.query(`UPDATE ${ticketing}.ticket SET bar_code = NULL WHERE id = $1`, [sold[1]!.id]);
    try {
      await assert.rejects(
        stack.runNow(iface.id),
        new RegExp(`ticket ${sold[1]!.id}: ticket\\.bar_code is null`),
      );
      assert.equal(mailsTo('rows-e@reseller.test').length, 0, 'nothing sent');
      assert.deepEqual(await stack.ledger.list(iface.id), [], 'nothing frozen');
      const [alert] = await stack.sink.waitFor(
        (mail) => mail.envelope.to.includes('ops-e@operator.test'),
        10_000,
      );
      assert.match(alert!.parsed.subject ?? '', /a ticket source row breaks the contract/);
      assert.match(
        alert!.parsed.text ?? '',
        new RegExp(`SourceRowError: ticket ${sold[1]!.id}: ticket\\.bar_code is null`),
      );
      for (const ticket of sold)
        assert.ok(!(alert!.parsed.text ?? '').includes(ticket.barCode), 'no bar code in the alert');
    } finally {
      await stack.pool.query(`UPDATE ${ticketing}.ticket SET bar_code = $2 WHERE id = $1`, [
        sold[1]!.id,
        sold[1]!.barCode,
      ]);
      await stack.pool.query(`ALTER TABLE ${ticketing}.ticket ALTER COLUMN bar_code SET NOT NULL`);
    }
    await stack.runNow(iface.id);
    assert.deepEqual(
      sorted(deliveredBarCodes(stack.sink, 'rows-e@reseller.test')),
      sorted(sold.map((ticket) => ticket.barCode)),
      'once fixed, the window goes out whole',
    );
  });
});

test('the operator is alerted even when the exporter database cannot record the failure', async () => {
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['rows-f@reseller.test'],
      alertEmail: 'ops-f@operator.test',
      channels: ['RESELLER-WEB'],
    });
    const sold = await sell(null, 'RESELLER-WEB', 2);
    const ticketing = stack.config.ticketingSchema;
    await stack.pool.query(`ALTER TABLE ${ticketing}.ticket DROP CONSTRAINT ticket_state_check`);
    await stack.pool.query(`UPDATE ${ticketing}.ticket SET state = 'LOST' WHERE id = $1`, [sold[0]!.id]);
    // The failure counter cannot be written: recordPermanentFailure fails, reading the interface does not.
    await stack.pool.query(`ALTER TABLE ${schema}.interface RENAME COLUMN last_failure TO last_failure_away`);
    try {
      await assert.rejects(stack.runNow(iface.id), /ticket\.state is "LOST"/);
      const [alert] = await stack.sink.waitFor(
        (mail) => mail.envelope.to.includes('ops-f@operator.test'),
        10_000,
      );
      assert.match(
        alert!.parsed.subject ?? '',
        /a ticket source row breaks the contract \(its failure could not be recorded\)/,
      );
      assert.match(alert!.parsed.text ?? '', /SourceRowError: ticket \d+: ticket\.state is "LOST"/);
      assert.match(alert!.parsed.text ?? '', /barcodes doctor/);
    } finally {
      await stack.pool.query(
        `ALTER TABLE ${schema}.interface RENAME COLUMN last_failure_away TO last_failure`,
      );
      await stack.pool.query(`UPDATE ${ticketing}.ticket SET state = 'PRINTED' WHERE id = $1`, [sold[0]!.id]);
    }
    assert.equal(
      (await stack.store.get(iface.id)).consecutiveFailures,
      0,
      'the failure was indeed not recorded',
    );
    assert.equal(mailsTo('rows-f@reseller.test').length, 0);
  });
});

test('a recipient refused while another accepts is alerted even when the interface cannot be read after the send', async () => {
  const real = new NodemailerMailer({ smtpUrl: stack.config.smtpUrl });
  let broken = false;
  // Reading the interface (with its mappings) fails from right after the accepted email on.
  const breakingAfterSend: Mailer = {
    async send(mail) {
      const result = await real.send(mail);
      if (!broken && mail.to.includes('half-g@reseller.test')) {
        broken = true;
        await stack.pool.query(`ALTER TABLE ${schema}.mapping RENAME TO mapping_away`);
      }
      return result;
    },
    verify: () => real.verify(),
    close: () => real.close(),
  };
  await withWorker(async () => {
    const iface = await stack.createInterface({
      recipients: ['half-g@reseller.test', 'typo-g@reseller.test'],
      alertEmail: 'ops-g@operator.test',
      channels: ['BOX'],
    });
    await sell(null, 'BOX', 1);
    stack.sink.rejectRecipients(['typo-g@reseller.test'], 550);
    try {
      const run = await stack.runNow(iface.id);
      assert.equal(run.result.windows[0]!.status, 'sent');
      const [alert] = await stack.sink.waitFor(
        (mail) => mail.envelope.to.includes('default-ops@operator.test'),
        10_000,
      );
      assert.match(alert!.parsed.subject ?? '', /recipient refused delivery/);
      assert.match(alert!.parsed.text ?? '', /refused: typo-g@reseller\.test/);
    } finally {
      stack.sink.rejectRecipients([]);
      await stack.pool.query(`ALTER TABLE ${schema}.mapping_away RENAME TO mapping`);
    }
    assert.equal(mailsTo('half-g@reseller.test').length, 1);
  }, breakingAfterSend);
});
