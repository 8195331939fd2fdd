/**
 * `npm run docs:screenshots`: what an operator sees in the Temporal UI, as PNGs in docs/ui/.
 * Starts a stack of its own (a dev server with its Web UI, a fresh database, an SMTP sink, a
 * worker), creates one interface that delivers its windows and one whose recipient the mail server
 * refuses for good, runs both, and photographs the UI with headless Chromium (the Debian package,
 * driven by playwright-core; no browser is ever downloaded). Run by hand; no test needs it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { freePort } from '../devstack/ports';
import { insertSale } from '../devstack/sales-simulator';
import { TestStack } from '../test/support/stack';

const CHROMIUM = '/usr/bin/chromium';
/** Flags that keep Chromium from calling home: this machine has no internet. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUT_DIR = path.resolve(__dirname, '..', '..', 'docs', 'ui');
const VIEWPORT = { width: 1760, height: 720 };
const NAMESPACE = 'default';
/** Time for the UI to draw after its data arrived (it fetches in several rounds). */
const SETTLE_MILLIS = 1500;

const HEALTHY = {
  name: 'Barcodes for Acme Tickets',
  recipient: 'tickets@acme.example',
  contact: 'C-1001',
  channel: 'RESELLER-WEB',
};
const FAILING = {
  name: 'Barcodes for Partner Agency',
  recipient: 'import@partner-agency.example',
  contact: 'C-1002',
  channel: 'AGENCY',
};

/** Columns of the two lists, in the UI's own local-storage format (its column picker writes the same). */
const SCHEDULE_COLUMNS = [
  'Status',
  'Schedule ID',
  'BarcodesInterfaceName',
  'BarcodesInterfaceId',
  'Recent Runs',
  'Schedule Spec',
];
const WORKFLOW_COLUMNS = [
  'Status',
  'BarcodesInterfaceName',
  'BarcodesInterfaceId',
  'BarcodesDeliveryStatus',
  'BarcodesWindowStart',
  'BarcodesWindowEnd',
  'BarcodesTicketCount',
  'Start',
  'Workflow ID',
];

const log = (line: string) => process.stdout.write(`[screenshots] ${line}\n`);

async function main(): Promise<void> {
  const chromium = ensureChromium();
  // The UI of a server started elsewhere is not ours to fill with demo interfaces.
  delete process.env.TEMPORAL_ADDRESS;
  const uiPort = await freePort('127.0.0.1');
  const stack = await TestStack.start({ temporalUiPort: uiPort });
  try {
    // Small ids, as a fresh installation has, rather than the tests' random offset.
    await stack.pool.query(
      `ALTER TABLE ${stack.config.exporterSchema}.interface ALTER COLUMN id RESTART WITH 3`,
    );
    await stack.startWorker();
    const healthy = await stack.createInterface({
      name: HEALTHY.name,
      recipients: [HEALTHY.recipient],
      contacts: [HEALTHY.contact],
      channels: [HEALTHY.channel],
    });
    const failing = await stack.createInterface({
      name: FAILING.name,
      recipients: [FAILING.recipient],
      contacts: [FAILING.contact],
      channels: [FAILING.channel],
    });
    stack.sink.rejectRecipients([FAILING.recipient], 550);
    for (const round of [1, 2]) {
      await insertSale(stack.pool, stack.config.ticketingSchema, {
        contactNumber: HEALTHY.contact,
        salesChannelCode: HEALTHY.channel,
        ticketCount: round + 2,
      });
      await insertSale(stack.pool, stack.config.ticketingSchema, {
        contactNumber: FAILING.contact,
        salesChannelCode: FAILING.channel,
        ticketCount: 2,
      });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await stack.runNow(healthy.id);
      log(`interface ${healthy.id} delivered window ${round}`);
      const failed = await stack.runNow(failing.id).then(
        () => null,
        (error: Error) => error,
      );
      log(
        `interface ${failing.id} ${failed ? `failed as expected: ${failed.message.split('\n')[0]}` : 'did not fail: the screenshots would not show a failure'}`,
      );
    }
    await shoot(chromium, stack.temporal.uiUrl!, { healthy: healthy.id, failing: failing.id }, stack);
  } finally {
    await stack.close();
  }
}

