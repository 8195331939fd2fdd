import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestStack } from './support/stack';
import { findOrInstallSshd, startSshd, type TestSshd } from './support/sshd';
import { filesFor } from './support/mail';
import { insertSale } from '../devstack/sales-simulator';
import { parseDestinationOptions } from '../lib/destinations/options';
import { remoteFileName } from '../lib/destinations/remote-name';
import { barcodes, cliEnv } from './support/cli';
import { dumpTemporal } from './support/history-dump';

const sshd = findOrInstallSshd();
const skip = 'skip' in sshd ? sshd.skip : false;
if (skip) process.stderr.write(`# SFTP tests skipped: ${skip}\n`);

const SECRETS_KEY = `k1:${randomBytes(32).toString('base64')}`;
let stack: TestStack;
let server: TestSshd;

before(async () => {
  if (skip) return;
  server = await startSshd((sshd as { path: string }).path);
  stack = await TestStack.start({ env: { BARCODES_SECRETS_KEY: SECRETS_KEY } });
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
  await server?.close();
});

function sftpDestination(hostKeyFingerprint = server.hostKeyFingerprint, url = server.url) {
  return parseDestinationOptions(
    { sftp: url, sftpKey: server.clientKeyFile, sftpHostKey: hostKeyFingerprint },
    stack.config.secretsKeyring,
  );
}

async function storedBytes(deliveryId: number, part = 1): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stack.ledger.readPart(deliveryId, part)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test(
  'a window arrives in the SFTP folder byte for byte, besides the email, each with its own status',
  { skip },
  async () => {
    const iface = await stack.createInterface({
      recipients: ['sftp-and-mail@reseller.test'],
      channels: ['WEB'],
      setDestinations: sftpDestination(),
    });
    await insertSale(stack.pool, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'WEB',
      ticketCount: 3,
    });
    const run = await stack.runNow(iface.id);
    const window = run.result.windows[0]!;
    assert.equal(window.status, 'sent');
    const [part] = await stack.ledger.parts(window.deliveryId!);
    const arrived = readFileSync(path.join(server.inbox, part!.fileName));
    assert.deepEqual(
      arrived,
      await storedBytes(window.deliveryId!),
      'the SFTP file is the stored part, byte for byte',
    );
    assert.deepEqual(
      readdirSync(server.inbox).filter((name) => name.startsWith('.')),
      [],
      'no temporary file is left',
    );
    await stack.sink.waitFor((mail) => mail.envelope.to.includes('sftp-and-mail@reseller.test'), 10_000);
    assert.equal(filesFor(stack.sink, 'sftp-and-mail@reseller.test').length, 1);
    const results = await stack.ledger.destinationResults(window.deliveryId!);
    assert.deepEqual(
      results.map((result) => [result.part, result.destination, result.status]),
      [[1, 'sftp', 'delivered']],
    );
    assert.ok(part!.sentAt, 'email recorded on the part');

    // A resend carries its kind and id in the name: it never meets the original.
    const name = remoteFileName({ fileName: part!.fileName, deliveryKind: 'resend', deliveryId: 42 });
    assert.match(name, /\.resend-42\.csv$/);
  },
);

test(
  'an interface may deliver by SFTP only; the stored secret is neither in show nor in the audit trail',
  { skip },
  async () => {
    const iface = await stack.createInterface({
      recipients: [],
      channels: ['BOX'],
      setDestinations: sftpDestination(),
    });
    assert.equal(iface.destinations.length, 1);
    assert.equal(iface.destinations[0]!.hostKeyFingerprint, server.hostKeyFingerprint);
    assert.match(iface.destinations[0]!.secretFingerprint, /^SHA256:/);
    const history = JSON.stringify(await stack.store.history(iface.id));
    const privateKey = readFileSync(server.clientKeyFile, 'utf8');
    const keyBody = privateKey.split('\n')[1]!;
    assert.ok(!history.includes(keyBody), 'the private key is not in the audit trail');
    const { rows } = await stack.pool.query(
      `SELECT secret_sealed FROM ${stack.config.exporterSchema}.destination WHERE interface_id = $1`,
      [iface.id],
    );
    assert.ok(!String(rows[0].secret_sealed).includes(keyBody), 'stored encrypted');
    await insertSale(stack.pool, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'BOX',
      ticketCount: 1,
    });
    const run = await stack.runNow(iface.id);
    assert.equal(run.result.windows[0]!.status, 'sent');
    const [part] = await stack.ledger.parts(run.result.windows[0]!.deliveryId!);
    assert.deepEqual(
      readFileSync(path.join(server.inbox, part!.fileName)),
      await storedBytes(part ? run.result.windows[0]!.deliveryId! : 0),
    );
    assert.equal(part!.sentAt, null, 'no email for an interface without recipients');
  },
);

