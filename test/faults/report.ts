import type { CheckResult, InterfaceAccount } from './checker';

/** One line of the suite's table: a scenario (or one case of it) and what it proved. */
export interface ScenarioRow {
  scenario: string;
  /** Workflow runs of the scenario's schedules (Temporal visibility), whatever their outcome. */
  runs: number;
  /** Matching tickets in the source, summed over the scenario's interfaces. */
  expected: number;
  /** Expected tickets that arrived at least once. */
  delivered: number;
  lost: number;
  /** Extra arrivals of tickets in distinct files. */
  duplicated: number;
  /** Tickets delivered to an interface they do not belong to. */
  leaked: number;
  /** The same Message-ID (and bytes) received again: SMTP accepted, then the worker died. */
  duplicateEmails: number;
  /** Everything that breaks the promise, one line each (lost and duplicated tickets included). */
  problems: string[];
  /** Defects that break no promise of the ledger but need an operator (a worker process that died). */
  warnings: string[];
  /** What the scenario observed (evidence that it exercised the fault), one line each. */
  notes: string[];
  durationMillis: number;
}

/** Bar codes quoted in a problem line before "…". */
const QUOTED_BAR_CODES = 5;

/** Sums a scenario's accounts into a row; lists every broken promise as a problem. */
export function rowFrom(
  scenario: string,
  runs: number,
  check: CheckResult,
  extra: { problems?: string[]; warnings?: string[]; notes?: string[]; durationMillis: number },
): ScenarioRow {
  const { accounts } = check;
  const sum = (pick: (account: InterfaceAccount) => number) =>
    accounts.reduce((total, account) => total + pick(account), 0);
  const problems = [
    ...accounts.flatMap(problemsOf),
    ...check.sourceProblems.map((problem) => `suite bookkeeping: ${problem}`),
    ...(extra.problems ?? []),
  ];
  return {
    scenario,
    runs,
    expected: sum((account) => account.expected),
    delivered: sum((account) => account.delivered),
    lost: sum((account) => account.lost.length),
    duplicated: sum((account) => account.duplicated),
    leaked: sum((account) => account.leaked.length),
    duplicateEmails: sum((account) => account.duplicateEmails),
    problems,
    warnings: extra.warnings ?? [],
    notes: extra.notes ?? [],
    durationMillis: extra.durationMillis,
  };
}

function problemsOf(account: InterfaceAccount): string[] {
  const name = `interface ${account.interfaceId}`;
  const problems: string[] = [];
  if (account.lost.length > 0)
    problems.push(`${name}: ${account.lost.length} tickets lost (${quote(account.lost)})`);
  if (account.duplicated > 0) problems.push(`${name}: ${account.duplicated} duplicated ticket arrivals`);
  if (account.leaked.length > 0)
    problems.push(`${name}: ${account.leaked.length} tickets that are not its (${quote(account.leaked)})`);
  if (account.conflictingFiles > 0)
    problems.push(`${name}: ${account.conflictingFiles} Message-IDs received with different attachments`);
  if (account.outOfOrder > 0)
    problems.push(`${name}: ${account.outOfOrder} windows arrived after a later one`);
  problems.push(...account.ledgerProblems.map((problem) => `${name}: ledger: ${problem}`));
  return problems;
}

function quote(barCodes: string[]): string {
  return barCodes.slice(0, QUOTED_BAR_CODES).join(', ') + (barCodes.length > QUOTED_BAR_CODES ? ', …' : '');
}

/** Whether a row breaks the promise (anything lost, duplicated, leaked or otherwise wrong). */
export function isFailed(row: ScenarioRow): boolean {
  return row.problems.length > 0;
}

const COLUMNS: { title: string; value: (row: ScenarioRow) => string; alignLeft?: boolean }[] = [
  { title: 'scenario', value: (row) => row.scenario, alignLeft: true },
  { title: 'runs', value: (row) => String(row.runs) },
  { title: 'tickets expected', value: (row) => String(row.expected) },
  { title: 'delivered', value: (row) => String(row.delivered) },
  { title: 'lost', value: (row) => String(row.lost) },
  { title: 'duplicated', value: (row) => String(row.duplicated) },
  { title: 'leaked', value: (row) => String(row.leaked) },
  { title: 'duplicate emails', value: (row) => String(row.duplicateEmails) },
  {
    title: 'result',
    value: (row) => (isFailed(row) ? 'FAIL' : row.warnings.length > 0 ? 'warn' : 'ok'),
    alignLeft: true,
  },
  { title: 'time', value: (row) => `${Math.round(row.durationMillis / 1000)} s` },
];

/** The table the suite prints, then the problems and notes of each row under it. */
export function formatReport(rows: ScenarioRow[]): string {
  const cells = rows.map((row) => COLUMNS.map((column) => column.value(row)));
  const widths = COLUMNS.map((column, index) =>
    Math.max(column.title.length, ...cells.map((line) => line[index]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) =>
        COLUMNS[index]!.alignLeft ? value.padEnd(widths[index]!) : value.padStart(widths[index]!),
      )
      .join(' | ');
  const output = [
    line(COLUMNS.map((column) => column.title)),
    widths.map((width) => '-'.repeat(width)).join('-|-'),
    ...cells.map(line),
  ];
  const total = rows.reduce(
    (sum, row) => ({
      lost: sum.lost + row.lost,
      duplicated: sum.duplicated + row.duplicated,
      duplicateEmails: sum.duplicateEmails + row.duplicateEmails,
    }),
    { lost: 0, duplicated: 0, duplicateEmails: 0 },
  );
  output.push(
    '',
    `total: ${total.lost} lost, ${total.duplicated} duplicated, ${total.duplicateEmails} duplicate emails; ${rows.filter(isFailed).length} of ${rows.length} rows failed`,
  );
  for (const row of rows) {
    if (row.problems.length === 0 && row.warnings.length === 0 && row.notes.length === 0) continue;
    output.push('', `${row.scenario}:`);
    for (const problem of row.problems) output.push(`  PROBLEM ${problem}`);
    for (const warning of row.warnings) output.push(`  WARNING ${warning}`);
    for (const note of row.notes) output.push(`  note: ${note}`);
  }
  return output.join('\n');
}
