/**
 * A local Temporal server for the fast workflow tests: the dev server of the Temporal CLI the
 * project already provisions (devstack/temporal-cli.ts), started by the SDK's test environment.
 * `createTimeSkipping` would download its own binary, which these machines cannot do.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundle } from '@temporalio/worker';
import { locateTemporalCli } from '../../../devstack/temporal-cli';
import { ALL_SEARCH_ATTRIBUTES } from '../../../workflows/boundary';

/** The compiled workflows folder, as the worker loads it (worker/worker.ts WORKFLOWS_PATH). */
const WORKFLOWS_PATH = require.resolve('../../../workflows');

const quietLog = (line: string) => {
  // Only the slow path (installing the CLI) is worth a line in a test run.
  if (/install/i.test(line)) process.stderr.write(`# ${line}\n`);
};

/** One server per test file: starting it costs a second or two, a test run costs milliseconds. */
export async function startLocalTemporal(): Promise<TestWorkflowEnvironment> {
  // Workers stopping and activities failing on purpose would bury a real failure's message.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const path = await locateTemporalCli(quietLog);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      // The workflow upserts these; an unregistered one fails the workflow task.
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'warn' },
    },
  });
}

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test file: each test's worker reuses it. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentBundlerLogger });
  return bundle;
}

const silentBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (message: string) => process.stderr.write(`# bundler: ${message}\n`),
};
