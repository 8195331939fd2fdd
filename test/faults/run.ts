import { parseArgs } from 'node:util';
import { formatReport, isFailed } from './report';
import { runSuite, SCENARIOS } from './suite';

const USAGE = `usage: npm run test:faults -- [--quick] [--only NAME[,NAME…]] [--list]

Runs the exactly-once fault suite against a real Temporal dev server, PostgreSQL and SMTP sink on
loopback, with workers as separate processes, and prints per scenario: runs, tickets expected,
delivered, lost, duplicated, leaked, duplicate emails. Exits 1 when anything was lost, duplicated,
leaked or otherwise wrong.

  --quick   the CI subset (a few minutes); default: every scenario, with long faults
  --only    only these scenarios (see --list)
  --list    prints the scenarios and exits`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean' },
        only: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const scenario of SCENARIOS)
      process.stdout.write(
        `${scenario.name.padEnd(18)} ${scenario.quick ? 'quick+full' : 'full      '}  ${scenario.summary}\n`,
      );
    return 0;
  }
  const mode = values.quick ? 'quick' : 'full';
  const only = values.only
    ? values.only
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
    : [];
  const startedAt = Date.now();
  const { rows, workDir } = await runSuite({
    mode,
    only,
    log: (line) => process.stderr.write(`# ${line}\n`),
  });
  process.stdout.write(
    `\nexactly-once fault suite (${mode}), ${Math.round((Date.now() - startedAt) / 1000)} s\n\n${formatReport(rows)}\n`,
  );
  if (rows.some((row) => isFailed(row) || row.warnings.length > 0))
    process.stdout.write(`\nworker logs: ${workDir}\n`);
  return rows.some(isFailed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fault suite: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
