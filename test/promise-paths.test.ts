import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError, type ScheduleDescription } from '@temporalio/client';
import { TestStack } from './support/stack';
import { deliveredBarCodes, filesFor } from './support/mail';
import { barcodes, cliEnv } from './support/cli';
import { insertSale } from '../devstack/sales-simulator';
import { msToTs } from '@temporalio/common/lib/time';
import type { TypedSearchAttributes } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES, InterfaceIdKey, InterfaceNameKey } from '../workflows/boundary';
import { migrate } from '../lib/db/migrate';
import { InterfaceStore } from '../lib/interfaces/store';
import { readDeploymentId } from '../lib/deployment';
import { scheduleIdFor } from '../lib/schedules/schedule-id';
import { syncSchedules } from '../lib/schedules/sync';

// The promise on the paths operators use every day, beyond the fault suite's crashes: run-now,
// the Temporal UI's buttons, disable, configuration races, failures before a window exists.

let stack: TestStack;
let env: NodeJS.ProcessEnv;

before(async () => {
  stack = await TestStack.start();
  env = cliEnv(stack.config);
});
after(async () => {
  await stack?.close();
});

const sell = (contactNumber: string | null, salesChannelCode: string, ticketCount = 2) =>
  insertSale(stack.pool, stack.config.ticketingSchema, { contactNumber, salesChannelCode, ticketCount });
const sorted = (values: string[]) => [...values].sort();
const schedule = (interfaceId: number) => stack.client.schedule.getHandle(stack.scheduleId(interfaceId));

/** Workflow ids the schedule has started so far. */
async function startedRuns(interfaceId: number): Promise<string[]> {
  const description = await schedule(interfaceId).describe();
  return [
    ...description.info.recentActions.map((action) => action.action.workflow.workflowId),
    ...description.info.runningActions.map((run) => run.workflow.workflowId),
  ];
}

/** Waits until every run the schedule started has ended; returns how each ended. */
async function settledRuns(
  interfaceId: number,
  expected: number,
): Promise<{ workflowId: string; error?: Error }[]> {
  let ids: string[] = [];
  await waitUntil(
    async () => (ids = [...new Set(await startedRuns(interfaceId))]).length >= expected,
    30_000,
  );
  return Promise.all(
    ids.map(async (workflowId) => {
      try {
        await stack.client.workflow.getHandle(workflowId).result();
        return { workflowId };
      } catch (error) {
        return { workflowId, error: error as Error };
      }
    }),
  );
}

function causeOf(error: Error | undefined): string {
  if (error instanceof WorkflowFailedError)
    return `${(error.cause as Error | undefined)?.message ?? error.message}`;
  return error?.message ?? '';
}

test('runs asked for while no worker polls (barcodes run, UI triggers) deliver the window once when a worker comes', async () => {
  const iface = await stack.createInterface({ recipients: ['queued@reseller.test'], contacts: ['C-1001'] });
  const sold = await sell('C-1001', 'WEB', 3);
  // Two `barcodes run` give up waiting (no worker) and leave their runs queued…
  for (let attempt = 0; attempt < 2; attempt++) {
    const run = await barcodes(['run', String(iface.id), '--timeout', '2s'], env);
    assert.equal(run.code, 4, run.stderr);
  }
  // …and two presses of the UI's Trigger button (the SDK's and UI's default overlap: allow all).
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  await schedule(iface.id).trigger();
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  await schedule(iface.id).trigger();
  await stack.startWorker();
  const runs = await settledRuns(iface.id, 2);
  assert.ok(
    runs.every((run) => !run.error),
    runs.map((run) => causeOf(run.error)).join('; '),
  );
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'queued@reseller.test')),
    sorted(sold.map((ticket) => ticket.barCode)),
    'each ticket once',
  );
  assert.equal(filesFor(stack.sink, 'queued@reseller.test').length, 1, 'one email');
});

test('a disabled interface exports nothing when its schedule is unpaused and triggered by hand; the schedule is paused again', async () => {
  const iface = await stack.createInterface({ recipients: ['disabled@reseller.test'], contacts: ['C-1002'] });
  await sell('C-1002', 'WEB', 2);
  const disabled = await barcodes(['interface', 'disable', String(iface.id)], env);
  assert.equal(disabled.code, 0, disabled.stderr);
  // What the Temporal UI's Unpause and Trigger buttons (or `temporal schedule trigger`) do.
  await schedule(iface.id).unpause('pressed in the UI');
  const before = (await startedRuns(iface.id)).length;
  await schedule(iface.id).trigger();
  const runs = await settledRuns(iface.id, before + 1);
  const refused = runs.at(-1)!;
  assert.match(causeOf(refused.error), /run refused, nothing exported: interface \d+ is disabled/);
  assert.equal(filesFor(stack.sink, 'disabled@reseller.test').length, 0, 'nothing sent');
  assert.equal((await stack.ledger.list(iface.id)).length, 0, 'no window opened');
  const description = await schedule(iface.id).describe();
  assert.equal(description.state.paused, true, 'paused again');
  assert.match(description.state.note ?? '', /disabled/);
  const shown = await barcodes(['interface', 'show', String(iface.id), '--json'], env);
  assert.match(JSON.parse(shown.stdout).refusedRun.reason, /is disabled/);
  await waitUntil(async () => (await statusOf(refused.workflowId)) === 'refused', 20_000);
});

