/**
 * `npm run bench`: generates its own data in a fresh database on the local PostgreSQL, measures the
 * export path, the window query, the fan-out of many interfaces and the end-to-end latency against
 * real processes (Temporal dev server, `barcodes worker`, SMTP on loopback), and prints one table.
 * Figures only: nothing here passes or fails a build. See docs/performance.md.
 */
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { openBenchDatabase } from './database';
import { exportThroughputPhase } from './export-throughput';
import { fanoutPhase } from './fan-out';
import { latencyPhase } from './latency';
import { parseBenchOptions, UsageError, USAGE, type BenchOptions } from './options';
import { loadAverage } from './proc';
import { queryCostPhase } from './query-cost';
import { stateChangeCostPhase } from './state-change-cost';
import { Report } from './report';
import { count, seconds } from './stats';

const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) process.stderr.write(`bench: ${error.message}\n`);
    process.stderr.write(`${USAGE}\n`);
    return error.message ? 2 : 0;
  }
  const started = Date.now();
  const report = new Report();
  const db = await openBenchDatabase({
    largeTickets: options.largeTickets,
    smallTickets: options.smallTickets,
    reuse: options.database,
    keep: options.keep,
    log,
  });
  const generatedAt = Date.now();
  try {
    const { rows } = await db.pool.query<{ server_version: string }>(`SHOW server_version`);
    report.header.push(
      `barcodes benchmark, ${new Date().toISOString().slice(0, 16)}Z: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ` +
        `${Math.round(os.totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}, PostgreSQL ${rows[0]!.server_version}`,
      `source tables: ${count(db.large.tickets)} tickets (large), ${count(db.small.tickets)} tickets (small); ` +
        `phases: ${options.phases.join(', ')}; load average at start ${loadAverage().toFixed(1)}`,
    );
    if (options.phases.includes('export')) await exportThroughputPhase(db, options, report, log);
    if (options.phases.includes('query')) await queryCostPhase(db, options, report, log);
    if (options.phases.includes('changes')) await stateChangeCostPhase(db, options, report, log);
    if (options.phases.includes('fanout')) await fanoutPhase(db, options, report, log);
    if (options.phases.includes('latency')) await latencyPhase(db, options, report, log);
  } finally {
    await db.close();
  }
  report.header.push(
    `run time ${seconds(Date.now() - started)} (data generation ${seconds(generatedAt - started)}); load average at end ${loadAverage().toFixed(1)}`,
  );
  const text = report.toText();
  process.stdout.write(`\n${text}\n`);
  if (options.markdownFile) writeFileSync(options.markdownFile, report.toMarkdown());
  return 0;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
