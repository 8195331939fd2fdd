/**
 * State changes (docs/state-changes.md): the cost of a window's change query against the size of
 * the change log (the same changes read from a 100,000-row and a 10,000,000-row log: a range scan
 * on (changed_at, id) makes it follow the window), and the render rate of a window of 100,000
 * changes against one of 100,000 new tickets.
 *
 * The logs are generated like the tickets (bench/dataset.ts): change k (0 = newest) is a pure
 * function of k, so the newest changes of both logs are the same rows. They touch the newest
 * tickets p in [0, TOUCHED) of the tables (the same rows in both), in turn: ticket p's changes are
 * k = p, p + TOUCHED, …, alternating PRINTED → CONTROLLED (newest) and CONTROLLED → PRINTED, so
 * every ticket's chain is consistent and each change in a window changes its state.
 */
import { DEFAULT_FORMAT_SPEC, renderWindow, type PartSink } from '../lib/format';
import { STATE_CHANGE_LOG_SQL } from '../lib/db/migrations';
import { PostgresStateChangeSource, type StateChangeSelection } from '../lib/source/state-changes';
import { PostgresTicketSource, type TicketBatch } from '../lib/source/ticket-source';
import type { Log } from '../devstack/log';
import { formatMillis } from '../devstack/log';
import { CHANNELS, EXPORT_MAPPING, newestWindow, type GeneratedTable } from './dataset';
import type { BenchDatabase } from './database';
import type { BenchOptions } from './options';
import type { Report } from './report';
import { count, median, millis, quantile, rate, ratio } from './stats';

const ID_BASE = 1_000_000_000;
/** One change every 10 ms, after every ticket was sold. */
const CHANGE_SPACING_MILLIS = 10;
const TARGET_RATIO = 1.5;
const WARMUP_RUNS = 3;
const CHUNK_CHANGES = 1_000_000;
const RENDER_RUNS = 5;
const EVERY_TICKET = { contacts: [] as string[], channels: [...CHANNELS] };

/** A sink that only counts: the render rate without storage. */
function countingSink(): PartSink & { bytes: number } {
  return {
    bytes: 0,
    async beginPart() {},
    async write(chunk: Buffer) {
      this.bytes += chunk.length;
    },
    async endPart() {},
  };
}