test('a disable that never reached Temporal (unreachable at the time) is enforced by the worker', async () => {
  const iface = await stack.createInterface({
    recipients: ['unreached@reseller.test'],
    contacts: ['C-1002'],
  });
  await sell('C-1002', 'WEB', 1);
  // The change is committed; Temporal is not told (as when it was unreachable).
  await stack.store.update(iface.id, { enabled: false }, 'test', 'disable');
  assert.equal((await schedule(iface.id).describe()).state.paused, false, 'the schedule is stale');
  await assert.rejects(stack.runNow(iface.id), /run refused, nothing exported: interface \d+ is disabled/);
  assert.equal(filesFor(stack.sink, 'unreached@reseller.test').length, 0);
  assert.equal((await schedule(iface.id).describe()).state.paused, true, 'the worker paused it');
});

test('a run made from an older configuration is refused, the schedule is rewritten from the database, and the next run delivers', async () => {
  const iface = await stack.createInterface({ recipients: ['stale@reseller.test'], contacts: ['C-1002'] });
  const sold = await sell('C-1002', 'WEB', 2);
  const changed = await stack.store.update(iface.id, { intervalSeconds: 1800 }, 'test');
  await assert.rejects(
    stack.runNow(iface.id),
    /configuration version 1 .* now at version 2 \(stale schedule\)/,
  );
  const rewritten = await schedule(iface.id).describe();
  assert.equal(rewritten.spec.intervals?.[0]?.every, 1_800_000);
  assert.equal(
    (rewritten.action.args as { configVersion: number }[])[0]!.configVersion,
    changed.configVersion,
  );
  await stack.runNow(iface.id);
  assert.deepEqual(
    sorted(deliveredBarCodes(stack.sink, 'stale@reseller.test')),
    sorted(sold.map((ticket) => ticket.barCode)),
  );
});

test('a self-paused interface unpaused in the UI is refused once and paused again, not failed every interval', async () => {
  const iface = await stack.createInterface({
    recipients: ['selfpaused@reseller.test'],
    contacts: ['C-1002'],
  });
  await stack.pool.query(
    `UPDATE ${stack.config.exporterSchema}.interface SET enabled = false, paused_reason = 'paused itself after 3 consecutive failed windows', config_version = config_version + 1 WHERE id = $1`,
    [iface.id],
  );
  await stack.syncSchedules();
  await schedule(iface.id).unpause('pressed in the UI');
  await assert.rejects(stack.runNow(iface.id), /is paused: paused itself after 3 consecutive failed windows/);
  const description = await schedule(iface.id).describe();
  assert.equal(description.state.paused, true);
  assert.match(description.state.note ?? '', /paused itself/);
  assert.equal(
    (await stack.store.get(iface.id)).consecutiveFailures,
    0,
    'a refused run is no window failure',
  );
});

test('concurrent interface commands from several shells end with the schedule equal to the database', async () => {
  const iface = await stack.createInterface({ recipients: ['race@reseller.test'], contacts: ['C-1002'] });
  const commands = [
    ['interface', 'update', String(iface.id), '--every', '2m'],
    ['interface', 'disable', String(iface.id)],
    ['interface', 'update', String(iface.id), '--every', '3m'],
    ['interface', 'enable', String(iface.id)],
    ['interface', 'update', String(iface.id), '--every', '4m'],
    ['interface', 'disable', String(iface.id)],
    ['mapping', 'add', String(iface.id), '--channel', 'BOX'],
    ['interface', 'update', String(iface.id), '--every', '5m'],
  ];
  for (let round = 0; round < 2; round++) {
    const results = await Promise.all(commands.map((args) => barcodes(args, env)));
    for (const result of results)
      assert.ok(result.code === 0 || /already mapped/.test(result.stderr), result.stderr);
    const current = await stack.store.get(iface.id);
    const description = await schedule(iface.id).describe();
    assert.deepEqual(scheduleView(description), {
      paused: !current.enabled,
      everyMillis: current.intervalSeconds * 1000,
      configVersion: current.configVersion,
    });
  }
  const doctor = await barcodes(['doctor', '--json'], env);
  const drift = JSON.parse(doctor.stdout).find((check: { name: string }) => check.name === 'schedules');
  assert.ok(drift?.ok, drift?.detail);
});

