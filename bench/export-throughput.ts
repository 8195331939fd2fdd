/**
 * Export throughput: one window of N matching tickets rendered in the default format by
 * (1) PostgreSQL's own COPY of the same select (the ceiling), (2) the export path in this process,
 * (3) `barcodes preview` to a pipe, (4) a real `barcodes worker` freezing and sending it, triggered
 * with `barcodes run`. Rows per second, ratio to COPY, and the memory of (3) and (4). The same
 * window as xlsx by (2) and (3) too: its rate as a ratio to CSV's, and preview's peak memory.
 */
import pg from 'pg';
import { PostgresTicketSource, type WindowSelection } from '../lib/source/ticket-source';
import { DEFAULT_FORMAT_SPEC, parseFormatSpec } from '../lib/format';
import type { Log } from '../devstack/log';
import { sleep } from '../devstack/log';
import { EXPORT_MAPPING, newestWindow } from './dataset';
import { EXPORTER_SCHEMA, type BenchDatabase } from './database';
import { expectSuccess, runBarcodes, runChild, startWorkerProcess, type ChildRun } from './children';
import { startCountingSmtp } from './counting-smtp';
import { discardDelivery, runExportPath, type ExportPathResult } from './export-path';
import { activityTimings, type ActivityTiming } from './history';
import type { BenchOptions } from './options';
import { cpuMillisOf, loadAverage, medianRssMib, peakRssMib, toMib } from './proc';
import type { Report } from './report';
import { benchEnv, runTag, startBenchTemporal } from './stack';
import { count, mib, rate, ratio, seconds } from './stats';

/** The targets. */
const TARGETS = { copyRatio: 0.85, previewPeakMib: 256, workerGrowthMib: 128 } as const;
/** How long the idle worker is sampled for its level. */
const IDLE_SAMPLE_MILLIS = 3_000;

