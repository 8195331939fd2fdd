import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfig, type Config } from '../lib/config';
import { createPool } from '../lib/db/pool';
import { migrate } from '../lib/db/migrate';
import { EXPORTER_SCHEMA_SHAPE } from '../lib/db/migrations';
import { findSchemaDamage, SchemaDamageError } from '../lib/db/schema-verify';
import {
  createTestDatabase,
  useOrStartPostgres,
  type PostgresEndpoint,
  type TestDatabase,
} from '../devstack/postgres';
import { barcodes, cliEnv } from './support/cli';

let postgres: PostgresEndpoint;
let database: TestDatabase;
let config: Config;
let pool: pg.Pool;
let schema: string;

before(async () => {
  postgres = await useOrStartPostgres({ log: () => {} });
  database = await createTestDatabase(postgres.adminUrl);
  // Temporal and SMTP point nowhere: doctor's own lines for them fail fast, this file reads the schema line.
  config = loadConfig({
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    SMTP_URL: 'smtp://127.0.0.1:1',
  });
  pool = createPool(config.databaseUrl, { max: 4 });
  schema = config.exporterSchema;
  await migrate(pool, pool, {
    exporterSchema: schema,
    ticketingSchema: config.ticketingSchema,
    withSource: true,
  });
});
after(async () => {
  await pool?.end();
  await database?.drop();
  await postgres?.stop();
});

test('the declared shape is exactly what the migrations create', async () => {
  const { rows } = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    [schema],
  );
  const created: Record<string, string[]> = {};
  for (const row of rows) (created[row.table_name] ??= []).push(row.column_name);
  const declared = Object.fromEntries(
    Object.entries(EXPORTER_SCHEMA_SHAPE).map(([table, columns]) => [table, [...columns].sort()]),
  );
  const actual = Object.fromEntries(
    Object.entries(created).map(([table, columns]) => [table, columns.sort()]),
  );
  assert.deepEqual(actual, declared);
  assert.deepEqual(await findSchemaDamage(pool, schema), []);
});

test('a dropped table or column is named by migrate (exit 1) and by doctor, instead of "up to date"', async () => {
  const env = cliEnv(config);
  const healthy = await barcodes(['migrate'], env);
  assert.equal(healthy.code, 0, healthy.stderr);
  assert.match(healthy.stdout, /up to date/);

  await pool.query(`DROP TABLE ${schema}.delivery_recipient`);
  await pool.query(`ALTER TABLE ${schema}.delivery DROP COLUMN purged_at`);
  await pool.query(`ALTER TABLE ${schema}.delivery_part DROP COLUMN sent_at`);
  assert.deepEqual(await findSchemaDamage(pool, schema), [
    'delivery.purged_at',
    'delivery_part.sent_at',
    'delivery_recipient',
  ]);
  await assert.rejects(
    migrate(pool, pool, {
      exporterSchema: schema,
      ticketingSchema: config.ticketingSchema,
      withSource: false,
    }),
    (error: unknown) => error instanceof SchemaDamageError && error.missing.length === 3,
  );

  const migrated = await barcodes(['migrate'], env);
  assert.equal(migrated.code, 1, migrated.stdout);
  assert.equal(migrated.stdout, '');
  assert.equal(migrated.stderr.trim().split('\n').length, 1, 'one line');
  assert.match(
    migrated.stderr,
    /^barcodes: schema barcode_export is damaged: missing table delivery_recipient; missing columns delivery\.purged_at, delivery_part\.sent_at /,
  );

  const doctor = await barcodes(['doctor', '--json'], env);
  assert.equal(doctor.code, 1);
  const checks: { name: string; ok: boolean; detail: string }[] = JSON.parse(doctor.stdout);
  const line = checks.find((entry) => entry.name === 'exporter schema');
  assert.equal(line?.ok, false);
  assert.match(
    line!.detail,
    /missing table delivery_recipient; missing columns delivery\.purged_at, delivery_part\.sent_at/,
  );
  assert.equal(
    checks.find((entry) => entry.name === 'postgresql')?.ok,
    true,
    'the migration number alone looks fine',
  );
});
