import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import type { ReceivedMail } from '../devstack/smtp-sink';
import type { ReceivedFile } from './support/mail';
import { accountMail } from './faults/checker';
import { formatReport, isFailed, type ScenarioRow } from './faults/report';
import { createWorkDir, runScenario, selectScenarios } from './faults/suite';

// The CI part of the exactly-once fault suite (`npm run test:faults -- --quick` runs the same
// scenarios as a table; `npm run test:faults` runs all of them with long faults).

const SCENARIO_TIMEOUT_MILLIS = 10 * 60_000;

let workDir: string;
const rows: ScenarioRow[] = [];

before(async () => {
  workDir = await createWorkDir();
});
after(async () => {
  process.stderr.write(`\n${formatReport(rows)}\n`);
  if (rows.some((row) => isFailed(row) || row.warnings.length > 0))
    process.stderr.write(`worker logs kept in ${workDir}\n`);
  else await fs.rm(workDir, { recursive: true, force: true });
});

test('the checker counts lost, duplicated and leaked tickets, duplicate emails, conflicting files and order', () => {
  const iface = { id: 7, recipient: 'r@x.test', contacts: [], channels: ['WEB'], startAt: new Date(0) };
  const first = '<barcodes.i7.20260101T000010Z-20260101T000020Z.p1of1@x.test>';
  const second = '<barcodes.i7.20260101T000020Z-20260101T000030Z.p1of1@x.test>';
  const earlier = '<barcodes.i7.20260101T000000Z-20260101T000010Z.p1of1@x.test>';
  const files = [
    ...email(first, ['A', 'B']),
    ...email(first, ['A', 'B']), // the same email again: a duplicate email, not duplicated tickets
    ...email(second, ['C', 'X']), // X is not the interface's
    ...email(second, ['C']), // the same Message-ID with another file
    ...email(earlier, ['B']), // arrives after a later window, and repeats B
  ];
  const account = accountMail(iface, files, new Set(['A', 'B', 'C', 'D']));
  assert.deepEqual(account, {
    interfaceId: 7,
    expected: 4,
    delivered: 3,
    lost: ['D'],
    duplicated: 2,
    leaked: ['X'],
    duplicateEmails: 1,
    conflictingFiles: 1,
    outOfOrder: 1,
  });
});

for (const scenario of selectScenarios('quick')) {
  test(`fault suite: ${scenario.summary}`, { timeout: SCENARIO_TIMEOUT_MILLIS }, async () => {
    const scenarioRows = await runScenario(scenario, {
      mode: 'quick',
      workDir,
      log: (line) => process.stderr.write(`# ${line}\n`),
    });
    rows.push(...scenarioRows);
    for (const row of scenarioRows) {
      assert.deepEqual(row.problems, [], `${row.scenario}: ${row.problems.join('; ')}`);
      assert.equal(row.delivered, row.expected, `${row.scenario}: every expected ticket arrives`);
      assert.ok(row.expected > 0, `${row.scenario}: the scenario sold tickets to its interfaces`);
    }
  });
}

/** One received email carrying one CSV attachment with these bar codes. */
function email(messageId: string, barCodes: string[]): ReceivedFile[] {
  const content = Buffer.from(['BAR_CODE', ...barCodes].join('\n') + '\n');
  const mail = { parsed: { messageId } } as unknown as ReceivedMail;
  return [
    {
      mail,
      fileName: 'f.csv',
      contentType: 'text/csv',
      content,
      header: ['BAR_CODE'],
      records: barCodes.map((BAR_CODE) => ({ BAR_CODE })),
    },
  ];
}
