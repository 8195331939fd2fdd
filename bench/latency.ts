/**
 * End-to-end latency at the default lag: a ticket committed → the email holding it accepted by
 * the SMTP sink. Sales are committed at random moments while a real schedule (a short interval,
 * so the measurement takes minutes, not hours) exports them. Each ticket's latency splits into
 * the wait the schedule imposes by design (to the first tick whose window end, tick − lag, is
 * past the ticket) and the processing after that tick; the processing is what carries over to the
 * default 15-minute interval.
 */
import pg from 'pg';
import { DEFAULT_EVERY, DEFAULT_LAG } from '../client/commands/interface-options';
import { parseDuration } from '../lib/duration';
import { syncInterfaceSchedule } from '../lib/schedules/sync';
import type { Log } from '../devstack/log';
import { readDeploymentId } from '../lib/deployment';
import { sleep } from '../devstack/log';
import { startSmtpSink, type ReceivedMail } from '../devstack/smtp-sink';
import { startWorkerProcess } from './children';
import type { BenchDatabase } from './database';
import type { BenchOptions } from './options';
import type { Report } from './report';
import { benchEnv, configOf, runTag, startBenchTemporal } from './stack';
import { count, quantile, seconds } from './stats';

/** Pause between two sales: uniform in [min, max), so commits fall anywhere relative to the ticks. */
const SALE_GAP_MILLIS = { min: 300, max: 1_500 } as const;
/** After the last sale, how long past one interval + lag the phase waits for stragglers. */
const DRAIN_MARGIN_MILLIS = 60_000;

export async function latencyPhase(
  db: BenchDatabase,
  options: BenchOptions,
  report: Report,
  log: Log,
): Promise<void> {
  const lagMillis = parseDuration(DEFAULT_LAG, 'lag');
  const defaultIntervalMillis = parseDuration(DEFAULT_EVERY, 'interval');
  const intervalMillis = options.latencyIntervalSeconds * 1000;
  const section = report.section(
    `End-to-end latency, ticket committed → email accepted, lag ${seconds(lagMillis)} (default), interval ${seconds(intervalMillis)}`,
  );
  const tag = runTag();
  const contact = `LAT-${tag}`;
  await db.pool.query(
    `INSERT INTO ${db.large.schema}.contact (contact_number, name) VALUES ($1, 'Latency reseller')`,
    [contact],
  );
  const iface = await db.store.create(
    {
      name: `Bench latency ${tag}`,
      recipients: ['latency@bench.test'],
      intervalSeconds: options.latencyIntervalSeconds,
      lagSeconds: lagMillis / 1000,
      timeZone: 'UTC',
      format: null,
      startAt: new Date(),
      enabled: true,
      alertEmail: null,
    },
    { contacts: [contact], channels: [] },
    'bench',
  );
  const temporal = await startBenchTemporal(log);
  const sink = await startSmtpSink();
  const env = benchEnv({
    databaseUrl: db.url,
    ticketingSchema: db.large.schema,
    temporalAddress: temporal.server.address,
    smtpUrl: sink.url,
  });
  const worker = await startWorkerProcess(env);
  const seller = new pg.Client({ connectionString: db.url, application_name: 'barcodes-bench-sales' });
  await seller.connect();
  try {
    const config = configOf(env);
    await syncInterfaceSchedule(
      {
        client: temporal.client,
        config,
        deploymentId: await readDeploymentId(db.pool, config.exporterSchema),
      },
      iface,
    );
    log(
      `latency: selling for ${seconds(options.latencySalesMillis)} while interface ${iface.id} exports every ${seconds(intervalMillis)}`,
    );
    const committed = new Map<string, number>();
    const salesEnd = Date.now() + options.latencySalesMillis;
    let sale = 0;
    while (Date.now() < salesEnd) {
      sale++;
      for (const barCode of await sell(
        seller,
        db.large.schema,
        contact,
        `LAT${tag}${String(sale).padStart(5, '0')}`,
        1 + (sale % 2),
      )) {
        committed.set(barCode, Date.now());
      }
      await sleep(SALE_GAP_MILLIS.min + Math.random() * (SALE_GAP_MILLIS.max - SALE_GAP_MILLIS.min));
    }
    const accepted = await waitForBarCodes(
      sink.messages,
      committed,
      Date.now() + intervalMillis + lagMillis + DRAIN_MARGIN_MILLIS,
    );
    const latencies: number[] = [];
    const designed: number[] = [];
    const processing: number[] = [];
    for (const [barCode, committedAt] of committed) {
      const acceptedAt = accepted.get(barCode);
      if (acceptedAt === undefined) continue;
      // The first tick t with t − lag past the commit: epoch-aligned interval boundaries.
      const tick = (Math.floor((committedAt + lagMillis) / intervalMillis) + 1) * intervalMillis;
      latencies.push(acceptedAt - committedAt);
      designed.push(tick - committedAt);
      processing.push(acceptedAt - tick);
    }
    const p = (values: number[], q: number) => seconds(quantile(values, q));
    section.rows.push(
      {
        metric: 'tickets sold / delivered',
        value: `${count(committed.size)} / ${count(latencies.length)}`,
        target: 'all',
        met: latencies.length === committed.size,
      },
      {
        metric: 'latency min / p50 / p99 / max',
        value: `${p(latencies, 0)} / ${p(latencies, 0.5)} / ${p(latencies, 0.99)} / ${p(latencies, 1)}`,
      },
      {
        metric: '  wait for the tick + lag (by design) p50 / max',
        value: `${p(designed, 0.5)} / ${p(designed, 1)}`,
        target: `≤ interval + lag = ${seconds(intervalMillis + lagMillis)}`,
      },
      {
        metric: '  processing, tick → SMTP accepted p50 / p99 / max',
        value: `${p(processing, 0.5)} / ${p(processing, 0.99)} / ${p(processing, 1)}`,
      },
      {
        metric: `at the defaults (${DEFAULT_EVERY}, ${DEFAULT_LAG}): worst case`,
        value: seconds(defaultIntervalMillis + lagMillis + quantile(processing, 1)),
        target: `interval + lag + processing`,
      },
    );
    section.notes.push(
      `latency = (next tick after commit + lag − commit) + processing. The first term is the schedule's by design: uniform in ` +
        `[lag, interval + lag), mean interval/2 + lag. A ticket whose transaction is open at a tick waits one more interval (late-commit horizon). ` +
        `At the defaults the bound is ${DEFAULT_EVERY} + ${DEFAULT_LAG} + processing, the mean ${seconds(defaultIntervalMillis / 2 + lagMillis)} + processing.`,
    );
  } finally {
    await seller.end().catch(() => {});
    await worker.stop();
    await sink.close();
    await temporal.stop();
  }
}