export async function stateChangeCostPhase(
  db: BenchDatabase,
  options: BenchOptions,
  report: Report,
  log: Log,
): Promise<void> {
  const touched = Math.min(db.small.tickets, options.changeRenderChanges);
  await ensureChangeLog(db, db.small, options.smallChanges, touched, log);
  await ensureChangeLog(db, db.large, options.largeChanges, touched, log);
  const small = new PostgresStateChangeSource(db.exporterPool, { schema: db.small.schema });
  const large = new PostgresStateChangeSource(db.exporterPool, { schema: db.large.schema });

  // 1. The same window of changes, from the small and the large log.
  const section = report.section(
    `State changes: the same ${count(options.queryWindowTickets)}-change window, ${count(options.smallChanges)} vs ${count(options.largeChanges)} changes in the log`,
  );
  const window = changeWindow(db.small, options.queryWindowTickets);
  const inSmall = await small.countWindow(window);
  const inLarge = await large.countWindow(window);
  if (inSmall.stateChanges !== inLarge.stateChanges || inSmall.stateChanges === 0) {
    throw new Error(
      `the change window holds ${inLarge.stateChanges} rows in ${db.large.schema}, ${inSmall.stateChanges} in ${db.small.schema}`,
    );
  }
  for (let i = 0; i < WARMUP_RUNS; i++) {
    await timeStream(small.streamWindow(window));
    await timeStream(large.streamWindow(window));
  }
  const smallMillis: number[] = [];
  const largeMillis: number[] = [];
  for (let i = 0; i < options.queryRepeats; i++) {
    smallMillis.push((await timeStream(small.streamWindow(window))).millis);
    largeMillis.push((await timeStream(large.streamWindow(window))).millis);
  }
  const plans = await large.windowPlans(window);
  const planText = plans.stateChanges.join('\n');
  const seqScan = /Seq Scan on ticket_state_change/.test(
    [...plans.newTickets, ...plans.stateChanges].join('\n'),
  );
  const rangeScan = /Index (Only )?Scan using ticket_state_change_changed_at_id/.test(planText);
  const costRatio = median(largeMillis) / median(smallMillis);
  section.rows.push(
    {
      metric: `${count(options.smallChanges)}-change log: median (p90)`,
      value: `${millis(median(smallMillis))} (${millis(quantile(smallMillis, 0.9))})`,
    },
    {
      metric: `${count(options.largeChanges)}-change log: median (p90)`,
      value: `${millis(median(largeMillis))} (${millis(quantile(largeMillis, 0.9))})`,
    },
    {
      metric: 'ratio large / small',
      value: ratio(costRatio),
      target: `≤ ${TARGET_RATIO}`,
      met: costRatio <= TARGET_RATIO,
    },
    {
      metric: 'plan: range scan on ticket_state_change(changed_at, id), no seq scan',
      value: `${rangeScan ? 'index range scan' : 'NO index range scan'}, ${seqScan ? 'SEQ SCAN' : 'no seq scan'}`,
      target: 'index range scan, no seq scan',
      met: rangeScan && !seqScan,
    },
  );
  section.notes.push(
    `${options.queryRepeats} timed runs each (after ${WARMUP_RUNS} warm-up runs), ${inSmall.stateChanges} state-change rows of the mapping read through streamWindow, warm cache.`,
    `The change cursor's plan on the ${count(options.largeChanges)}-change log (EXPLAIN DECLARE):\n${planText}`,
  );

  // 2. Render rate: a window of N changes against a window of N new tickets, default format.
  const render = report.section(
    `State changes: render rate of ${count(options.changeRenderChanges)} changes vs ${count(options.changeRenderChanges)} new tickets`,
  );
  // A mapping every ticket matches: every new ticket and every change of the windows is a row.
  const ticketWindow = await newestWindow(db.pool, db.large, EVERY_TICKET, options.changeRenderChanges);
  const tickets = new PostgresTicketSource(db.exporterPool, { schema: db.large.schema });
  const changesWindow = { ...changeWindow(db.large, options.changeRenderChanges), ...EVERY_TICKET };
  // Alternating runs, the median of each: the machine is shared, one run says little.
  const newRuns: { millis: number; rows: number }[] = [];
  const changeRuns: { millis: number; rows: number }[] = [];
  for (let i = 0; i < RENDER_RUNS; i++) {
    newRuns.push(await renderTimed(tickets.streamWindow(ticketWindow), 'new tickets'));
    changeRuns.push(await renderTimed(large.streamWindow(changesWindow), 'state changes'));
  }
  const newTickets = { rows: newRuns[0]!.rows, millis: median(newRuns.map((run) => run.millis)) };
  const changeRows = { rows: changeRuns[0]!.rows, millis: median(changeRuns.map((run) => run.millis)) };
  if (changeRows.rows !== options.changeRenderChanges)
    throw new Error(
      `the change window made ${changeRows.rows} rows, expected ${options.changeRenderChanges}`,
    );
  const rowRates = changeRows.rows / changeRows.millis / (newTickets.rows / newTickets.millis);
  render.rows.push(
    {
      metric: `${count(options.changeRenderChanges)} new tickets: rows, time, rate`,
      value: `${count(newTickets.rows)} rows in ${millis(newTickets.millis)}, ${rate(newTickets.rows, newTickets.millis)}`,
    },
    {
      metric: `${count(options.changeRenderChanges)} changes: rows, time, rate`,
      value: `${count(changeRows.rows)} rows in ${millis(changeRows.millis)}, ${rate(changeRows.rows, changeRows.millis)}`,
    },
    {
      metric: 'rate of change rows / rate of new-ticket rows',
      value: ratio(rowRates),
      target: '≈ 1 (≥ 0.5)',
      met: rowRates >= 0.5,
    },
    {
      metric: 'time of the change window / the new-ticket window',
      value: ratio(changeRows.millis / newTickets.millis),
    },
  );
  render.notes.push(
    `Median of ${RENDER_RUNS} alternating runs each. Both read by their cursors (a mapping of every channel, so every ticket and change is a row) and rendered with the default format into a sink that discards, on the ${count(db.large.tickets)}-ticket table; ` +
      `the change window reads ${count(options.changeRenderChanges)} changes of the ${count(options.largeChanges)}-change log, one per ticket.`,
  );
}