test('a run that fails before it reaches a window still shows its interface and status in the Temporal UI', async () => {
  const iface = await stack.createInterface({ recipients: ['early@reseller.test'], contacts: ['C-1002'] });
  // A stored format this release cannot read: the run fails before any window is opened.
  await stack.pool.query(
    `UPDATE ${stack.config.exporterSchema}.interface SET format = '{"columns": 7}' WHERE id = $1`,
    [iface.id],
  );
  const run = stack.runNow(iface.id).catch((error: Error) => error);
  const failed = await run;
  assert.ok(failed instanceof Error, 'the run failed');
  await waitUntil(async () => {
    for await (const execution of stack.client.workflow.list({
      query: `BarcodesInterfaceId = "${iface.id}" AND BarcodesDeliveryStatus = "failed"`,
    })) {
      if (execution.status.name === 'FAILED') return true;
    }
    return false;
  }, 20_000);
});

test('the Temporal UI names the reseller: schedule and runs carry the name, a rename reaches them, and an older schedule is brought up to date once', async () => {
  const iface = await stack.createInterface({
    name: 'Acme Tickets',
    recipients: ['named@reseller.test'],
    contacts: ['C-1001'],
  });
  const shown = (description: ScheduleDescription) => ({
    schedule: description.typedSearchAttributes.get(InterfaceNameKey),
    runs: (description.action.typedSearchAttributes as TypedSearchAttributes).get(InterfaceNameKey),
    runId: (description.action.typedSearchAttributes as TypedSearchAttributes).get(InterfaceIdKey),
    summary: description.action.staticSummary,
  });
  assert.deepEqual(shown(await schedule(iface.id).describe()), {
    schedule: 'Acme Tickets',
    runs: 'Acme Tickets',
    runId: String(iface.id),
    summary: `Barcodes for Acme Tickets (interface ${iface.id})`,
  });
  if (stack.workers.length === 0) await stack.startWorker(); // when run alone
  await stack.runNow(iface.id);
  const run = await stack.client.workflow
    .list({ query: `BarcodesInterfaceId = "${iface.id}"` })
    [Symbol.asyncIterator]()
    .next();
  assert.equal(
    run.value.typedSearchAttributes.get(InterfaceNameKey),
    'Acme Tickets',
    'the run is listed with its name',
  );

  await stack.store.update(iface.id, { name: 'Acme Resale' }, 'test');
  const renamed = await stack.syncSchedules();
  assert.deepEqual(
    renamed.changes.map((change) => change.action),
    ['updated'],
  );
  const { schedule: _applyingLater, ...action } = shown(await schedule(iface.id).describe());
  assert.deepEqual(action, {
    runs: 'Acme Resale',
    runId: String(iface.id),
    summary: `Barcodes for Acme Resale (interface ${iface.id})`,
  });
  assert.deepEqual((await stack.syncSchedules()).changes, [], 'a second sync has nothing to do');
  // The schedule's own attributes (the Schedules list's columns) follow once the server applied the update.
  await waitUntil(async () => shown(await schedule(iface.id).describe()).schedule === 'Acme Resale', 20_000);

  // As an earlier release wrote it: no name anywhere but in the memo.
  await schedule(iface.id).update((previous) => ({
    ...previous,
    action: {
      ...previous.action,
      staticSummary: undefined,
      typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
    },
    searchAttributes: undefined,
    typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
  }));
  const upgraded = await stack.syncSchedules();
  assert.deepEqual(
    upgraded.changes.map((change) => `${change.action}: ${change.detail}`),
    ['updated: name "Acme Resale" in the UI'],
  );
  assert.deepEqual((await stack.syncSchedules()).changes, [], 'a second sync has nothing to do');
  await waitUntil(async () => shown(await schedule(iface.id).describe()).schedule === 'Acme Resale', 20_000);
});

