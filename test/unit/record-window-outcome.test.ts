/**
 * recordWindowOutcome (activities/outcome.ts) under MockActivityEnvironment with fake store,
 * ledger, alerter and schedule control: which failures count toward self-pause, when the
 * interface pauses itself, and who hears about it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createOutcomeActivities } from '../../activities/outcome';
import { FailureTypes, type WindowOutcomeInput } from '../../workflows/boundary';
import { createAlerter } from '../../lib/alerts';
import {
  FakeAlerter,
  FakeInterfaceStore,
  FakeLedger,
  FakeMailer,
  FakeScheduleControl,
  RecordingLogger,
  exportInterface,
  fakeDeps,
  type FakeParts,
} from './support/fake-deps';

const PAUSE_AFTER = 3;
const SMTP_5XX = {
  type: FailureTypes.smtpPermanent,
  message: 'SMTP refused: 550 no such user',
  permanent: true,
};
const SMTP_OUTAGE = { type: 'SmtpError', message: 'SMTP failed: connect ECONNREFUSED', permanent: false };

function outcomeOf(
  failure: WindowOutcomeInput['failure'],
  deliveryId: number | null = 7,
): WindowOutcomeInput {
  return { interfaceId: 42, deliveryId, windowEnd: '2026-05-01T10:15:00.000Z', failure };
}

/** The activity with fresh fakes; `parts` replaces any of them. */
function setup(parts: FakeParts = {}) {
  const fakes = {
    store: new FakeInterfaceStore(),
    ledger: new FakeLedger(),
    alerter: new FakeAlerter(),
    schedules: new FakeScheduleControl(),
  };
  const logger = new RecordingLogger();
  const { recordWindowOutcome } = createOutcomeActivities(
    fakeDeps({ ...fakes, pauseAfterFailures: PAUSE_AFTER, ...parts }),
  );
  const env = new MockActivityEnvironment({ activityType: 'recordWindowOutcome' }, { logger });
  // MockActivityEnvironment.run cannot infer the result type from the function: name it.
  const record = (input: WindowOutcomeInput) =>
    env.run<[WindowOutcomeInput], { paused: boolean }, typeof recordWindowOutcome>(
      recordWindowOutcome,
      input,
    );
  return { ...fakes, logger, record };
}

test('a delivered window (input version 1) ends a run of failures and alerts nobody', async () => {
  const { store, ledger, alerter, record } = setup();
  store.iface = exportInterface({ consecutiveFailures: 2, failingSince: new Date('2026-05-01T09:00:00Z') });

  assert.deepEqual(
    await record({ interfaceId: 42, deliveryId: null, windowEnd: '2026-05-01T10:15:00.000Z' }),
    { paused: false },
  );
  assert.deepEqual(store.successes, [42]);
  assert.equal(store.iface.consecutiveFailures, 0);
  assert.deepEqual(ledger.failed, []);
  assert.deepEqual(alerter.alerts, []);
});

test('transient failures never count, however many: an SMTP outage must recover by itself', async () => {
  const { store, ledger, alerter, schedules, record } = setup();
  for (let i = 0; i < PAUSE_AFTER * 2; i++)
    assert.deepEqual(await record(outcomeOf(SMTP_OUTAGE)), { paused: false });

  assert.equal(store.iface.consecutiveFailures, 0);
  assert.equal(store.iface.enabled, true);
  assert.deepEqual(schedules.realigned, []);
  assert.deepEqual(alerter.alerts, []);
  // The window itself is marked failed, so `deliveries` shows it and the next run sends it unchanged.
  assert.deepEqual(ledger.failed[0], {
    deliveryId: 7,
    reason: 'SmtpError: SMTP failed: connect ECONNREFUSED',
  });
});

test('permanent failures count; below the threshold nothing pauses and nobody is alerted', async () => {
  const { store, alerter, schedules, record } = setup();
  for (let i = 0; i < PAUSE_AFTER - 1; i++)
    assert.deepEqual(await record(outcomeOf(SMTP_5XX)), { paused: false });

  assert.equal(store.iface.consecutiveFailures, PAUSE_AFTER - 1);
  assert.equal(store.iface.enabled, true);
  assert.deepEqual(schedules.realigned, []);
  assert.deepEqual(alerter.alerts, []);
});

test('at the threshold the interface pauses itself: its schedule is realigned once and one alert says why', async () => {
  const { store, alerter, schedules, record } = setup();
  const results = [];
  // One more failure after the pause (a run already in flight) must not pause or alert again.
  for (let i = 0; i < PAUSE_AFTER + 1; i++) results.push(await record(outcomeOf(SMTP_5XX)));

  assert.deepEqual(
    results.map((result) => result.paused),
    [false, false, true, false],
  );
  assert.equal(store.iface.enabled, false);
  assert.deepEqual(schedules.realigned, [42]);
  assert.equal(alerter.alerts.length, 1);
  const [alert] = alerter.alerts;
  assert.equal(alert!.interfaceId, 42);
  assert.equal(alert!.interfaceAlertEmail, 'ops@exporter.test');
  assert.match(alert!.subject, /paused after 3 failed windows/);
  assert.match(alert!.text, /SmtpPermanentFailure: SMTP refused: 550 no such user/);
  assert.match(alert!.text, /barcodes interface enable 42/);
});