/** The window holding the newest `changes` changes of the generated log, every ticket since the epoch. */
function changeWindow(table: GeneratedTable, changes: number): StateChangeSelection {
  const newest = newestChangeAt(table).getTime();
  return {
    contacts: [...EXPORT_MAPPING.contacts],
    channels: [...EXPORT_MAPPING.channels],
    from: new Date(newest - (changes - 1) * CHANGE_SPACING_MILLIS),
    to: new Date(newest + 1),
    since: new Date(0),
    states: [],
    asOf: 'window-end',
  };
}

/** The newest change comes an hour after the newest ticket. */
function newestChangeAt(table: GeneratedTable): Date {
  return new Date(table.newestAt.getTime() + 3_600_000);
}

async function timeStream(rows: AsyncIterable<TicketBatch>): Promise<{ millis: number; rows: number }> {
  const started = process.hrtime.bigint();
  let total = 0;
  for await (const batch of rows) total += batch.length;
  return { millis: Number(process.hrtime.bigint() - started) / 1e6, rows: total };
}

async function renderTimed(
  rows: AsyncIterable<TicketBatch>,
  what: string,
): Promise<{ millis: number; rows: number }> {
  const started = process.hrtime.bigint();
  const result = await renderWindow(
    rows,
    DEFAULT_FORMAT_SPEC,
    { interfaceName: `bench ${what}`, timeZone: 'UTC', windowStart: new Date(0), windowEnd: new Date(1) },
    countingSink(),
  );
  return { millis: Number(process.hrtime.bigint() - started) / 1e6, rows: result.ticketCount };
}

/**
 * Installs the change log in a generated schema (a database kept from before state changes has
 * none) and fills it with `changes` rows unless it already holds exactly that many.
 */
async function ensureChangeLog(
  db: BenchDatabase,
  table: GeneratedTable,
  changes: number,
  touched: number,
  log: Log,
): Promise<void> {
  const schema = table.schema;
  await db.pool.query(STATE_CHANGE_LOG_SQL.replaceAll('{source}', schema));
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${schema}.ticket_state_change`,
  );
  if (Number(rows[0]!.n) === changes) return;
  const started = Date.now();
  log(`generating ${count(changes)} state changes in ${schema}`);
  await db.pool.query(`TRUNCATE ${schema}.ticket_state_change`);
  await db.pool.query(
    `DROP INDEX IF EXISTS ${schema}.ticket_state_change_changed_at_id, ${schema}.ticket_state_change_ticket_id`,
  );
  await db.pool.query(
    `ALTER TABLE ${schema}.ticket_state_change DROP CONSTRAINT IF EXISTS ticket_state_change_ticket_id_fkey`,
  );
  const newest = newestChangeAt(table);
  for (let to = changes; to > 0; to -= CHUNK_CHANGES) {
    const from = Math.max(0, to - CHUNK_CHANGES);
    await db.pool.query(
      `INSERT INTO ${schema}.ticket_state_change (id, ticket_id, old_state, new_state, changed_at)
       SELECT ${ID_BASE} - k, ${ID_BASE} - (k % $4),
              CASE WHEN (k / $4) % 2 = 0 THEN 'PRINTED' ELSE 'CONTROLLED' END,
              CASE WHEN (k / $4) % 2 = 0 THEN 'CONTROLLED' ELSE 'PRINTED' END,
              $3::timestamptz - (k * ${CHANGE_SPACING_MILLIS}) * interval '1 millisecond'
         FROM generate_series($2::bigint - 1, $1::bigint, -1) k`,
      [from, to, newest, touched],
    );
  }
  // Rebuilt with the migration's own DDL, as a restore would.
  await db.pool.query(STATE_CHANGE_LOG_SQL.replaceAll('{source}', schema));
  await db.pool.query(
    `ALTER TABLE ${schema}.ticket_state_change ADD CONSTRAINT ticket_state_change_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES ${schema}.ticket`,
  );
  await db.pool.query(`VACUUM (FREEZE, ANALYZE) ${schema}.ticket_state_change`);
  log(`  ${schema}: ${count(changes)} state changes ready in ${formatMillis(Date.now() - started)}`);
}