export async function exportThroughputPhase(
  db: BenchDatabase,
  options: BenchOptions,
  report: Report,
  log: Log,
): Promise<void> {
  const section = report.section(
    `Export throughput: window of ${count(options.windowTickets)} matching tickets, default format`,
  );
  const tag = runTag();
  const window = await newestWindow(db.pool, db.large, EXPORT_MAPPING, options.windowTickets);
  const inRange = await ticketsInRange(db.pool, db.large.schema, window);
  const iface = await db.store.create(
    {
      name: `Bench big reseller ${tag}`,
      recipients: ['reseller@bench.test'],
      intervalSeconds: 900,
      lagSeconds: 30,
      timeZone: 'UTC',
      format: null,
      startAt: window.from,
      enabled: true,
      alertEmail: null,
    },
    { contacts: [...window.contacts], channels: [...window.channels] },
    'bench',
  );
  // The same window and mappings as an xlsx file.
  const xlsxSpec = parseFormatSpec({ type: 'xlsx' });
  const xlsxIface = await db.store.create(
    {
      name: `Bench big reseller xlsx ${tag}`,
      recipients: ['reseller@bench.test'],
      intervalSeconds: 900,
      lagSeconds: 30,
      timeZone: 'UTC',
      format: { ...xlsxSpec },
      startAt: window.from,
      enabled: false,
      alertEmail: null,
    },
    { contacts: [...window.contacts], channels: [...window.channels] },
    'bench',
  );
  log(
    `export window ${window.from.toISOString()} .. ${window.to.toISOString()}: ${count(options.windowTickets)} matching of ${count(inRange)} tickets in range (interface ${iface.id})`,
  );
  const source = new PostgresTicketSource(db.exporterPool, { schema: db.large.schema });

  // 1. PostgreSQL's COPY of the same file: the window's select with the default format's columns,
  //    dates and prices, its header and `;`, streamed by psql to a pipe this process counts.
  const copySql = defaultFormatCopySql(source, window);
  const copy = async () =>
    expectSuccess(
      await runChild('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db.url, '-c', copySql], {
        env: process.env,
      }),
      'psql COPY',
    );
  log('COPY: warm-up');
  const warm = await copy();
  if (warm.stdoutLines !== options.windowTickets + 1)
    throw new Error(
      `COPY gave ${warm.stdoutLines} lines, expected ${options.windowTickets} rows and a header`,
    );
  const copies: ChildRun[] = [];
  const paths: ExportPathResult[] = [];
  const javascriptPaths: ExportPathResult[] = [];
  const previews: ChildRun[] = [];
  const xlsxPaths: ExportPathResult[] = [];
  const xlsxPreviews: ChildRun[] = [];
  const env = benchEnv({
    databaseUrl: db.url,
    ticketingSchema: db.large.schema,
    temporalAddress: '127.0.0.1:1',
    smtpUrl: 'smtp://127.0.0.1:1',
  });
  // Interleaved, so a burst of load from elsewhere on the machine hits every contender alike.
  for (let i = 0; i < options.exportRepeats; i++) {
    log(`round ${i + 1}/${options.exportRepeats}: COPY`);
    copies.push(await copy());
    for (const renderer of ['database', 'javascript'] as const) {
      log(
        `round ${i + 1}/${options.exportRepeats}: export path, ${renderer} renderer (select, render, store)`,
      );
      const path = await runExportPath({
        exporterPool: db.exporterPool,
        ledger: db.ledger,
        source,
        renderer,
        interfaceId: iface.id,
        interfaceName: iface.name,
        window,
      });
      await discardDelivery(db.pool, EXPORTER_SCHEMA, path.deliveryId);
      (renderer === 'database' ? paths : javascriptPaths).push(path);
    }
    log(`round ${i + 1}/${options.exportRepeats}: barcodes preview`);
    previews.push(
      expectSuccess(
        await runBarcodes(
          ['preview', String(iface.id), '--from', window.from.toISOString(), '--to', window.to.toISOString()],
          { env },
        ),
        'barcodes preview',
      ),
    );
    log(`round ${i + 1}/${options.exportRepeats}: xlsx export path`);
    const xlsxPath = await runExportPath({
      exporterPool: db.exporterPool,
      ledger: db.ledger,
      source,
      renderer: 'javascript',
      interfaceId: xlsxIface.id,
      interfaceName: xlsxIface.name,
      window,
      spec: xlsxSpec,
    });
    await discardDelivery(db.pool, EXPORTER_SCHEMA, xlsxPath.deliveryId);
    xlsxPaths.push(xlsxPath);
    log(`round ${i + 1}/${options.exportRepeats}: xlsx barcodes preview`);
    xlsxPreviews.push(
      expectSuccess(
        await runBarcodes(
          [
            'preview',
            String(xlsxIface.id),
            '--from',
            window.from.toISOString(),
            '--to',
            window.to.toISOString(),
          ],
          { env },
        ),
        'barcodes preview (xlsx)',
      ),
    );
  }
  const bestCopy = fastest(copies, (run) => run.wallMillis);
  const bestPath = fastest(paths, (run) => run.millis);
  const bestJavascript = fastest(javascriptPaths, (run) => run.millis);
  if (bestJavascript.sha256 !== bestPath.sha256)
    throw new Error('the database and the JavaScript renderer stored different bytes');
  // The same file as COPY's: the parts' bytes less the header each part after the first repeats.
  const headerBytes = Buffer.byteLength(
    DEFAULT_FORMAT_SPEC.columns.map((column) => column.header).join(';') + '\n',
  );
  const sameSizeAsCopy = bestPath.bytes - (bestPath.parts - 1) * headerBytes === warm.stdoutBytes;
  if (!sameSizeAsCopy)
    throw new Error(
      `COPY wrote ${warm.stdoutBytes} bytes, the export path ${bestPath.bytes} in ${bestPath.parts} parts`,
    );
  const bestPreview = fastest(previews, (run) => run.wallMillis);
  if (bestPath.ticketCount !== options.windowTickets)
    throw new Error(
      `export path rendered ${bestPath.ticketCount} tickets, expected ${options.windowTickets}`,
    );
  if (bestPreview.stdoutSha256 !== bestPath.sha256)
    throw new Error('preview printed other bytes than the export path stored');
  const previewPeak = Math.max(...previews.map((run) => toMib(run.peakRssBytes)));
  const bestXlsxPath = fastest(xlsxPaths, (run) => run.millis);
  const bestXlsxPreview = fastest(xlsxPreviews, (run) => run.wallMillis);
  if (bestXlsxPath.ticketCount !== options.windowTickets)
    throw new Error(
      `xlsx export path rendered ${bestXlsxPath.ticketCount} tickets, expected ${options.windowTickets}`,
    );
  const xlsxPreviewPeak = Math.max(...xlsxPreviews.map((run) => toMib(run.peakRssBytes)));

  section.rows.push(
    {
      metric: 'tickets in the window range / matching',
      value: `${count(inRange)} / ${count(options.windowTickets)}`,
    },
    {
      metric: 'file size (default format)',
      value: `${mib(toMib(bestPath.bytes))} in ${bestPath.parts} parts of ≤ ${mib(toMib(DEFAULT_FORMAT_SPEC.maxFileSize))}`,
    },
    {
      metric: 'COPY … TO STDOUT (the same file: csv, ;, header, formatted dates) via psql',
      value: `${seconds(bestCopy.wallMillis)}, ${rate(options.windowTickets, bestCopy.wallMillis)}`,
    },
    {
      metric: 'export path in-process, JavaScript renderer',
      value: `${seconds(bestJavascript.millis)}, ${rate(options.windowTickets, bestJavascript.millis)}`,
    },
    { metric: '  rate ratio to COPY', value: ratio(bestCopy.wallMillis / bestJavascript.millis) },
    {
      metric: 'export path in-process, database renderer (select, render, store)',
      value: `${seconds(bestPath.millis)}, ${rate(options.windowTickets, bestPath.millis)}`,
      target: `≥ ${TARGETS.copyRatio} of COPY's rate`,
      met: bestCopy.wallMillis / bestPath.millis >= TARGETS.copyRatio,
    },
    { metric: '  rate ratio to COPY', value: ratio(bestCopy.wallMillis / bestPath.millis) },
    {
      metric: 'barcodes preview > pipe',
      value: `${seconds(bestPreview.wallMillis)}, ${rate(options.windowTickets, bestPreview.wallMillis)}`,
      target: `≥ ${TARGETS.copyRatio} of COPY's rate`,
      met: bestCopy.wallMillis / bestPreview.wallMillis >= TARGETS.copyRatio,
    },
    { metric: '  rate ratio to COPY', value: ratio(bestCopy.wallMillis / bestPreview.wallMillis) },
    {
      metric: '  preview peak RSS (VmHWM)',
      value: mib(previewPeak),
      target: `≤ ${TARGETS.previewPeakMib} MiB`,
      met: previewPeak <= TARGETS.previewPeakMib,
    },
    {
      metric: 'xlsx: file size',
      value: `${mib(toMib(bestXlsxPath.bytes))} in ${bestXlsxPath.parts} parts of ≤ ${count(xlsxSpec.maxRowsPerFile!)} rows`,
    },
    {
      metric: 'xlsx: export path in-process (select, render, store)',
      value: `${seconds(bestXlsxPath.millis)}, ${rate(options.windowTickets, bestXlsxPath.millis)}`,
    },
    { metric: '  rate ratio to the CSV export path', value: ratio(bestPath.millis / bestXlsxPath.millis) },
    {
      metric: 'xlsx: barcodes preview > pipe',
      value: `${seconds(bestXlsxPreview.wallMillis)}, ${rate(options.windowTickets, bestXlsxPreview.wallMillis)}`,
    },
    {
      metric: '  rate ratio to the CSV preview',
      value: ratio(bestPreview.wallMillis / bestXlsxPreview.wallMillis),
    },
    {
      metric: '  xlsx preview peak RSS (VmHWM)',
      value: mib(xlsxPreviewPeak),
      target: `≤ ${TARGETS.previewPeakMib} MiB`,
      met: xlsxPreviewPeak <= TARGETS.previewPeakMib,
    },
  );
  section.notes.push(
    `fastest of ${options.exportRepeats} interleaved round(s); load average ${loadAverage().toFixed(1)} at the end. ` +
      `preview and both renderers of the export path produced the same ${count(bestPath.bytes)} bytes (same SHA-256), ` +
      `the same file as COPY's ${count(warm.stdoutBytes)} bytes plus a header per further part.`,
  );

  await workerRun(db, iface.id, window, options, section, log, bestCopy.wallMillis);
}

