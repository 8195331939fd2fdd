/**
 * Window query cost versus table size: the same window (the same matching tickets, bounds and
 * mapping) selected through PostgresTicketSource.streamWindow from the small and the large table.
 * An index range scan on ticket(created_at, id) makes the cost follow the window, not the table.
 */
import { PostgresTicketSource, type WindowSelection } from '../lib/source/ticket-source';
import type { Log } from '../devstack/log';
import { EXPORT_MAPPING, newestWindow } from './dataset';
import type { BenchDatabase } from './database';
import type { BenchOptions } from './options';
import type { Report } from './report';
import { count, median, millis, quantile, ratio } from './stats';

const TARGET_RATIO = 1.5;
const WARMUP_RUNS = 3;

export async function queryCostPhase(
  db: BenchDatabase,
  options: BenchOptions,
  report: Report,
  log: Log,
): Promise<void> {
  const section = report.section(
    `Window query cost vs table size: the same ${count(options.queryWindowTickets)}-ticket window`,
  );
  const window = await newestWindow(db.pool, db.small, EXPORT_MAPPING, options.queryWindowTickets);
  const small = new PostgresTicketSource(db.exporterPool, { schema: db.small.schema });
  const large = new PostgresTicketSource(db.exporterPool, { schema: db.large.schema });
  const inLarge = await large.countWindow(window);
  if (inLarge !== options.queryWindowTickets)
    throw new Error(
      `the window holds ${inLarge} tickets in ${db.large.schema}, ${options.queryWindowTickets} in ${db.small.schema}`,
    );
  log(
    `query window ${window.from.toISOString()} .. ${window.to.toISOString()}: ${options.queryWindowTickets} tickets in both tables`,
  );
  for (let i = 0; i < WARMUP_RUNS; i++) {
    await timeWindow(small, window);
    await timeWindow(large, window);
  }
  const smallMillis: number[] = [];
  const largeMillis: number[] = [];
  for (let i = 0; i < options.queryRepeats; i++) {
    smallMillis.push(await timeWindow(small, window));
    largeMillis.push(await timeWindow(large, window));
  }
  const plan = await large.windowPlan(window);
  const planText = plan.join('\n');
  // Only the big tables matter: the reference tables are a few hundred rows, hashed once.
  const seqScans = /Seq Scan on (ticket|ticket_order) /.test(planText);
  const indexRange = /Index (Only )?Scan using ticket_created_at_id/.test(planText);
  const ratioValue = median(largeMillis) / median(smallMillis);
  section.rows.push(
    {
      metric: `${count(db.small.tickets)}-ticket table: median (p90)`,
      value: `${millis(median(smallMillis))} (${millis(quantile(smallMillis, 0.9))})`,
    },
    {
      metric: `${count(db.large.tickets)}-ticket table: median (p90)`,
      value: `${millis(median(largeMillis))} (${millis(quantile(largeMillis, 0.9))})`,
    },
    {
      metric: 'ratio large / small',
      value: ratio(ratioValue),
      target: `≤ ${TARGET_RATIO}`,
      met: ratioValue <= TARGET_RATIO,
    },
    {
      metric: 'plan: range scan on ticket(created_at, id), no seq scan',
      value: `${indexRange ? 'index range scan' : 'NO index range scan'}, ${seqScans ? 'SEQ SCAN' : 'no seq scan'}`,
      target: 'index range scan, no seq scan',
      met: indexRange && !seqScans,
    },
  );
  section.notes.push(
    `${options.queryRepeats} timed runs each (after ${WARMUP_RUNS} warm-up runs), rows read through streamWindow (a server-side cursor), warm cache.`,
    `The window cursor's plan on the ${count(db.large.tickets)}-ticket table (EXPLAIN DECLARE, as streamWindow opens it):\n${plan.join('\n')}`,
  );
}

async function timeWindow(source: PostgresTicketSource, window: WindowSelection): Promise<number> {
  const started = process.hrtime.bigint();
  let rows = 0;
  for await (const batch of source.streamWindow(window)) rows += batch.length;
  if (rows === 0) throw new Error('the window query returned no rows');
  return Number(process.hrtime.bigint() - started) / 1e6;
}
