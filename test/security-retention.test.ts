import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import pg from 'pg';
import { loadConfig, type Config } from '../lib/config';
import { createPool, inTransaction } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import { InterfaceStore } from '../lib/interfaces/store';
import { DeliveryLedger, type DeliveryKind } from '../lib/ledger/ledger';
import { fileRetentionMillis, purgeStoredFiles, type WorkflowState } from '../lib/ledger/retention';
import {
  createTestDatabase,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
} from '../devstack/postgres';
import { barcodes, cliEnv } from './support/cli';

const DAY_MILLIS = 86_400_000;
let postgres: PostgresEndpoint;
let database: TestDatabase;
let config: Config;
let pool: pg.Pool;
let ledger: DeliveryLedger;
let interfaceId: number;
let nextWindowStart = Date.UTC(2026, 0, 1);

before(async () => {
  postgres = await useOrStartPostgres({ log: () => {} });
  database = await createTestDatabase(postgres.adminUrl);
  config = loadConfig({ DATABASE_URL: database.url });
  pool = createPool(config.databaseUrl, { max: 4 });
  await migrate(pool, pool, {
    exporterSchema: config.exporterSchema,
    ticketingSchema: config.ticketingSchema,
    withSource: false,
  });
  ledger = new DeliveryLedger(pool, config.exporterSchema);
  const iface = await new InterfaceStore(pool, config.exporterSchema).create(
    {
      name: 'Retention reseller',
      recipients: ['keep@reseller.test'],
      intervalSeconds: 900,
      lagSeconds: 0,
      timeZone: 'UTC',
      format: null,
      startAt: new Date(nextWindowStart),
      enabled: true,
      alertEmail: null,
    },
    { contacts: ['C-1001'], channels: [] },
    'test',
  );
  interfaceId = iface.id;
});
after(async () => {
  await pool?.end();
  await database?.drop();
  await postgres?.stop();
});

interface Stored {
  id: number;
  parts: Buffer[];
  sha256: string;
}

/**
 * A frozen delivery with real stored parts (through the ledger's own sink: several chunks for a
 * part over 1 MiB), then sent and aged as asked.
 */
async function storeDelivery(options: {
  kind: DeliveryKind;
  outcome: 'sent' | 'failed' | 'pending';
  ageDays: number;
  partBytes: number[];
  workflowId?: string;
}): Promise<Stored> {
  const windowStart = new Date(nextWindowStart);
  const windowEnd = new Date((nextWindowStart += 900_000));
  const parts = options.partBytes.map((size) => randomBytes(size));
  const whole = createHash('sha256');
  const id = await inTransaction(pool, async (client) => {
    const deliveryId = await ledger.insert(client, {
      interfaceId,
      kind: options.kind,
      windowStart,
      windowEnd,
      recipients: ['keep@reseller.test', 'audit@reseller.test'],
      workflowId: options.workflowId,
    });
    const sink = ledger.partSink(client, deliveryId);
    for (const [index, bytes] of parts.entries()) {
      await sink.beginPart(index + 1);
      for (let offset = 0; offset < bytes.length; offset += 256 * 1024)
        await sink.write(bytes.subarray(offset, offset + 256 * 1024));
      await sink.endPart();
      whole.update(bytes);
    }
    await ledger.completeFreeze(client, deliveryId, {
      ticketCount: parts.length * 10,
      sha256: sink.sha256(),
      parts: parts.map((bytes, index) => ({
        index: index + 1,
        fileName: `barcodes_retention_${deliveryId}_${index + 1}.csv`,
        contentType: 'text/csv; charset=utf-8',
        byteCount: bytes.length,
        rowCount: 10,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        messageId: `<retention.${deliveryId}.${index + 1}@exporter.test>`,
      })),
    });
    return deliveryId;
  });
  if (options.outcome === 'sent') {
    for (const index of parts.keys()) {
      await ledger.markPartSent(id, index + 1, [
        { address: 'keep@reseller.test', status: 'accepted', response: '250 OK' },
        { address: 'audit@reseller.test', status: 'refused', response: '550 no such user' },
      ]);
    }
    await ledger.markSent(id);
  } else if (options.outcome === 'failed') {
    await ledger.markFailed(id, 'SMTP refused: 554');
  }
  const age = `${options.ageDays} days`;
  await pool.query(
    `UPDATE ${config.exporterSchema}.delivery SET created_at = now() - $2::interval, sent_at = CASE WHEN sent_at IS NULL THEN NULL ELSE now() - $2::interval END WHERE id = $1`,
    [id, age],
  );
  return { id, parts, sha256: whole.digest('hex') };
}

