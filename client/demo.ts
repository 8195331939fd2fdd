import fs from 'node:fs';
import path from 'node:path';
import { installObservability } from '../lib/observability';
import pg from 'pg';
import { loadConfig, maskUrl } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import { InterfaceStore, type ExportInterface } from '../lib/interfaces/store';
import { randomBytes } from 'node:crypto';
import { parseDestinationOptions } from '../lib/destinations/options';
import type { SecretsKeyring } from '../lib/destinations/secret-box';
import { findSshd, startSshd, type TestSshd } from '../devstack/sshd';
import { connectClient } from '../lib/temporal/connection';
import { syncSchedules } from '../lib/schedules/sync';
import { readDeploymentId } from '../lib/deployment';
import { devServerSearchAttributes } from '../lib/schedules/dev-search-attributes';
import { startWorker } from '../worker/worker';
import { useOrStartPostgres } from '../devstack/postgres';
import { useOrStartTemporal } from '../devstack/temporal';
import { startSmtpSink, DEMO_SMTP_PORT } from '../devstack/smtp-sink';
import { cancelOrReprint, insertSale, randomSale, seedReferenceData } from '../devstack/sales-simulator';
import { DEFAULT_COLUMNS, type TicketState } from '../lib/tickets';
import { parseFormatSpec } from '../lib/format';

interface DemoOptions {
  /** Interval of the demo interfaces (short, so files arrive while you watch). */
  everyMillis: number;
  /** Folder where the SMTP sink keeps every received email as an .eml file. */
  mailDir: string;
  /** Orders the simulator writes per second. */
  salesPerSecond: number;
  /** One JSON object per line instead of text. */
  json: boolean;
}

const DEMO_DATABASE = 'barcodes_demo';
const DEMO_TEMPORAL_PORT = 7233;
const DEMO_UI_PORT = 8233;
const DEMO_STATE_DIR = '.barcodes';
const DEMO_METRICS_ADDRESS = '127.0.0.1:9464';