/** One order with `tickets` tickets in its own transaction; returns the bar codes once committed. */
async function sell(
  client: pg.Client,
  schema: string,
  contact: string,
  fileNumber: string,
  tickets: number,
): Promise<string[]> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ bar_code: string }>(
      `WITH o AS (
         INSERT INTO ${schema}.ticket_order (file_number, contact_number, sales_channel_code, order_date)
         VALUES ($1, $2, 'BOX', now()) RETURNING id)
       INSERT INTO ${schema}.ticket (bar_code, order_id, product_code, tariff_code, price, validity_date, state)
       SELECT $1 || '-' || k, o.id, 'P-0002', 'T-02', 19.90, current_date + 30, 'NOT_PRINTED' FROM o, generate_series(1, $3::int) k
       RETURNING bar_code`,
      [fileNumber, contact, tickets],
    );
    await client.query('COMMIT');
    return rows.map((row) => row.bar_code);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Bar code → when the sink accepted the email holding it, once every sold one arrived or at the deadline. */
async function waitForBarCodes(
  messages: readonly ReceivedMail[],
  sold: Map<string, number>,
  deadline: number,
): Promise<Map<string, number>> {
  const accepted = new Map<string, number>();
  let seen = 0;
  for (;;) {
    for (; seen < messages.length; seen++) {
      const mail = messages[seen]!;
      for (const attachment of mail.parsed.attachments) {
        for (const line of attachment.content.toString('utf8').split('\n').slice(1)) {
          const barCode = line.split(';', 1)[0]!;
          if (sold.has(barCode) && !accepted.has(barCode)) accepted.set(barCode, mail.receivedAt.getTime());
        }
      }
    }
    if (accepted.size >= sold.size || Date.now() > deadline) return accepted;
    await sleep(500);
  }
}