/** These deliveries have no workflow id: nothing may ask Temporal about them. */
const noWorkflowExpected = async (workflowId: string): Promise<WorkflowState> =>
  assert.fail(`asked about workflow ${workflowId}`);

async function chunkCount(deliveryId: number): Promise<number> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM ${config.exporterSchema}.delivery_chunk WHERE delivery_id = $1`,
    [deliveryId],
  );
  return rows[0].n;
}

async function readParts(stored: Stored): Promise<Buffer[]> {
  return Promise.all(stored.parts.map((_, index) => buffer(ledger.readPart(stored.id, index + 1))));
}

test('purge deletes old sent files, keeps the record of the delivery, and never touches what is still to be sent', async () => {
  const oldSent = await storeDelivery({
    kind: 'run',
    outcome: 'sent',
    ageDays: 40,
    partBytes: [2_500_000, 1_000],
  });
  const oldBackfillFailed = await storeDelivery({
    kind: 'backfill',
    outcome: 'failed',
    ageDays: 45,
    partBytes: [3_000],
  });
  const recentSent = await storeDelivery({
    kind: 'scheduled',
    outcome: 'sent',
    ageDays: 2,
    partBytes: [5_000],
  });
  const oldUnsentChain = await storeDelivery({
    kind: 'scheduled',
    outcome: 'failed',
    ageDays: 50,
    partBytes: [4_000],
  });
  assert.ok((await chunkCount(oldSent.id)) >= 3, 'the large part was stored in several chunks');
  const before = await ledger.get(oldSent.id);
  const partsBefore = await ledger.parts(oldSent.id);
  const recipientsBefore = await ledger.recipientResults(oldSent.id);
  const chunksToPurge = (await chunkCount(oldSent.id)) + (await chunkCount(oldBackfillFailed.id));

  const thirtyDaysAgo = async () =>
    (await pool.query<{ t: Date }>(`SELECT now() - interval '30 days' AS t`)).rows[0]!.t.getTime();
  const earliestCutoff = await thirtyDaysAgo();
  const report = await purgeStoredFiles(pool, config.exporterSchema, {
    olderThanMillis: 30 * DAY_MILLIS,
    batchSize: 1,
    workflowState: noWorkflowExpected,
  });
  const latestCutoff = await thirtyDaysAgo();
  assert.equal(report.deliveries, 2);
  assert.equal(report.bytes, 2_500_000 + 1_000 + 3_000);
  assert.equal(report.chunks, chunksToPurge);
  assert.equal(report.keptUnsent, 1, 'the old unsent scheduled window is reported');
  assert.ok(
    report.cutoff.getTime() >= earliestCutoff && report.cutoff.getTime() <= latestCutoff,
    'the cutoff is 30 days before the database clock',
  );

  for (const purged of [oldSent, oldBackfillFailed]) {
    assert.equal(await chunkCount(purged.id), 0, `delivery ${purged.id}: file bytes gone`);
    assert.ok(
      (await ledger.get(purged.id))!.purgedAt instanceof Date,
      `delivery ${purged.id}: purged_at set`,
    );
  }
  const after = await ledger.get(oldSent.id);
  assert.deepEqual(
    { ...after, purgedAt: null },
    { ...before, purgedAt: null },
    'window, count, checksum, recipients and status unchanged',
  );
  assert.equal(after!.sha256, oldSent.sha256);
  assert.deepEqual(
    await ledger.parts(oldSent.id),
    partsBefore,
    'part names, sizes, checksums and Message-IDs kept',
  );
  assert.deepEqual(
    await ledger.recipientResults(oldSent.id),
    recipientsBefore,
    "each recipient's answer kept",
  );

  for (const kept of [recentSent, oldUnsentChain]) {
    assert.equal((await ledger.get(kept.id))!.purgedAt, null);
    assert.deepEqual(
      await readParts(kept),
      kept.parts,
      `delivery ${kept.id}: the stored file is intact, byte for byte`,
    );
  }

  const again = await purgeStoredFiles(pool, config.exporterSchema, {
    olderThanMillis: 30 * DAY_MILLIS,
    workflowState: noWorkflowExpected,
  });
  assert.deepEqual(
    { ...again, cutoff: null },
    { cutoff: null, deliveries: 0, chunks: 0, bytes: 0, keptUnsent: 1, keptInFlight: 0 },
    'idempotent',
  );
});

test('the retention comes from BARCODES_FILE_RETENTION, 30 days by default', () => {
  assert.equal(fileRetentionMillis({}), 30 * DAY_MILLIS);
  assert.equal(fileRetentionMillis({ BARCODES_FILE_RETENTION: '7d' }), 7 * DAY_MILLIS);
  assert.throws(
    () => fileRetentionMillis({ BARCODES_FILE_RETENTION: 'a month' }),
    /BARCODES_FILE_RETENTION: invalid duration "a month"/,
  );
});

test('barcodes purge: --older-than, the environment default, --json, and bad input', async () => {
  const env = cliEnv(config);
  // (backfills: the interface's one unsent chain window from the first test stays pending)
  const tenDays = await storeDelivery({ kind: 'backfill', outcome: 'sent', ageDays: 10, partBytes: [1_234] });
  const threeDays = await storeDelivery({
    kind: 'backfill',
    outcome: 'sent',
    ageDays: 3,
    partBytes: [2_345],
  });

  const byDefault = await barcodes(['purge', '--json'], env); // 30 days: neither is old enough
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.equal(JSON.parse(byDefault.stdout).deliveries, 0);

  const fromEnv = await barcodes(['purge', '--json'], { ...env, BARCODES_FILE_RETENTION: '7d' });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const report = JSON.parse(fromEnv.stdout);
  assert.equal(report.deliveries, 1);
  assert.equal(report.bytes, 1_234);
  assert.match(report.cutoff, /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(await chunkCount(tenDays.id), 0);
  assert.equal(await chunkCount(threeDays.id), 1);

  const explicit = await barcodes(['purge', '--older-than', '60h'], env); // 3 days old goes, the 2 days old of the first test stays
  assert.equal(explicit.code, 0, explicit.stderr);
  assert.match(explicit.stdout, /purged the stored files of 1 delivery \(1 chunk, 2345 bytes\)/);
  assert.equal(await chunkCount(threeDays.id), 0);

  const bad = await barcodes(['purge', '--older-than', 'soon'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^barcodes: --older-than: invalid duration "soon"/);
});

test('an unsent backfill or resend is purged only once its workflow has ended, and kept while Temporal cannot say', async () => {
  const running = await storeDelivery({
    kind: 'backfill',
    outcome: 'pending',
    ageDays: 40,
    partBytes: [1_500],
    workflowId: 'wf-running',
  });
  const retrying = await storeDelivery({
    kind: 'resend',
    outcome: 'failed',
    ageDays: 40,
    partBytes: [1_600],
    workflowId: 'wf-running',
  });
  const ended = await storeDelivery({
    kind: 'backfill',
    outcome: 'failed',
    ageDays: 40,
    partBytes: [1_700],
    workflowId: 'wf-ended',
  });
  const unreachable = await storeDelivery({
    kind: 'backfill',
    outcome: 'pending',
    ageDays: 40,
    partBytes: [1_800],
    workflowId: 'wf-unknown',
  });
  const asked: string[] = [];
  const states: Record<string, WorkflowState> = {
    'wf-running': 'open',
    'wf-ended': 'closed',
    'wf-unknown': 'unknown',
  };
  const report = await purgeStoredFiles(pool, config.exporterSchema, {
    olderThanMillis: 30 * DAY_MILLIS,
    workflowState: async (workflowId) => {
      asked.push(workflowId);
      return states[workflowId] ?? assert.fail(`asked about ${workflowId}`);
    },
  });
  assert.equal(report.deliveries, 1);
  assert.equal(report.bytes, 1_700);
  assert.equal(
    report.keptInFlight,
    3,
    'two deliveries of a running workflow, one Temporal could not say about',
  );
  assert.deepEqual(asked.sort(), ['wf-ended', 'wf-running', 'wf-unknown'], 'one question per workflow');
  assert.equal(await chunkCount(ended.id), 0);
  for (const kept of [running, retrying, unreachable]) {
    assert.equal((await ledger.get(kept.id))!.purgedAt, null);
    assert.deepEqual(
      await readParts(kept),
      kept.parts,
      `delivery ${kept.id}: its file is intact for the workflow that will send it`,
    );
  }
  states['wf-running'] = 'closed';
  const later = await purgeStoredFiles(pool, config.exporterSchema, {
    olderThanMillis: 30 * DAY_MILLIS,
    workflowState: async (workflowId) => states[workflowId]!,
  });
  assert.equal(later.deliveries, 2, 'once the workflow ended, its unsent deliveries go');
  assert.equal(later.keptInFlight, 1);

  // The command asks the real Temporal; one that cannot be reached keeps the file and says so.
  const cli = await barcodes(['purge', '--older-than', '30d'], {
    ...cliEnv(config),
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(
    cli.stdout,
    /kept 1 unsent backfill or resend older than that: its workflow is still running or Temporal could not say/,
  );
  assert.equal((await ledger.get(unreachable.id))!.purgedAt, null);
  await pool.query(
    `UPDATE ${config.exporterSchema}.delivery SET status = 'sent', sent_at = now() WHERE id = $1`,
    [unreachable.id],
  );
});