/** A real worker process freezes and sends the window, triggered by `barcodes run`. */
async function workerRun(
  db: BenchDatabase,
  interfaceId: number,
  window: WindowSelection,
  options: BenchOptions,
  section: Report['sections'][number],
  log: Log,
  copyMillis: number,
): Promise<void> {
  const temporal = await startBenchTemporal(log);
  const smtp = await startCountingSmtp();
  const env = benchEnv({
    databaseUrl: db.url,
    ticketingSchema: db.large.schema,
    temporalAddress: temporal.server.address,
    smtpUrl: smtp.url,
  });
  try {
    // A small interface first: the worker's idle level is measured after it has run one window.
    const warmup = await db.store.create(
      {
        name: `Bench warm-up ${runTag()}`,
        recipients: ['reseller@bench.test'],
        intervalSeconds: 900,
        lagSeconds: 30,
        timeZone: 'UTC',
        format: null,
        startAt: new Date(window.to.getTime() - 10_000),
        enabled: true,
        alertEmail: null,
      },
      { contacts: [], channels: ['BOX'] },
      'bench',
    );
    log('worker: starting `barcodes worker`');
    const worker = await startWorkerProcess(env);
    try {
      expectSuccess(
        await runBarcodes(['run', String(warmup.id), '--timeout', '2m', '--json'], { env }),
        'barcodes run (warm-up)',
      );
      const idleFrom = Date.now();
      await sleep(IDLE_SAMPLE_MILLIS);
      const idleMib = medianRssMib(worker.monitor.between(idleFrom));
      log(`worker idle at ${mib(idleMib)}; barcodes run ${interfaceId} --timeout 10m`);
      const runFrom = Date.now();
      const run = expectSuccess(
        await runBarcodes(['run', String(interfaceId), '--timeout', '10m', '--json'], {
          env,
          keepStdout: true,
        }),
        'barcodes run',
      );
      const during = worker.monitor.between(runFrom);
      const delivery = JSON.parse(run.stdoutText) as {
        ticketCount: number;
        status: string;
        parts: number;
        bytes: number;
        workflowId: string;
      };
      if (delivery.ticketCount !== options.windowTickets || delivery.status !== 'sent') {
        throw new Error(
          `barcodes run: ${delivery.status} with ${delivery.ticketCount} tickets, expected sent with ${options.windowTickets}`,
        );
      }
      const timings = await activityTimings(temporal.client, delivery.workflowId);
      const mails = smtp.accepted.filter((mail) => mail.messageId.includes(`.i${interfaceId}.`));
      const { freeze, send } = splitRun(timings, mails);
      const peakMib = peakRssMib(during);
      const growthMib = peakMib - idleMib;
      const peakWhile = (timing: typeof freeze) =>
        timing
          ? mib(peakRssMib(worker.monitor.between(timing.startedAtMillis, timing.completedAtMillis)))
          : 'n/a';
      section.rows.push(
        {
          metric: 'worker: freezeWindow (select, render, store)',
          value: freeze ? `${seconds(freeze.millis)}, ${rate(options.windowTickets, freeze.millis)}` : 'n/a',
          target: `≥ ${TARGETS.copyRatio} of COPY's rate`,
          met: freeze ? copyMillis / freeze.millis >= TARGETS.copyRatio : false,
        },
        { metric: '  rate ratio to COPY', value: freeze ? ratio(copyMillis / freeze.millis) : 'n/a' },
        {
          metric: 'worker: sendDelivery (SMTP, loopback)',
          value: send
            ? `${seconds(send.millis)} for ${mails.length} emails, ${mib(toMib(mails.reduce((sum, mail) => sum + mail.bytes, 0)))}`
            : 'n/a',
        },
        { metric: 'worker: barcodes run, trigger to result', value: seconds(run.wallMillis) },
        { metric: 'worker RSS idle → peak while exporting', value: `${mib(idleMib)} → ${mib(peakMib)}` },
        {
          metric: '  peak during freezeWindow / sendDelivery',
          value: `${peakWhile(freeze)} / ${peakWhile(send)}`,
        },
        {
          metric: '  growth over idle',
          value: mib(growthMib),
          target: `≤ ${TARGETS.workerGrowthMib} MiB`,
          met: growthMib <= TARGETS.workerGrowthMib,
        },
        { metric: '  worker CPU during the run', value: seconds(cpuMillisOf(during)) },
      );
    } finally {
      await worker.stop();
    }
  } finally {
    await smtp.close();
    await temporal.stop();
  }
}