test('a file the format cannot hold alerts at its first failure, without pausing', async () => {
  const { store, alerter, schedules, record } = setup();
  const result = await record(
    outcomeOf({
      type: FailureTypes.format,
      message: 'format: ticket 12345, column PRODUCT_NAME: character U+1F600 cannot be encoded',
      permanent: true,
    }),
  );

  assert.deepEqual(result, { paused: false });
  assert.equal(store.iface.enabled, true);
  assert.deepEqual(schedules.realigned, []);
  assert.equal(alerter.alerts.length, 1);
  assert.match(alerter.alerts[0]!.subject, /cannot be rendered in its format/);
  assert.match(alerter.alerts[0]!.text, /U\+1F600/);
});

test('an alert that cannot be sent is logged; the activity still pauses the interface and succeeds', async () => {
  const alerter = new FakeAlerter();
  alerter.failure = new Error('SMTP failed: connect ECONNREFUSED');
  const { schedules, logger, record } = setup({ alerter });
  for (let i = 0; i < PAUSE_AFTER - 1; i++) await record(outcomeOf(SMTP_5XX));

  assert.deepEqual(await record(outcomeOf(SMTP_5XX)), { paused: true });
  assert.deepEqual(schedules.realigned, [42]);
  assert.equal(alerter.alerts.length, 1);
  assert.ok(
    logger.at('ERROR').includes('could not send an alert'),
    `logged: ${JSON.stringify(logger.entries)}`,
  );
});

test('with nobody to alert, the pause is logged with how to configure an alert address', async () => {
  const alerter = new FakeAlerter();
  alerter.to = null;
  const { logger, record } = setup({ alerter });
  for (let i = 0; i < PAUSE_AFTER; i++) await record(outcomeOf(SMTP_5XX));

  assert.ok(
    logger.at('ERROR').some((message) => message.startsWith('no alert address')),
    `logged: ${JSON.stringify(logger.entries)}`,
  );
});

test("the pause alert is an email to the interface's alert address; a permanent SMTP refusal of it is logged, not thrown", async () => {
  const mailer = new FakeMailer();
  const alerter = createAlerter({
    mailer,
    mailFrom: 'barcodes@exporter.test',
    defaultAlertEmail: 'fallback@exporter.test',
  });
  const first = setup({ alerter });
  for (let i = 0; i < PAUSE_AFTER; i++) await first.record(outcomeOf(SMTP_5XX));
  assert.equal(mailer.sent.length, 1);
  assert.deepEqual(mailer.sent[0]!.to, ['ops@exporter.test']);
  assert.match(
    mailer.sent[0]!.subject,
    /^\[barcodes alert\] interface 42 \(Acme reseller\): paused after 3 failed windows/,
  );

  mailer.failPermanently();
  const second = setup({ alerter });
  for (let i = 0; i < PAUSE_AFTER - 1; i++) await second.record(outcomeOf(SMTP_5XX));
  assert.deepEqual(await second.record(outcomeOf(SMTP_5XX)), { paused: true });
  assert.equal(mailer.sent.length, 1);
  assert.ok(second.logger.at('ERROR').includes('could not send an alert'));
});

test('a run that failed before reaching a window marks no delivery failed, but still counts', async () => {
  const { store, ledger, record } = setup();
  await record(
    outcomeOf({ type: FailureTypes.invalidConfiguration, message: 'no mapping', permanent: true }, null),
  );

  assert.deepEqual(ledger.failed, []);
  assert.equal(store.iface.consecutiveFailures, 1);
});

test('a window held by another run (run-now or a UI trigger racing the schedule) is not a failure: nothing marked, counted or alerted', async () => {
  const { store, ledger, alerter, schedules, record } = setup();
  const claimLost = {
    type: FailureTypes.claimLost,
    message: 'delivery 7 is held by run barcodes-1-42-scheduled',
    permanent: true,
  };
  for (let i = 0; i < PAUSE_AFTER * 2; i++) {
    assert.deepEqual(await record(outcomeOf(claimLost)), { paused: false });
    assert.deepEqual(await record({ ...outcomeOf(claimLost, null), workflowId: 'barcodes-1-42-now' }), {
      paused: false,
    });
  }

  assert.equal(store.iface.consecutiveFailures, 0);
  assert.equal(store.iface.enabled, true);
  assert.deepEqual(ledger.failed, [], "the other run's window is not marked failed");
  assert.deepEqual(schedules.realigned, []);
  assert.deepEqual(alerter.alerts, []);
});
