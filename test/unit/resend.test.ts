/**
 * The resend workflow against fake activities on a local Temporal server: it prepares a copy of
 * a stored delivery, sends it once, and shows it as sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WindowSummary } from '../../workflows/boundary';
import { DeliveryStatusKey, WindowEndKey } from '../../workflows/boundary';
import { startLocalTemporal } from './support/local-temporal';
import { scriptedActivities, windowSummary } from './support/scripted-activities';
import { runWorkflow } from './support/workflow-run';

describe('resend', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startLocalTemporal();
  });
  after(async () => {
    await env?.teardown();
  });

  test("prepares a copy of the delivery under the run's id, sends the copy, and shows it as sent", async () => {
    const copy = windowSummary({ kind: 'resend', status: 'pending', deliveryId: 12 });
    const { activities, calls } = scriptedActivities({ prepared: copy });
    const run = await runWorkflow<WindowSummary>(env, activities, 'resend', { deliveryId: 7 });

    assert.deepEqual(calls.prepareResend, [{ deliveryId: 7, workflowId: run.workflowId }]);
    // The copy is sent, never the original: the original keeps its own Message-ID and record.
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 12 }]);
    assert.deepEqual(run.result, { ...copy, status: 'sent' });
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'sent');
    assert.equal(run.searchAttributes.get(WindowEndKey)?.toISOString(), copy.windowEnd);
    assert.deepEqual(calls.recordWindowOutcome, []);
  });

  test('a copy already sent (the run is being retried) is not sent again', async () => {
    const copy = windowSummary({ kind: 'resend', status: 'sent', deliveryId: 12, resumed: true });
    const { activities, calls } = scriptedActivities({ prepared: copy });
    const run = await runWorkflow<WindowSummary>(env, activities, 'resend', { deliveryId: 7 });

    assert.deepEqual(calls.sendDelivery, []);
    assert.equal(run.result?.status, 'sent');
  });
});
