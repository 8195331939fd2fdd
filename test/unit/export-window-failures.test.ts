/**
 * How exportWindow ends when it cannot deliver: a refused run, a busy window, a failed activity.
 * Fake activities on a local Temporal server; what matters is what the run records (and what it
 * must not record) and how it looks in the Temporal UI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { FailureTypes } from '../../workflows/boundary';
import type { ExportWindowInput, ExportWindowResult } from '../../workflows/boundary';
import { DeliveryStatusKey, InterfaceIdKey, WindowEndKey } from '../../workflows/boundary';
import { startLocalTemporal } from './support/local-temporal';
import { permanentFailure, scriptedActivities, windowSummary } from './support/scripted-activities';
import { runWorkflow, type WorkflowRun } from './support/workflow-run';

const V3: ExportWindowInput = { interfaceId: 42, version: 3, deploymentId: 'dep-a', configVersion: 5 };

/** The application failure at the bottom of a failed run (through the activity failure, if any). */
function rootFailure(run: WorkflowRun<unknown>): ApplicationFailure {
  assert.ok(run.failure, 'the run should have failed');
  const cause = run.failure.cause instanceof ActivityFailure ? run.failure.cause.cause : run.failure.cause;
  assert.ok(cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(cause)}`);
  return cause;
}

describe('exportWindow when it cannot deliver', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startLocalTemporal();
  });
  after(async () => {
    await env?.teardown();
  });

  test('a refused run fails as RunRefused, shows "refused", and counts toward nothing', async () => {
    const refused = windowSummary({
      status: 'refused',
      deliveryId: null,
      ticketCount: 0,
      partCount: 0,
      reason: 'interface 42 is disabled',
    });
    const { activities, calls } = scriptedActivities({ freezes: [refused] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    const failure = rootFailure(run);
    assert.equal(failure.type, FailureTypes.runRefused);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /interface 42 is disabled/);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'refused');
    assert.equal(run.searchAttributes.get(InterfaceIdKey), '42');
    // Not a window failure: recording it would count toward pausing the interface.
    assert.deepEqual(calls.recordWindowOutcome, []);
    assert.deepEqual(calls.sendDelivery, []);
  });

  test('a busy window (another run holds it) ends the run without sending, shown as "busy"', async () => {
    const busy = windowSummary({ status: 'busy', deliveryId: null, reason: 'run other holds window 7' });
    const { activities, calls } = scriptedActivities({ freezes: [busy] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.equal(run.failure, undefined);
    assert.deepEqual(run.result, { interfaceId: 42, windows: [], windowEnd: null });
    assert.deepEqual(calls.sendDelivery, []);
    assert.deepEqual(calls.recordWindowOutcome, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'busy');
  });

  test('a permanent send failure is recorded with its window and type, marked permanent, and fails the run', async () => {
    const fresh = windowSummary({ status: 'pending', deliveryId: 7 });
    const { activities, calls } = scriptedActivities({
      freezes: [fresh],
      sends: [permanentFailure(FailureTypes.smtpPermanent, 'SMTP refused: 550 no such user')],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', { ...V3 });

    assert.equal(rootFailure(run).type, FailureTypes.smtpPermanent);
    assert.deepEqual(calls.recordWindowOutcome, [
      {
        interfaceId: 42,
        deliveryId: 7,
        // The run moved nothing: the watermark stays where the previous run left it (none here).
        windowEnd: null,
        failure: {
          type: FailureTypes.smtpPermanent,
          message: 'SMTP refused: 550 no such user',
          permanent: true,
        },
      },
    ]);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'failed');
    assert.equal(run.searchAttributes.get(WindowEndKey)?.toISOString(), fresh.windowEnd);
  });

  test('a version 3 run failing before any window still shows its interface and "failed"', async () => {
    const { activities, calls } = scriptedActivities({
      freezes: [permanentFailure(FailureTypes.invalidConfiguration)],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.equal(rootFailure(run).type, FailureTypes.invalidConfiguration);
    assert.equal(run.searchAttributes.get(InterfaceIdKey), '42');
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'failed');
    assert.deepEqual(calls.recordWindowOutcome, [
      {
        interfaceId: 42,
        deliveryId: null,
        windowEnd: null,
        failure: {
          type: FailureTypes.invalidConfiguration,
          message: 'InvalidConfiguration in a test',
          permanent: true,
        },
      },
    ]);
  });

  test('a version 2 run failing before any window upserts nothing (its recorded histories have no such event)', async () => {
    const { activities, calls } = scriptedActivities({
      freezes: [permanentFailure(FailureTypes.invalidConfiguration)],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', {
      interfaceId: 42,
      version: 2,
    });

    assert.equal(rootFailure(run).type, FailureTypes.invalidConfiguration);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), undefined);
    assert.equal(calls.recordWindowOutcome.length, 1);
  });
});