test(
  'a changed host key is a permanent failure naming both fingerprints; email still delivers, the chain goes on, it counts',
  { skip },
  async () => {
    const wrong = 'SHA256:' + randomBytes(32).toString('base64').replace(/=+$/, '');
    const iface = await stack.createInterface({
      recipients: ['hostkey@reseller.test'],
      channels: ['AGENCY'],
      setDestinations: sftpDestination(wrong),
    });
    await insertSale(stack.pool, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'AGENCY',
      ticketCount: 2,
    });
    const run = await stack.runNow(iface.id);
    const deliveryId = run.result.windows[0]!.deliveryId!;
    assert.equal(run.result.windows[0]!.status, 'sent', 'delivered by email: the window is done');
    const results = await stack.ledger.destinationResults(deliveryId);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.status, 'failed');
    assert.ok(
      results[0]!.detail!.includes(wrong) && results[0]!.detail!.includes(server.hostKeyFingerprint),
      results[0]!.detail!,
    );
    const after = await stack.store.get(iface.id);
    assert.equal(after.consecutiveFailures, 1, 'counted toward self-pause');
    assert.match(after.lastFailure ?? '', /DestinationPermanentFailure/);
    await insertSale(stack.pool, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'AGENCY',
      ticketCount: 1,
    });
    const next = await stack.runNow(iface.id);
    assert.equal(next.result.windows[0]!.status, 'sent');
    assert.equal(
      (await stack.store.get(iface.id)).consecutiveFailures,
      2,
      'the emailed window does not reset the count: the threshold can be reached',
    );
  },
);

test('a different file under the final name is never overwritten: permanent failure', { skip }, async () => {
  const iface = await stack.createInterface({
    recipients: [],
    channels: ['RESELLER-WEB'],
    setDestinations: sftpDestination(),
  });
  await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: null,
    salesChannelCode: 'RESELLER-WEB',
    ticketCount: 1,
  });
  // Freeze the window without sending it: a first run with the server stopped fails transiently…
  await server.stop();
  try {
    await stack.runNow(iface.id, 15_000).catch(() => undefined);
  } finally {
    await server.start();
  }
  const [pending] = await stack.ledger.list(iface.id, 1);
  assert.ok(
    pending && ['pending', 'failed'].includes(pending.status),
    `the window waits (${pending?.status})`,
  );
  const [part] = await stack.ledger.parts(pending.id);
  writeFileSync(path.join(server.inbox, part!.fileName), 'somebody else\n');
  await assert.rejects(stack.runNow(iface.id));
  assert.equal(
    readFileSync(path.join(server.inbox, part!.fileName), 'utf8'),
    'somebody else\n',
    'not overwritten',
  );
  const [failed] = await stack.ledger.list(iface.id, 1);
  assert.equal(failed!.status, 'failed');
  assert.match(failed!.lastError ?? '', /already exists with other content/);
});

