/**
 * exportWindow from input version 4 on: the whole run is one activity (exportWindows, the real
 * composition of the scripted freeze and send) and one search-attribute update at its end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { FailureTypes } from '../../workflows/boundary';
import type { ExportWindowInput, ExportWindowResult } from '../../workflows/boundary';
import { DeliveryStatusKey, InterfaceIdKey, TicketCountKey, WindowEndKey } from '../../workflows/boundary';
import { startLocalTemporal } from './support/local-temporal';
import { permanentFailure, scriptedActivities, windowSummary } from './support/scripted-activities';
import { runWorkflow } from './support/workflow-run';

const V4: ExportWindowInput = { interfaceId: 42, version: 4, deploymentId: 'dep-a', configVersion: 5 };

describe('exportWindow, input version 4', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startLocalTemporal();
  });
  after(async () => {
    await env?.teardown();
  });

  test('one activity freezes and sends; the run shows the window once it is sent', async () => {
    const fresh = windowSummary({ status: 'pending', deliveryId: 7, ticketCount: 3 });
    const { activities, calls } = scriptedActivities({ freezes: [fresh] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.equal(run.failure, undefined);
    assert.deepEqual(run.result, {
      interfaceId: 42,
      windows: [{ ...fresh, status: 'sent' }],
      windowEnd: fresh.windowEnd,
    });
    assert.equal(calls.exportWindows.length, 1);
    assert.deepEqual(calls.exportWindows[0], {
      interfaceId: 42,
      scheduledAt: calls.exportWindows[0]!.scheduledAt,
      lastWindowEnd: null,
      workflowId: run.workflowId,
      deploymentId: 'dep-a',
      configVersion: 5,
    });
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 7, workflowId: run.workflowId }]);
    assert.deepEqual(calls.recordWindowOutcome, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'sent');
    assert.equal(run.searchAttributes.get(TicketCountKey), 3);
  });

  test('a pending window is sent unchanged first, then the next one, in the same activity', async () => {
    const pending = windowSummary({
      status: 'failed',
      deliveryId: 7,
      resumed: true,
      windowEnd: '2026-05-01T10:15:00.000Z',
    });
    const next = windowSummary({
      status: 'pending',
      deliveryId: 8,
      windowStart: '2026-05-01T10:15:00.000Z',
      windowEnd: '2026-05-01T10:30:00.000Z',
    });
    const { activities, calls } = scriptedActivities({ freezes: [pending, next] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.equal(calls.exportWindows.length, 1);
    assert.deepEqual(
      calls.sendDelivery.map((call) => call.deliveryId),
      [7, 8],
    );
    assert.deepEqual(
      calls.freezeWindow.map((call) => call.lastWindowEnd),
      [null, pending.windowEnd],
    );
    assert.equal(run.result?.windowEnd, next.windowEnd);
    assert.equal(run.searchAttributes.get(WindowEndKey)?.toISOString(), next.windowEnd);
  });

  test('nothing due: no send and no search-attribute update', async () => {
    const { activities, calls } = scriptedActivities({
      freezes: [windowSummary({ status: 'nothing-due', deliveryId: null, ticketCount: 0, partCount: 0 })],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.deepEqual(run.result, { interfaceId: 42, windows: [], windowEnd: '2026-05-01T10:15:00.000Z' });
    assert.deepEqual(calls.sendDelivery, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), undefined);
  });

  test('refused: the run fails as RunRefused, shows "refused", and records no window failure', async () => {
    const refused = windowSummary({
      status: 'refused',
      deliveryId: null,
      ticketCount: 0,
      partCount: 0,
      reason: 'interface 42 is disabled',
    });
    const { activities, calls } = scriptedActivities({ freezes: [refused] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.ok(run.failure?.cause instanceof ApplicationFailure);
    assert.equal(run.failure.cause.type, FailureTypes.runRefused);
    assert.match(run.failure.cause.message, /interface 42 is disabled/);
    assert.deepEqual(calls.recordWindowOutcome, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'refused');
    assert.equal(run.searchAttributes.get(InterfaceIdKey), '42');
  });

  test('busy: the run ends without sending and shows "busy"', async () => {
    const busy = windowSummary({
      status: 'busy',
      deliveryId: null,
      ticketCount: 0,
      partCount: 0,
      reason: 'run x holds window 7',
    });
    const { activities, calls } = scriptedActivities({ freezes: [busy] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.equal(run.failure, undefined);
    assert.deepEqual(calls.sendDelivery, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'busy');
  });

  test('a failure is recorded by the run (its claim names the window), shown as failed, and fails the run', async () => {
    const fresh = windowSummary({ status: 'pending', deliveryId: 7 });
    const { activities, calls } = scriptedActivities({
      freezes: [fresh],
      sends: [permanentFailure(FailureTypes.smtpPermanent, 'SMTP 550')],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V4);

    assert.ok(run.failure);
    const cause = run.failure.cause instanceof ActivityFailure ? run.failure.cause.cause : run.failure.cause;
    assert.ok(cause instanceof ApplicationFailure && cause.type === FailureTypes.smtpPermanent);
    assert.equal(calls.recordWindowOutcome.length, 1);
    const outcome = calls.recordWindowOutcome[0]!;
    assert.equal(outcome.deliveryId, null);
    assert.equal(outcome.workflowId, run.workflowId);
    assert.equal(outcome.failure?.type, FailureTypes.smtpPermanent);
    assert.equal(outcome.failure?.permanent, true);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'failed');
    assert.equal(run.searchAttributes.get(InterfaceIdKey), '42');
  });
});
