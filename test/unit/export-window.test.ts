/**
 * exportWindow's windows and input versions, against fake activities on a local Temporal server:
 * what the workflow asks of each activity, what it returns, what it shows in the UI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ExportWindowInput, ExportWindowResult } from '../../workflows/boundary';
import { DeliveryStatusKey, TicketCountKey, WindowEndKey, WindowStartKey } from '../../workflows/boundary';
import { startLocalTemporal } from './support/local-temporal';
import { scriptedActivities, windowSummary } from './support/scripted-activities';
import { runScheduled, runWorkflow } from './support/workflow-run';

const V3: ExportWindowInput = { interfaceId: 42, version: 3, deploymentId: 'dep-a', configVersion: 5 };

describe('exportWindow', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startLocalTemporal();
  });
  after(async () => {
    await env?.teardown();
  });

  test('a fresh window is frozen, then sent, and the run returns its end as the watermark', async () => {
    const fresh = windowSummary({ status: 'pending', deliveryId: 7, ticketCount: 3 });
    const { activities, calls } = scriptedActivities({ freezes: [fresh] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.equal(run.failure, undefined);
    assert.deepEqual(run.result, {
      interfaceId: 42,
      windows: [{ ...fresh, status: 'sent' }],
      windowEnd: fresh.windowEnd,
    });
    // A fresh window ends the run: no second freeze, which would open the next window too early.
    assert.equal(calls.freezeWindow.length, 1);
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 7, workflowId: run.workflowId }]);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'sent');
    assert.equal(run.searchAttributes.get(TicketCountKey), 3);
    assert.equal(run.searchAttributes.get(WindowStartKey)?.toISOString(), fresh.windowStart);
    assert.equal(run.searchAttributes.get(WindowEndKey)?.toISOString(), fresh.windowEnd);
  });

  test('a window frozen by an earlier run is sent unchanged first, then the next one is opened from its end', async () => {
    const pending = windowSummary({
      status: 'failed',
      deliveryId: 7,
      resumed: true,
      windowStart: '2026-05-01T10:00:00.000Z',
      windowEnd: '2026-05-01T10:15:00.000Z',
    });
    const next = windowSummary({
      status: 'pending',
      deliveryId: 8,
      windowStart: '2026-05-01T10:15:00.000Z',
      windowEnd: '2026-05-01T10:30:00.000Z',
    });
    const { activities, calls } = scriptedActivities({ freezes: [pending, next] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.deepEqual(
      calls.sendDelivery.map((call) => call.deliveryId),
      [7, 8],
    );
    assert.deepEqual(
      calls.freezeWindow.map((call) => call.lastWindowEnd),
      [null, pending.windowEnd],
    );
    assert.deepEqual(
      run.result?.windows.map((window) => [window.deliveryId, window.status]),
      [
        [7, 'sent'],
        [8, 'sent'],
      ],
    );
    assert.equal(run.result?.windowEnd, next.windowEnd);
    assert.equal(run.searchAttributes.get(WindowEndKey)?.toISOString(), next.windowEnd);
  });

  test('nothing due: nothing is sent, and the watermark is the one freezeWindow reports', async () => {
    const { activities, calls } = scriptedActivities({
      freezes: [windowSummary({ status: 'nothing-due', deliveryId: null, ticketCount: 0, partCount: 0 })],
    });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.deepEqual(run.result, { interfaceId: 42, windows: [], windowEnd: '2026-05-01T10:15:00.000Z' });
    assert.deepEqual(calls.sendDelivery, []);
    assert.deepEqual(calls.recordWindowOutcome, []);
    // No window, so nothing to show: a status here would claim a delivery that never happened.
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), undefined);
  });

  test('an empty window is finished by freezeWindow: no send, shown as empty', async () => {
    const empty = windowSummary({ status: 'empty', ticketCount: 0, partCount: 0 });
    const { activities, calls } = scriptedActivities({ freezes: [empty] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    assert.deepEqual(run.result?.windows, [empty]);
    assert.deepEqual(calls.sendDelivery, []);
    assert.equal(run.searchAttributes.get(DeliveryStatusKey), 'empty');
  });

  test('input version 1 (schedules of older releases) records its success with recordWindowOutcome', async () => {
    const fresh = windowSummary({ status: 'pending' });
    const { activities, calls } = scriptedActivities({ freezes: [fresh] });
    await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', { interfaceId: 42 });

    assert.deepEqual(calls.recordWindowOutcome, [
      { interfaceId: 42, deliveryId: null, windowEnd: fresh.windowEnd },
    ]);
    // Version 1 knows nothing of deployments or claims.
    assert.equal('deploymentId' in calls.freezeWindow[0]!, false);
    assert.equal('configVersion' in calls.freezeWindow[0]!, false);
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 7 }]);
  });

  test('input version 2: the activities record success themselves, so no recordWindowOutcome; no deployment, no claim', async () => {
    const { activities, calls } = scriptedActivities({ freezes: [windowSummary({ status: 'pending' })] });
    await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', {
      interfaceId: 42,
      version: 2,
      deploymentId: 'dep-a',
      configVersion: 5,
    });

    assert.deepEqual(calls.recordWindowOutcome, []);
    assert.equal('deploymentId' in calls.freezeWindow[0]!, false);
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 7 }]);
  });

  test('input version 3 passes deployment and configuration version to freezeWindow and its run id to sendDelivery', async () => {
    const { activities, calls } = scriptedActivities({ freezes: [windowSummary({ status: 'pending' })] });
    const run = await runWorkflow<ExportWindowResult>(env, activities, 'exportWindow', V3);

    const freeze = calls.freezeWindow[0]!;
    assert.deepEqual(
      { ...freeze, scheduledAt: undefined },
      {
        interfaceId: 42,
        scheduledAt: undefined,
        lastWindowEnd: null,
        workflowId: run.workflowId,
        deploymentId: 'dep-a',
        configVersion: 5,
      },
    );
    // Started by hand, not by a schedule: the run's start time stands in for the scheduled time.
    assert.ok(!Number.isNaN(Date.parse(freeze.scheduledAt)), freeze.scheduledAt);
    assert.deepEqual(calls.sendDelivery, [{ deliveryId: 7, workflowId: run.workflowId }]);
    assert.deepEqual(calls.recordWindowOutcome, []);
  });

  test("a scheduled run passes the previous run's watermark (lastResult) and the scheduled time to freezeWindow", async () => {
    const first = windowSummary({
      status: 'pending',
      deliveryId: 7,
      windowStart: '2026-05-01T10:00:00.000Z',
      windowEnd: '2026-05-01T10:15:00.000Z',
    });
    const second = windowSummary({
      status: 'pending',
      deliveryId: 8,
      windowStart: '2026-05-01T10:15:00.000Z',
      windowEnd: '2026-05-01T10:30:00.000Z',
    });
    const { activities, calls } = scriptedActivities({ freezes: [first, second] });
    const runs = await runScheduled<ExportWindowResult>(env, activities, V3, 2);

    assert.deepEqual(
      calls.freezeWindow.map((call) => call.lastWindowEnd),
      [null, first.windowEnd],
    );
    assert.equal(runs[1]!.result.windowEnd, second.windowEnd);
    for (const [i, run] of runs.entries()) {
      assert.ok(run.scheduledAt, "a schedule's run carries TemporalScheduledStartTime");
      assert.equal(calls.freezeWindow[i]!.scheduledAt, run.scheduledAt.toISOString());
    }
  });
});