async function ticketsInRange(pool: pg.Pool, schema: string, window: WindowSelection): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${schema}.ticket WHERE created_at >= $1 AND created_at < $2`,
    [window.from, window.to],
  );
  return Number(rows[0]!.n);
}

function fastest<T>(runs: T[], millisOf: (run: T) => number): T {
  return runs.reduce((best, run) => (millisOf(run) < millisOf(best) ? run : best));
}

/** COPY of the default format's file: its columns, headers, dates (UTC) and prices, csv with `;`. */
export function defaultFormatCopySql(source: PostgresTicketSource, window: WindowSelection): string {
  const select = [
    't.bar_code AS "BAR_CODE"',
    't.state AS "TICKET_STATE"',
    'o.file_number AS "FILE_NUMBER"',
    't.product_code AS "PRODUCT_CODE"',
    'p.name AS "PRODUCT_NAME"',
    `to_char(t.validity_date, 'YYYY-MM-DD') AS "VALIDITY_DATE"`,
    't.tariff_code AS "TARIFF_CODE"',
    'ta.name AS "TARIFF_NAME"',
    'round(t.price, 2) AS "PRICE"',
    `to_char(o.order_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS "ORDER_DATE"`,
    'o.contact_number AS "CONTACT_NUMBER"',
  ].join(', ');
  const query = inlineParameters(source.windowSql({ select }), [
    window.from,
    window.to,
    window.contacts,
    window.channels,
  ]);
  return `COPY (${query}) TO STDOUT (FORMAT csv, DELIMITER ';', HEADER)`;
}

/**
 * The window query with its parameters written in as literals, for psql's COPY: $1, $2 are
 * timestamps, $3, $4 text arrays (the casts stay in the query text).
 */
export function inlineParameters(
  sql: string,
  values: [Date, Date, readonly string[], readonly string[]],
): string {
  const literal = (value: Date | readonly string[]): string =>
    value instanceof Date
      ? pg.escapeLiteral(value.toISOString())
      : `ARRAY[${value.map((item) => pg.escapeLiteral(item)).join(',')}]::text[]`;
  return sql.replace(/\$([1-4])(::text\[\])?/g, (_match, index: string) =>
    literal(values[Number(index) - 1]!),
  );
}

type Span = Pick<ActivityTiming, 'startedAtMillis' | 'completedAtMillis' | 'millis'>;

/**
 * The freeze and the send of one run. Runs of input version 1 to 3 have an activity for each; from
 * version 4 on both happen in one activity (exportWindows), split where sending began: the first
 * email's arrival less one email's time (the spacing between emails, from the SMTP sink's clock).
 */
function splitRun(
  timings: ActivityTiming[],
  mails: { acceptedAtMillis: number }[],
): { freeze?: Span; send?: Span } {
  const freeze = timings.find((timing) => timing.activityType === 'freezeWindow');
  const send = timings.find((timing) => timing.activityType === 'sendDelivery');
  if (freeze || send) return { freeze, send };
  const whole = timings.find((timing) => timing.activityType === 'exportWindows');
  if (!whole || mails.length === 0) return {};
  const arrivals = mails.map((mail) => mail.acceptedAtMillis).sort((a, b) => a - b);
  const perMail = arrivals.length > 1 ? (arrivals.at(-1)! - arrivals[0]!) / (arrivals.length - 1) : 0;
  const sendStart = Math.max(whole.startedAtMillis, arrivals[0]! - perMail);
  return {
    freeze: {
      startedAtMillis: whole.startedAtMillis,
      completedAtMillis: sendStart,
      millis: sendStart - whole.startedAtMillis,
    },
    send: {
      startedAtMillis: sendStart,
      completedAtMillis: whole.completedAtMillis,
      millis: whole.completedAtMillis - sendStart,
    },
  };
}