test('interface create on a namespace without the search attributes registers them and schedules the interface', async () => {
  const namespace = `bare-${Date.now()}`;
  await stack.client.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  const bareEnv = { ...env, TEMPORAL_NAMESPACE: namespace };
  await waitUntil(
    async () => (await barcodes(['doctor', '--json'], bareEnv)).stdout.includes(`namespace ${namespace}`),
    20_000,
  );
  const created = await barcodes(
    [
      'interface',
      'create',
      '--name',
      'Bare namespace',
      '--email',
      'bare@reseller.test',
      '--contact',
      'C-1001',
      '--json',
    ],
    bareEnv,
  );
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /registered search attributes/);
  const id = JSON.parse(created.stdout).id as number;
  const listed = await stack.client.connection.operatorService.listSearchAttributes({ namespace });
  for (const key of ALL_SEARCH_ATTRIBUTES) assert.ok(key.name in (listed.customAttributes ?? {}), key.name);
  const described = await stack.client.connection.workflowService.describeSchedule({
    namespace,
    scheduleId: stack.scheduleId(id),
  });
  assert.ok(described.schedule, 'scheduled in the bare namespace');
  await stack.client.connection.workflowService.deleteSchedule({
    namespace,
    scheduleId: stack.scheduleId(id),
  });
  await stack.store.delete(id, 'test');
});

test("two deployments on one namespace never touch each other's schedules, and a worker exports nothing of the other's runs", async () => {
  const ours = await stack.createInterface({ recipients: ['ours@reseller.test'], contacts: ['C-1001'] });
  // A second deployment: its own exporter tables (here a schema of their own), the same namespace and task queue.
  const otherSchema = `barcode_export_other_${Date.now() % 100_000}`;
  await migrate(stack.pool, stack.pool, {
    exporterSchema: otherSchema,
    ticketingSchema: stack.config.ticketingSchema,
    withSource: false,
  });
  await stack.pool.query(`ALTER TABLE ${otherSchema}.interface ALTER COLUMN id RESTART WITH ${ours.id}`);
  const otherStore = new InterfaceStore(stack.pool, otherSchema);
  const theirs = await otherStore.create(
    {
      name: 'Other deployment',
      recipients: ['theirs@reseller.test'],
      intervalSeconds: 3600,
      lagSeconds: 0,
      timeZone: 'UTC',
      format: null,
      startAt: new Date(),
      enabled: true,
      alertEmail: null,
    },
    { contacts: ['C-1001'], channels: [] },
    'test',
  );
  assert.equal(theirs.id, ours.id, 'the same interface id in both deployments');
  const otherScope = { ...stack.scope, deploymentId: await readDeploymentId(stack.pool, otherSchema) };
  assert.notEqual(otherScope.deploymentId, stack.deploymentId);
  await syncSchedules(otherScope, otherStore);
  const otherScheduleId = scheduleIdFor(otherScope.deploymentId, theirs.id);
  try {
    const report = await stack.syncSchedules();
    assert.ok(
      !report.changes.some((change) => change.scheduleId === otherScheduleId),
      JSON.stringify(report.changes),
    );
    assert.equal(
      ((await stack.client.schedule.getHandle(otherScheduleId).describe()).memo as { deploymentId: string })
        .deploymentId,
      otherScope.deploymentId,
    );
    assert.equal(
      ((await schedule(ours.id).describe()).memo as { deploymentId: string }).deploymentId,
      stack.deploymentId,
    );

    // The other deployment's run reaches our worker (shared task queue): nothing is exported here.
    await sell('C-1001', 'WEB', 1);
    await stack.client.schedule.getHandle(otherScheduleId).trigger();
    await waitUntil(
      async () =>
        (await stack.client.schedule.getHandle(otherScheduleId).describe()).info.recentActions.length > 0,
      20_000,
    );
    const runId = (await stack.client.schedule.getHandle(otherScheduleId).describe()).info.recentActions[0]!
      .action.workflow.workflowId;
    await waitUntil(async () => {
      // A retried activity's failure is on the pending activity, not yet in the history.
      const description = await stack.client.workflow.getHandle(runId).describe();
      return JSON.stringify(description.raw.pendingActivities ?? []).includes('WrongDeployment');
    }, 30_000);
    assert.equal((await stack.ledger.list(ours.id)).length, 0, 'no window of ours was opened for their run');
    assert.equal(
      filesFor(stack.sink, 'ours@reseller.test').length + filesFor(stack.sink, 'theirs@reseller.test').length,
      0,
    );
    await stack.client.workflow.getHandle(runId).terminate('test over');
  } finally {
    await stack.client.schedule
      .getHandle(otherScheduleId)
      .delete()
      .catch(() => {});
  }
});

function scheduleView(description: ScheduleDescription) {
  return {
    paused: description.state.paused,
    everyMillis: description.spec.intervals?.[0]?.every,
    configVersion: (description.action.args as { configVersion?: number }[])[0]?.configVersion,
  };
}

async function statusOf(workflowId: string): Promise<unknown> {
  const description = await stack.client.workflow.getHandle(workflowId).describe();
  return description.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'BarcodesDeliveryStatus')
    ?.value;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMillis} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