test(
  'CLI: --sftp needs BARCODES_SECRETS_KEY (one line), show prints fingerprints only, resend --to sftp, doctor logs in',
  { skip },
  async () => {
    const env = cliEnv(stack.config, { BARCODES_SECRETS_KEY: SECRETS_KEY });
    const sftpArgs = [
      '--sftp',
      server.url,
      '--sftp-key',
      server.clientKeyFile,
      '--sftp-host-key',
      server.hostKeyFingerprint,
    ];
    const withoutKey = await barcodes(
      ['interface', 'create', '--name', 'No key', '--channel', 'WEB', ...sftpArgs],
      cliEnv(stack.config),
    );
    assert.notEqual(withoutKey.code, 0, withoutKey.stderr);
    assert.equal(withoutKey.stderr.trim().split('\n').length, 1, withoutKey.stderr);
    assert.match(withoutKey.stderr, /BARCODES_SECRETS_KEY .*is not set/);
    const none = await barcodes(['interface', 'create', '--name', 'Nowhere', '--channel', 'WEB'], env);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /at least one destination/);

    const created = await barcodes(
      [
        'interface',
        'create',
        '--name',
        'CLI SFTP',
        '--channel',
        'WEB',
        '--lag',
        '0s',
        '--every',
        '1h',
        '--json',
        ...sftpArgs,
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const iface = JSON.parse(created.stdout);
    assert.equal(iface.destinations[0].url, server.url);
    const shown = await barcodes(['interface', 'show', String(iface.id)], env);
    assert.match(
      shown.stdout,
      new RegExp(`sftp: +${server.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(host key SHA256:`),
    );
    const keyBody = readFileSync(server.clientKeyFile, 'utf8').split('\n')[1]!;
    for (const text of [
      shown.stdout,
      created.stdout,
      (await barcodes(['interface', 'show', String(iface.id), '--history', '--json'], env)).stdout,
    ]) {
      assert.ok(!text.includes(keyBody), 'no secret printed');
    }
    const emailOff = await barcodes(['interface', 'update', String(iface.id), '--no-sftp'], env);
    assert.notEqual(emailOff.code, 0, 'the last destination cannot be removed');
    assert.match(emailOff.stderr, /at least one destination/);

    await insertSale(stack.pool, stack.config.ticketingSchema, {
      contactNumber: null,
      salesChannelCode: 'WEB',
      ticketCount: 1,
    });
    await stack.syncSchedules();
    const run = await stack.runNow(iface.id);
    const original = run.result.windows[0]!.deliveryId!;
    const resent = await barcodes(['resend', String(original), '--to', 'sftp', '--json'], env);
    assert.equal(resent.code, 0, resent.stderr);
    const resendDelivery = JSON.parse(resent.stdout);
    assert.deepEqual(resendDelivery.destinations, ['sftp']);
    const [part] = await stack.ledger.parts(original);
    const resendName = remoteFileName({
      fileName: part!.fileName,
      deliveryKind: 'resend',
      deliveryId: resendDelivery.id,
    });
    assert.deepEqual(
      readFileSync(path.join(server.inbox, resendName)),
      readFileSync(path.join(server.inbox, part!.fileName)),
      'the resend is the same bytes under its own name',
    );
    const toEmail = await barcodes(['resend', String(original), '--to', 'email'], env);
    assert.notEqual(toEmail.code, 0);
    assert.match(toEmail.stderr, /has no email destination/);
    const deliveries = JSON.parse((await barcodes(['deliveries', String(iface.id), '--json'], env)).stdout);
    assert.deepEqual(
      deliveries
        .find((delivery: { id: number }) => delivery.id === original)
        .destinationResults.map((result: { destination: string; status: string }) => [
          result.destination,
          result.status,
        ]),
      [['sftp', 'delivered']],
    );

    const doctor = await barcodes(['doctor'], env);
    assert.match(doctor.stdout, new RegExp(`ok +interface ${iface.id} sftp .*writable`));
  },
);

test(
  'no destination secret reaches Temporal: not the private key, not its sealed form',
  { skip },
  async () => {
    const interfaces = await stack.store.list();
    const dump = await dumpTemporal(stack.client, {
      taskQueue: stack.config.taskQueue,
      scheduleIds: interfaces.map((iface) => stack.scheduleId(iface.id)),
    });
    assert.ok(dump.workflowIds.length >= 5, `histories of the runs above (${dump.workflowIds.length})`);
    const privateKey = readFileSync(server.clientKeyFile, 'utf8');
    for (const line of privateKey
      .split('\n')
      .filter((text) => text.length > 20 && !text.startsWith('-----'))) {
      assert.ok(!dump.text.includes(line), 'a line of the private key is in a history');
    }
    const { rows } = await stack.pool.query<{ secret_sealed: string }>(
      `SELECT secret_sealed FROM ${stack.config.exporterSchema}.destination`,
    );
    for (const row of rows)
      assert.ok(!dump.text.includes(row.secret_sealed.split(':')[4]!), 'a sealed secret is in a history');
  },
);
