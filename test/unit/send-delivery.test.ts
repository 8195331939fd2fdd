/**
 * sendDelivery (activities/send.ts) under MockActivityEnvironment with an in-memory ledger and a
 * fake mailer: what is sent, what is skipped on a retry, and how an SMTP failure reaches Temporal
 * (retried, or failed at once as SmtpPermanentFailure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createSendActivities } from '../../activities/send';
import { FailureTypes, type SendDeliveryInput, type SendDeliveryResult } from '../../workflows/boundary';
import { SmtpError } from '../../lib/mail/mailer';
import {
  FakeAlerter,
  FakeInterfaceStore,
  FakeLedger,
  FakeMailer,
  RecordingLogger,
  exportInterface,
  fakeDeps,
  frozenDelivery,
  storedPart,
} from './support/fake-deps';

/** The activity over fresh fakes, with delivery 7 frozen in two parts. */
function setup() {
  const store = new FakeInterfaceStore(
    exportInterface({ recipients: ['files@acme.test', 'backup@acme.test'] }),
  );
  const ledger = new FakeLedger();
  ledger.freeze(frozenDelivery({ recipients: ['files@acme.test', 'backup@acme.test'] }), [
    storedPart(1, 'BAR_CODE\nA1\n'),
    storedPart(2, 'BAR_CODE\nA2\n'),
  ]);
  const mailer = new FakeMailer();
  const alerter = new FakeAlerter();
  const logger = new RecordingLogger();
  // run-1 froze delivery 7 and is still running: another run must not send it.
  const isRunOpen = async (workflowId: string) => workflowId === 'run-1';
  const { sendDelivery } = createSendActivities(
    fakeDeps({ store, ledger, mailer, alerter, isRunOpen, mailFrom: 'barcodes@exporter.test' }),
  );
  const env = new MockActivityEnvironment({ activityType: 'sendDelivery' }, { logger });
  // MockActivityEnvironment.run cannot infer the result type from the function: name it.
  const send = (input: SendDeliveryInput) =>
    env.run<[SendDeliveryInput], SendDeliveryResult, typeof sendDelivery>(sendDelivery, input);
  return { store, ledger, mailer, alerter, logger, send };
}

test('each part goes out once, to every recipient, with its stored Message-ID and bytes; the window is then sent', async () => {
  const { store, ledger, mailer, send } = setup();

  assert.deepEqual(await send({ deliveryId: 7, workflowId: 'run-1' }), {
    deliveryId: 7,
    status: 'sent',
    refusedRecipients: 0,
  });
  assert.deepEqual(
    mailer.sent.map((mail) => mail.messageId),
    ['<barcodes.i42.w7.p1@exporter.test>', '<barcodes.i42.w7.p2@exporter.test>'],
  );
  assert.deepEqual(
    mailer.sent.map((mail) => mail.attachments[0]!.content.toString()),
    ['BAR_CODE\nA1\n', 'BAR_CODE\nA2\n'],
  );
  for (const mail of mailer.sent) {
    assert.deepEqual(mail.to, ['files@acme.test', 'backup@acme.test']);
    assert.equal(mail.from, 'barcodes@exporter.test');
    // Fixed per delivery: a retried message is the very same message.
    assert.equal(mail.date.toISOString(), '2026-05-01T10:15:31.000Z');
  }
  assert.equal((await ledger.get(7))!.status, 'sent');
  // A delivered scheduled window moves the watermark and ends a run of failures.
  assert.deepEqual(store.successes, [42]);
});

test('a retry sends only the parts whose acceptance was not recorded', async () => {
  const { ledger, mailer, send } = setup();
  ledger.storedParts.get(7)![0]!.part.sentAt = new Date('2026-05-01T10:16:00Z');

  await send({ deliveryId: 7, workflowId: 'run-1' });
  assert.deepEqual(
    mailer.sent.map((mail) => mail.messageId),
    ['<barcodes.i42.w7.p2@exporter.test>'],
  );
});

test('a transient SMTP failure is retried by Temporal (a retryable failure carrying the SMTP error); nothing is recorded as sent', async () => {
  const { ledger, mailer, logger, send } = setup();
  mailer.failTransiently();

  await assert.rejects(
    send({ deliveryId: 7, workflowId: 'run-1' }),
    (error: unknown) =>
      error instanceof ApplicationFailure &&
      error.type === FailureTypes.destinationUnavailable &&
      !error.nonRetryable &&
      error.cause instanceof SmtpError &&
      !error.cause.permanent,
  );
  assert.equal((await ledger.get(7))!.status, 'pending');
  assert.deepEqual(ledger.answers, []);
  assert.ok(logger.at('WARN').includes('SMTP failed, will retry'));
  // The retry sends the same message.
  await send({ deliveryId: 7, workflowId: 'run-1' });
  assert.deepEqual(
    mailer.sent.map((mail) => mail.messageId),
    ['<barcodes.i42.w7.p1@exporter.test>', '<barcodes.i42.w7.p2@exporter.test>'],
  );
});

test('a permanent SMTP failure fails at once as a non-retryable SmtpPermanentFailure', async () => {
  const { ledger, mailer, send } = setup();
  mailer.failPermanently('SMTP refused: 550 relay denied');

  await assert.rejects(send({ deliveryId: 7, workflowId: 'run-1' }), (error: unknown) => {
    return (
      error instanceof ApplicationFailure &&
      error.type === FailureTypes.smtpPermanent &&
      error.nonRetryable === true &&
      error.message === 'SMTP refused: 550 relay denied'
    );
  });
  assert.equal((await ledger.get(7))!.status, 'pending');
});

test('a delivery already sent is not sent again', async () => {
  const { ledger, mailer, send } = setup();
  await ledger.markSent(7);

  assert.deepEqual(await send({ deliveryId: 7, workflowId: 'run-1' }), {
    deliveryId: 7,
    status: 'sent',
    refusedRecipients: 0,
  });
  assert.deepEqual(mailer.sent, []);
});

test('a window now claimed by another run is not sent by this one', async () => {
  const { mailer, send } = setup();

  await assert.rejects(
    send({ deliveryId: 7, workflowId: 'run-2' }),
    (error: unknown) =>
      error instanceof ApplicationFailure &&
      error.type === FailureTypes.claimLost &&
      error.nonRetryable === true,
  );
  assert.deepEqual(mailer.sent, []);
});

test('a recipient refused while the others accept is recorded and alerted; the window still counts as sent', async () => {
  const { ledger, mailer, alerter, send } = setup();
  // One part: with several, refusedRecipients counts one refusal per part.
  ledger.freeze(frozenDelivery({ id: 8, recipients: ['files@acme.test', 'backup@acme.test'] }), [
    storedPart(1, 'BAR_CODE\nB1\n'),
  ]);
  mailer.refusedAddresses.add('backup@acme.test');

  assert.deepEqual(await send({ deliveryId: 8, workflowId: 'run-1' }), {
    deliveryId: 8,
    status: 'sent',
    refusedRecipients: 1,
  });
  assert.deepEqual(
    ledger.answers[0]!.recipients.map((answer) => [answer.address, answer.status]),
    [
      ['files@acme.test', 'accepted'],
      ['backup@acme.test', 'refused'],
    ],
  );
  assert.equal((await ledger.get(8))!.status, 'sent');
  assert.equal(alerter.alerts.length, 1);
  assert.match(alerter.alerts[0]!.text, /refused: backup@acme\.test/);
});