let json = false;
const log = (line: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(
    json
      ? JSON.stringify({ time: new Date().toISOString(), message: line, ...fields }) + '\n'
      : `[demo] ${line}\n`,
  );

/**
 * The whole product on one machine with local defaults: uses or starts PostgreSQL and Temporal,
 * starts an SMTP sink, creates the source tables with sample data and two demo interfaces, starts
 * a worker, registers the schedules, keeps simulating sales and prints a line per delivered file.
 * Ctrl-C stops everything it started.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  json = options.json;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((error) => log(`while stopping: ${(error as Error).message}`));
  };
  let stopping: Promise<void> | undefined;
  const shutdown = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        log(`${signal}: stopping everything the demo started…`);
        resolve();
      });
    }
  });
  try {
    fs.mkdirSync(DEMO_STATE_DIR, { recursive: true });
    const postgres = await useOrStartPostgres({ log });
    stops.push(() => postgres.stop());
    const databaseUrl = process.env.DATABASE_URL ?? (await ensureDatabase(postgres.adminUrl, DEMO_DATABASE));
    const temporal = await useOrStartTemporal({
      log,
      port: DEMO_TEMPORAL_PORT,
      uiPort: DEMO_UI_PORT,
      dbFile: path.resolve(DEMO_STATE_DIR, 'temporal.sqlite'),
      logFile: path.resolve(DEMO_STATE_DIR, 'temporal.log'),
      searchAttributes: devServerSearchAttributes(),
    });
    stops.push(() => temporal.stop());
    const useOwnSink = !process.env.SMTP_URL;
    const sink = useOwnSink
      ? await startSmtpSink({ port: DEMO_SMTP_PORT, mailDir: path.resolve(options.mailDir) })
      : undefined;
    if (sink) {
      stops.push(() => sink.close());
      log(`SMTP sink listening on ${sink.url}; every email is kept in ${path.resolve(options.mailDir)}/`);
    }
    const config = loadConfig({
      ...process.env,
      ...demoSecretsKey(),
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      SMTP_URL: sink?.url ?? process.env.SMTP_URL,
      BARCODES_ALLOW_SHORT_INTERVALS: '1',
      BARCODES_METRICS_ADDRESS: process.env.BARCODES_METRICS_ADDRESS ?? DEMO_METRICS_ADDRESS,
    });
    // Not the exporter's application name: the simulated sales are source writers, and the window
    // horizon must see their open transactions (lib/source/ticket-source.ts ignores the exporter's own).
    const pool = createPool(config.databaseUrl, { max: 4, applicationName: 'barcodes-demo-sales' });
    stops.push(() => pool.end());
    const migrated = await migrate(pool, pool, {
      exporterSchema: config.exporterSchema,
      ticketingSchema: config.ticketingSchema,
      withSource: true,
    });
    log(
      migrated.applied.length
        ? `migrated ${maskUrl(config.databaseUrl)}: ${migrated.applied.join('; ')}`
        : `database ${maskUrl(config.databaseUrl)} up to date`,
    );
    await seedReferenceData(pool, config.ticketingSchema);
    const store = new InterfaceStore(pool, config.exporterSchema);
    let interfaces = await ensureDemoInterfaces(store, options.everyMillis);
    const sftp = await startDemoSftp(store, interfaces[0]!, config.secretsKeyring);
    if (sftp) {
      stops.push(() => sftp.close());
      interfaces = [await store.get(interfaces[0]!.id), ...interfaces.slice(1)];
    }

    const workerLog = fs.createWriteStream(path.resolve(DEMO_STATE_DIR, 'worker.log'), { flags: 'a' });
    installObservability({
      logLevel: 'INFO',
      write: (line) => workerLog.write(line + '\n'),
      metricsAddress: config.metricsAddress,
    });
    const worker = await startWorker(config);
    stops.push(() => worker.shutdown());
    log(
      `worker polling task queue ${config.taskQueue}; its JSON log: ${path.resolve(DEMO_STATE_DIR, 'worker.log')}`,
    );
    if (config.metricsAddress) log(`metrics: http://${config.metricsAddress}/metrics`);

    const client = await connectClient(config);
    stops.push(() => client.connection.close());
    const deploymentId = await readDeploymentId(pool, config.exporterSchema);
    const report = await syncSchedules({ client, config, deploymentId }, store);
    for (const change of report.changes)
      log(`schedule ${change.scheduleId}: ${change.action} (${change.detail})`);
    for (const iface of interfaces) {
      const destinations = [...iface.recipients, ...iface.destinations.map((destination) => destination.url)];
      log(
        `interface ${iface.id} "${iface.name}" → ${destinations.join(', ')} every ${options.everyMillis / 1000}s`,
      );
    }
    if (sftp) {
      // Final names only: the hidden temporary name of an upload in progress is not a delivery.
      fs.watch(sftp.inbox, (_event, name) => {
        if (!name || name.startsWith('.') || !fs.existsSync(path.join(sftp.inbox, name))) return;
        log(`delivered by SFTP: ${path.join(sftp.inbox, name)}`, {
          event: 'delivered',
          destination: 'sftp',
          fileName: name,
        });
      }).unref();
    }
    if (temporal.uiUrl || !temporal.started)
      log(
        `Temporal UI: ${temporal.uiUrl ?? `(your server at ${temporal.address})`} (schedules: barcodes-${deploymentId}-<id>)`,
      );

    sink?.onMessage((mail) => {
      const attachment = mail.parsed.attachments[0];
      const text = attachment ? attachment.content.toString('utf8') : '';
      const rows = attachment ? text.split('\n').filter(Boolean).length - 1 : 0;
      // Rows telling of a barcode sent earlier that changed state (cancelled, reprinted).
      const stateChanges = (text.match(/;STATE_CHANGE;/g) ?? []).length;
      const changed = stateChanges ? `, ${stateChanges} of them state changes` : '';
      log(
        `delivered to ${mail.envelope.to.join(', ')}: ${attachment?.filename ?? '(no file)'} (${rows} tickets${changed}) → ${mail.file ?? ''}`,
        {
          event: 'delivered',
          to: mail.envelope.to,
          fileName: attachment?.filename ?? null,
          tickets: rows,
          stateChanges,
          eml: mail.file ?? null,
        },
      );
    });

    const simulator = simulateSales(pool, config.ticketingSchema, options.salesPerSecond);
    stops.push(() => simulator.stop());
    log('simulating sales; files arrive every interval. Ctrl-C to stop.');
    await Promise.race([shutdown, worker.done]);
  } finally {
    stopping ??= stopAll();
    await stopping;
    log('stopped');
  }
}

/**
 * SFTP and HTTPS secrets are stored encrypted: without BARCODES_SECRETS_KEY(_FILE) the demo makes
 * a key of its own in .barcodes/secrets.key (mode 0600) and uses that.
 */
function demoSecretsKey(): Record<string, string> {
  if (process.env.BARCODES_SECRETS_KEY || process.env.BARCODES_SECRETS_KEY_FILE) return {};
  const file = path.resolve(DEMO_STATE_DIR, 'secrets.key');
  if (!fs.existsSync(file))
    fs.writeFileSync(file, `demo:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return { BARCODES_SECRETS_KEY_FILE: file };
}

/**
 * The first demo interface also delivers by SFTP, into .barcodes/sshd/inbox served by an sshd of
 * the demo's own (loopback, its own host key, key auth). Without sshd (Debian: openssh-server) the
 * demo says so in one line and delivers by email only.
 */
async function startDemoSftp(
  store: InterfaceStore,
  iface: ExportInterface,
  keyring: () => SecretsKeyring | undefined,
): Promise<TestSshd | undefined> {
  const sshdPath = findSshd();
  let server: TestSshd | undefined;
  try {
    if (!sshdPath) throw new Error('sshd is not installed (apt-get install openssh-server)');
    server = await startSshd(sshdPath, { dir: path.resolve(DEMO_STATE_DIR, 'sshd') });
  } catch (error) {
    log(`no SFTP delivery in this demo: could not start sshd: ${(error as Error).message.split('\n')[0]}`);
    if (iface.destinations.some((destination) => destination.kind === 'sftp'))
      await store.update(iface.id, { setDestinations: { sftp: null } }, 'demo');
    return undefined;
  }
  // The port is new on every start: the destination (URL, pinned host key, client key) is set again.
  await store.update(
    iface.id,
    {
      setDestinations: parseDestinationOptions(
        { sftp: server.url, sftpKey: server.clientKeyFile, sftpHostKey: server.hostKeyFingerprint },
        keyring,
      ),
    },
    'demo',
  );
  log(
    `sshd on 127.0.0.1:${server.port} (host key ${server.hostKeyFingerprint}): SFTP files arrive in ${server.inbox}/`,
  );
  return server;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${name}`);
      log(`created database ${name}`);
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function ensureDemoInterfaces(store: InterfaceStore, everyMillis: number) {
  const wanted = [
    // State changes on, with the columns that show them: cancellations and reprints of barcodes
    // sent in earlier files arrive as STATE_CHANGE rows.
    {
      name: 'Barcodes for Demo Reseller',
      recipients: ['tickets@demo-reseller.example'],
      contacts: ['C-1001'],
      channels: ['RESELLER-WEB'],
      stateChanges: [] as TicketState[],
      format: STATE_CHANGE_FORMAT,
    },
    {
      name: 'Barcodes for Partner Agency',
      recipients: ['import@partner-agency.example'],
      contacts: ['C-1002'],
      channels: ['AGENCY'],
      stateChanges: null,
      format: null,
    },
  ];
  const existing = await store.list();
  const result = [];
  for (const spec of wanted) {
    let iface = existing.find((candidate) => candidate.name === spec.name);
    if (!iface) {
      iface = await store.create(
        {
          name: spec.name,
          recipients: spec.recipients,
          intervalSeconds: Math.max(1, Math.round(everyMillis / 1000)),
          lagSeconds: 2,
          timeZone: 'Europe/Zurich',
          format: spec.format,
          startAt: new Date(),
          enabled: true,
          alertEmail: null,
          stateChanges: spec.stateChanges,
        },
        { contacts: spec.contacts, channels: spec.channels },
        'demo',
      );
    } else if (iface.intervalSeconds * 1000 !== everyMillis) {
      iface = await store.update(
        iface.id,
        { intervalSeconds: Math.max(1, Math.round(everyMillis / 1000)) },
        'demo',
      );
    }
    if (spec.stateChanges && !iface.stateChanges) {
      // A demo database from before state changes: turn them on where the demo shows them.
      iface = await store.update(iface.id, { stateChanges: spec.stateChanges, format: spec.format }, 'demo');
    }
    result.push(iface);
  }
  return result;
}

/** The default columns, then what a state-change row says (docs/state-changes.md). */
const STATE_CHANGE_FORMAT = parseFormatSpec({
  columns: [...DEFAULT_COLUMNS, 'CHANGE', 'PREVIOUS_STATE', 'CHANGED_AT'],
}) as unknown as Record<string, unknown>;

/** About one sale in this many is followed by a cancellation or a reprint of a recent ticket. */
const SALES_PER_STATE_CHANGE = 8;

function simulateSales(pool: pg.Pool, schema: string, perSecond: number) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        await insertSale(pool, schema, randomSale());
        if (Math.random() < 1 / SALES_PER_STATE_CHANGE) await cancelOrReprint(pool, schema);
      } catch (error) {
        log(`sale failed: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 / perSecond));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