async function shoot(
  executablePath: string,
  uiUrl: string,
  ids: { healthy: number; failing: number },
  stack: TestStack,
): Promise<void> {
  const { chromium } = await import('playwright-core');
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: VIEWPORT, timezoneId: 'UTC', locale: 'en-US' });
    await context.addInitScript(
      ({ namespace, schedules, workflows }) => {
        // Runs in the page, where the DOM's localStorage exists (this project's lib has no DOM types).
        const { localStorage } = globalThis as unknown as {
          localStorage: { setItem(key: string, value: string): void };
        };
        const columns = (labels: string[]) =>
          JSON.stringify({ [namespace]: labels.map((label) => ({ label })) });
        localStorage.setItem('namespace-schedules-table-columns', columns(schedules));
        localStorage.setItem('namespace-workflow-table-columns', columns(workflows));
      },
      { namespace: NAMESPACE, schedules: SCHEDULE_COLUMNS, workflows: WORKFLOW_COLUMNS },
    );
    const page = await context.newPage();
    const base = `${uiUrl}/namespaces/${NAMESPACE}`;

    await open(page, `${base}/schedules`, stack.scheduleId(ids.failing));
    await save(page, 'schedules.png');

    await open(page, `${base}/workflows`, 'failed');
    await save(page, 'workflows.png');

    const query = `BarcodesInterfaceId = "${ids.failing}"`;
    await open(page, `${base}/workflows?query=${encodeURIComponent(query)}`, 'failed');
    await save(page, 'workflows-failing-interface.png');

    const failedRun = await lastRun(stack, ids.failing);
    await open(
      page,
      `${base}/workflows/${encodeURIComponent(failedRun.workflowId)}/${failedRun.runId}/history`,
      'Failed',
    );
    await save(page, 'workflow-failed.png');
    await page.getByText('Search Attributes', { exact: true }).first().click();
    await page.getByText('BarcodesInterfaceName').first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(SETTLE_MILLIS);
    await save(page, 'workflow-failed-search-attributes.png');
    await page.getByText('User Metadata', { exact: true }).first().click();
    await page.waitForTimeout(SETTLE_MILLIS * 2);
    await save(page, 'workflow-failed-user-metadata.png');
  } finally {
    await browser.close();
  }
}

async function lastRun(
  stack: TestStack,
  interfaceId: number,
): Promise<{ workflowId: string; runId: string }> {
  for await (const execution of stack.client.workflow.list({
    query: `BarcodesInterfaceId = "${interfaceId}"`,
  })) {
    return { workflowId: execution.workflowId, runId: execution.runId };
  }
  throw new Error(`no run of interface ${interfaceId} is listed`);
}

async function open(page: Page, url: string, waitForText: string): Promise<void> {
  await page.goto(url);
  await page.getByText(waitForText).first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(SETTLE_MILLIS);
}

async function save(page: Page, file: string): Promise<void> {
  const target = path.join(OUT_DIR, file);
  await page.screenshot({ path: target });
  log(`wrote ${path.relative(process.cwd(), target)}`);
}

/** The Debian package's Chromium, installed when missing and we may (root with apt-get); else a one-line reason. */
function ensureChromium(): string {
  if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (!root || !apt) {
    throw new Error(
      `${CHROMIUM} is missing: install the Debian package chromium (apt-get install chromium) and run this again`,
    );
  }
  log(
    `${CHROMIUM} is missing: installing the Debian package chromium (apt-get update && apt-get install -y chromium)`,
  );
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    const result = spawnSync('apt-get', args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0)
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status}); install chromium by hand`);
  }
  if (!fs.existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is not there`);
  return CHROMIUM;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[screenshots] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
