import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { workflowBundle } from './support/stack';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'histories');

// Histories recorded from real runs (test/support/record-histories.ts). A workflow change that
// would break a run already in flight on a schedule makes replay fail here: version it (a new input version, EXPORT_WINDOW_INPUT_VERSION in workflows/boundary.ts) and record new fixtures.
test('recorded workflow histories replay deterministically against the current workflow code', async () => {
  const files = fs
    .readdirSync(FIXTURES)
    .filter((file) => file.endsWith('.history.pb'))
    .sort();
  assert.ok(files.length >= 5, `expected recorded histories in ${FIXTURES}`);
  const histories = files.map((file) => ({
    workflowId: file,
    history: temporal.api.history.v1.History.decode(fs.readFileSync(path.join(FIXTURES, file))),
  }));
  const bundle = await workflowBundle();
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
});
