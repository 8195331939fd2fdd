import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type * as OpenPGP from 'openpgp' with { 'resolution-mode': 'import' };
import { TestStack } from './support/stack';
import { barcodes, cliEnv } from './support/cli';
import { filesFor } from './support/mail';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';
import type { ReceivedMail } from '../devstack/smtp-sink';
import {
  MemorySink,
  parseFormatSpec,
  renderWindow,
  DEFAULT_FORMAT_SPEC,
  type FormatSpec,
} from '../lib/format';
import { pgpPartEncryption, readRecipientKey } from '../lib/security/openpgp';
import type { TicketRow } from '../lib/tickets';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp: typeof OpenPGP = require('openpgp');

let stack: TestStack;
let env: NodeJS.ProcessEnv;
let dir: string;
/** The reseller's key pair, made here: the test plays the reseller when it decrypts. */
let reseller: { publicArmored: string; privateKey: OpenPGP.PrivateKey; fingerprint: string };

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-pgp-'));
  reseller = await makeKeyPair('Reseller One <keys@reseller-one.test>');
  stack = await TestStack.start();
  env = cliEnv(stack.config);
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function makeKeyPair(userId: string, options: { keyExpirationTime?: number; date?: Date } = {}) {
  const [, name, email] = /^(.*) <(.*)>$/.exec(userId)!;
  const { publicKey, privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email }],
    format: 'object',
    ...options,
  });
  return {
    publicArmored: publicKey.armor(),
    publicBinary: publicKey.write(),
    privateKey,
    fingerprint: publicKey.getFingerprint().toUpperCase(),
  };
}

function writeFile(name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

async function decrypt(
  bytes: Uint8Array,
  privateKey: OpenPGP.PrivateKey,
): Promise<{ data: Buffer; fileName: string }> {
  const message = await openpgp.readMessage({ binaryMessage: bytes });
  const result = await openpgp.decrypt({ message, decryptionKeys: privateKey, format: 'binary' });
  return { data: Buffer.from(result.data as Uint8Array), fileName: result.filename };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Attachments received by one recipient, oldest first. */
function attachmentsFor(
  recipient: string,
): { mail: ReceivedMail; fileName: string; contentType: string; content: Buffer }[] {
  return stack.sink.messages
    .filter((mail) => mail.envelope.to.includes(recipient))
    .flatMap((mail) =>
      mail.parsed.attachments.map((a) => ({
        mail,
        fileName: a.filename ?? '',
        contentType: a.contentType,
        content: a.content,
      })),
    );
}

function assertNoBarCodeIn(bytes: Buffer, tickets: { barCode: string }[], what: string) {
  for (const ticket of tickets)
    assert.ok(!bytes.includes(Buffer.from(ticket.barCode)), `${what} holds no bar code in clear`);
}

// ---------------------------------------------------------------------------------------------
// The encryption layer of the renderer, without the stack.

function syntheticRows(count: number): TicketRow[] {
  const created = new Date('2026-11-29T10:00:00Z');
  return Array.from({ length: count }, (_, index) => ({
    id: String(1000 + index),
    barCode: `BC${String(index).padStart(8, '0')}X${(index * 7919) % 100000}`,
    state: 'PRINTED',
    fileNumber: `F${index % 97}`,
    productCode: 'P-1',
    productName: 'Opera; Gala "Premiere"',
    validityDate: index % 3 === 0 ? null : '2026-12-24',
    tariffCode: 'T-A',
    tariffName: 'Adult',
    price: `${(index % 200) + 10}.50`,
    orderDate: new Date(created.getTime() - index * 1000),
    contactNumber: index % 2 ? 'C-1001' : null,
    contactName: null,
    salesChannelCode: 'WEB',
    orderId: String(index),
    createdAt: created,
  }));
}

async function* asRows(rows: TicketRow[]) {
  yield rows;
}

const windowContext = {
  interfaceName: 'Layer test',
  timeZone: 'UTC',
  windowStart: new Date('2026-11-29T10:00:00Z'),
  windowEnd: new Date('2026-11-29T10:15:00Z'),
};

async function renderTwice(spec: FormatSpec, rows: TicketRow[]) {
  const recipient = await readRecipientKey(reseller.publicArmored, 'test key');
  const plainSink = new MemorySink();
  const plain = await renderWindow(asRows(rows), spec, windowContext, plainSink);
  const encryptedSink = new MemorySink();
  const encrypted = await renderWindow(
    asRows(rows),
    spec,
    { ...windowContext, encryption: pgpPartEncryption(recipient) },
    encryptedSink,
  );
  return { plain, plainParts: plainSink.parts, encrypted, encryptedParts: encryptedSink.parts };
}

test('the encryption layer: each part of a gzip window of several parts decrypts with the private key to exactly the plain part', async () => {
  const rows = syntheticRows(3000);
  const spec = parseFormatSpec({ compression: 'gzip', maxFileSize: 64 * 1024 });
  const { plain, plainParts, encrypted, encryptedParts } = await renderTwice(spec, rows);
  assert.ok(plain.parts.length >= 3, `several parts (${plain.parts.length})`);
  assert.equal(encrypted.parts.length, plain.parts.length);
  assert.equal(encrypted.ticketCount, rows.length);
  for (const [index, part] of encrypted.parts.entries()) {
    const plainPart = plain.parts[index]!;
    const bytes = encryptedParts[index]!;
    assert.equal(part.fileName, `${plainPart.fileName}.pgp`);
    assert.match(part.fileName, /_part0\dof0\d\.csv\.gz\.pgp$/);
    assert.equal(part.contentType, 'application/octet-stream');
    assert.equal(part.rowCount, plainPart.rowCount);
    assert.equal(part.byteCount, bytes.length, 'byteCount is that of the encrypted bytes');
    assert.equal(part.sha256, sha256(bytes), 'sha256 is that of the encrypted bytes');
    assert.ok(
      !bytes.subarray(0, 40).toString('latin1').includes('-----BEGIN'),
      'a binary message, not armored',
    );
    assertNoBarCodeIn(bytes, rows, `part ${part.index}`);
    const { data, fileName } = await decrypt(bytes, reseller.privateKey);
    assert.deepEqual(data, plainParts[index], `part ${part.index} decrypts to exactly the plain part`);
    // Written when the part ends, before the count is known: like a zip entry, without "ofNN".
    assert.equal(fileName, plainPart.fileName.replace(/_part(\d+)of\d+\.csv\.gz$/, '_part$1.csv.gz'));
  }
  const lines = new Set(
    Buffer.concat(plainParts.map((part) => zlib.gunzipSync(part)))
      .toString('utf8')
      .split('\n')
      .map((line) => line.split(';')[0]),
  );
  assert.ok(
    rows.every((row) => lines.has(row.barCode)),
    'every ticket is in the plain parts',
  );
});

test('the encryption layer: a window of one plain part holds exactly the attachment name without .pgp; zip and header-only windows too', async () => {
  const rows = syntheticRows(50);
  const single = await renderTwice(DEFAULT_FORMAT_SPEC, rows);
  assert.equal(single.encrypted.parts.length, 1);
  const [part] = single.encrypted.parts;
  assert.equal(part!.fileName, 'barcodes_layer-test_20261129T100000Z_20261129T101500Z.csv.pgp');
  const decrypted = await decrypt(single.encryptedParts[0]!, reseller.privateKey);
  assert.deepEqual(decrypted.data, single.plainParts[0]);
  assert.equal(decrypted.fileName, 'barcodes_layer-test_20261129T100000Z_20261129T101500Z.csv');

  const zipped = await renderTwice(
    parseFormatSpec({ compression: 'zip', maxFileSize: 64 * 1024 }),
    syntheticRows(1500),
  );
  assert.ok(zipped.encrypted.parts.length > 1);
  for (const [index, bytes] of zipped.encryptedParts.entries()) {
    const { data, fileName } = await decrypt(bytes, reseller.privateKey);
    assert.deepEqual(data, zipped.plainParts[index]);
    assert.equal(fileName, zipped.plain.parts[index]!.fileName.replace(/of\d+\.zip$/, '.zip'));
  }

  const empty = await renderTwice(parseFormatSpec({ emptyWindow: 'header-only' }), []);
  assert.equal(empty.encrypted.parts.length, 1);
  assert.deepEqual((await decrypt(empty.encryptedParts[0]!, reseller.privateKey)).data, empty.plainParts[0]);
});

// ---------------------------------------------------------------------------------------------
// Through the real stack and the real command line.

/**
 * Disabled: these interfaces deliver only the backfills and resends a test asks for. Enabled, a
 * test running across a quarter hour got its 15-minute schedule's window too, one email more.
 */
async function createInterface(args: string[]): Promise<{
  id: number;
  pgpKey: { fingerprint: string; userIds: string[]; expiresAt: string | null } | null;
}> {
  const created = await barcodes(
    ['interface', 'create', '--lag', '0s', '--disabled', ...args, '--json'],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  return JSON.parse(created.stdout);
}

async function backfill(id: number, from: Date, to: Date) {
  const result = await barcodes(
    ['backfill', String(id), '--from', from.toISOString(), '--to', to.toISOString(), '--json'],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test("end to end: a window delivered through Temporal and SMTP decrypts with the reseller's private key to exactly the plain file", async () => {
  const keyFile = writeFile('reseller-one.asc', reseller.publicArmored);
  const gzipFormat = writeFile(
    'gzip-parts.json',
    JSON.stringify({ compression: 'gzip', maxFileSize: 64 * 1024 }),
  );
  const encrypted = await createInterface([
    '--name',
    'PGP reseller',
    '--email',
    'pgp@reseller-one.test',
    '--contact',
    'C-1001',
    '--pgp-key',
    keyFile,
  ]);
  assert.deepEqual(encrypted.pgpKey, {
    fingerprint: reseller.fingerprint,
    userIds: ['Reseller One <keys@reseller-one.test>'],
    expiresAt: null,
  });
  const twin = await createInterface([
    '--name',
    'Plain twin',
    '--email',
    'twin@reseller-one.test',
    '--contact',
    'C-1001',
  ]);
  assert.equal(twin.pgpKey, null);
  const encryptedParts = await createInterface([
    '--name',
    'PGP gzip parts',
    '--email',
    'pgp-parts@reseller-one.test',
    '--contact',
    'C-1001',
    '--format',
    gzipFormat,
    '--pgp-key',
    keyFile,
  ]);
  const twinParts = await createInterface([
    '--name',
    'Plain gzip parts',
    '--email',
    'twin-parts@reseller-one.test',
    '--contact',
    'C-1001',
    '--format',
    gzipFormat,
  ]);

  const from = new Date(Date.now() - 1000);
  const sold: SoldTicket[] = [];
  for (let i = 0; i < 4; i += 1)
    sold.push(
      ...(await insertSale(stack.pool, stack.config.ticketingSchema, {
        contactNumber: 'C-1001',
        salesChannelCode: 'WEB',
        ticketCount: 200,
      })),
    );
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const to = new Date();
  for (const iface of [encrypted, twin, encryptedParts, twinParts]) {
    const result = await backfill(iface.id, from, to);
    assert.equal(result.ticketsDelivered, sold.length);
  }

  // One plain part: the attachment is the encrypted file, and decrypts to the twin's very bytes.
  const [received] = attachmentsFor('pgp@reseller-one.test');
  const [plain] = filesFor(stack.sink, 'twin@reseller-one.test');
  assert.ok(received && plain);
  assert.deepEqual(
    plain.records.map((record) => record.BAR_CODE).sort(),
    sold.map((ticket) => ticket.barCode).sort(),
  );
  assert.match(received.fileName, /^barcodes_pgp-reseller_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.csv\.pgp$/);
  // mailparser guesses a type from the name when it is octet-stream: the header as sent is what counts.
  assert.ok(
    /Content-Type: application\/octet-stream;\s+name=barcodes_pgp-reseller_\S+\.csv\.pgp/.test(
      received.mail.raw.toString('latin1'),
    ),
    'sent as application/octet-stream',
  );
  assertNoBarCodeIn(received.content, sold, 'the attachment');
  const decrypted = await decrypt(received.content, reseller.privateKey);
  assert.deepEqual(decrypted.data, plain.content, 'decrypted, the attachment is exactly the plain file');
  assert.equal(decrypted.fileName, received.fileName.slice(0, -'.pgp'.length));
  const body = received.mail.parsed.text ?? '';
  assert.ok(body.includes(reseller.fingerprint), 'the email names the key');
  assert.ok(
    body.includes(`SHA-256 of the attachment (encrypted, as sent): ${sha256(received.content)}`),
    body,
  );
  const [delivery] = JSON.parse((await barcodes(['deliveries', String(encrypted.id), '--json'], env)).stdout);
  assert.equal(delivery.sha256, sha256(received.content), 'the ledger describes what was sent');
  assert.equal(delivery.fileName, received.fileName);

  // A resend sends the stored bytes: the same encrypted file, not a new encryption.
  const resent = await barcodes(['resend', String(delivery.id), '--json'], env);
  assert.equal(resent.code, 0, resent.stderr);
  const again = attachmentsFor('pgp@reseller-one.test');
  assert.equal(again.length, 2);
  assert.deepEqual(again[1]!.content, received.content);

  // gzip, several parts: one email each, each decrypting to the twin's part.
  const parts = attachmentsFor('pgp-parts@reseller-one.test');
  const plainParts = attachmentsFor('twin-parts@reseller-one.test');
  assert.ok(parts.length >= 2, `several parts (${parts.length})`);
  assert.equal(parts.length, plainParts.length);
  for (const [index, part] of parts.entries()) {
    assert.match(part.fileName, /_part0\dof0\d\.csv\.gz\.pgp$/);
    assertNoBarCodeIn(part.content, sold, part.fileName);
    assert.deepEqual(
      (await decrypt(part.content, reseller.privateKey)).data,
      plainParts[index]!.content,
      `${part.fileName} decrypts to the plain part`,
    );
  }
});

/** Refused: exit status 2, one line on stderr naming `mentions`, nothing printed, no change recorded. */
async function assertRefused(args: string[], mentions: string, interfaceId: number) {
  const interfacesBefore = (await stack.store.list()).length;
  const historyBefore = await stack.store.history(interfaceId);
  const before = await stack.store.get(interfaceId);
  const result = await barcodes(args, env);
  assert.equal(result.code, 2, `exit status of barcodes ${JSON.stringify(args)}: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  assert.ok(lines[0]!.includes(mentions), `stderr names ${mentions}: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.equal((await stack.store.list()).length, interfacesBefore, 'no interface created');
  assert.deepEqual(await stack.store.history(interfaceId), historyBefore, 'no change recorded');
  assert.deepEqual((await stack.store.get(interfaceId)).pgpKey, before.pgpKey, 'key unchanged');
  return lines[0]!;
}

test('--pgp-key refuses a private key, garbage, a missing file, an expired, revoked or signing-only key, in one line naming the file, changing nothing', async () => {
  const good = writeFile('good.asc', reseller.publicArmored);
  const iface = await createInterface([
    '--name',
    'Refusals',
    '--email',
    'refusals@reseller.test',
    '--contact',
    'C-1002',
    '--pgp-key',
    good,
  ]);

  const privateKey = writeFile('private.asc', reseller.privateKey.armor());
  const privateBinary = writeFile('private.gpg', reseller.privateKey.write());
  const garbage = writeFile('garbage.asc', 'this is not a key\n');
  const garbageBinary = writeFile('garbage.gpg', Buffer.from([0x99, 0x01, 0x02, 0x03, 0xff, 0x00]));
  const missing = path.join(dir, 'missing.asc');
  const expiredPair = await makeKeyPair('Old Key <old@reseller.test>', {
    date: new Date(Date.now() - 10 * 86_400_000),
    keyExpirationTime: 86_400,
  });
  const expired = writeFile('expired.asc', expiredPair.publicArmored);
  const revokedPair = await makeKeyPair('Revoked Key <revoked@reseller.test>');
  const { publicKey: revokedKey } = await openpgp.revokeKey({
    key: revokedPair.privateKey,
    format: 'armored',
  });
  const revoked = writeFile('revoked.asc', revokedKey);
  const signingOnly = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Signer' }],
    subkeys: [],
    format: 'armored',
  });
  const signer = writeFile('signing-only.asc', signingOnly.publicKey);
  const twoBlocks = writeFile('two-blocks.asc', reseller.publicArmored + '\n' + revokedPair.publicArmored);
  const twoKeys = writeFile(
    'two-keys.gpg',
    Buffer.concat([
      (await openpgp.readKey({ armoredKey: reseller.publicArmored })).write(),
      (await openpgp.readKey({ armoredKey: expiredPair.publicArmored })).write(),
    ]),
  );

  const update = (file: string) => ['interface', 'update', String(iface.id), '--pgp-key', file];
  assert.match(
    await assertRefused(update(privateKey), JSON.stringify(privateKey), iface.id),
    /is a private key: give the reseller's public key/,
  );
  assert.match(
    await assertRefused(update(privateBinary), JSON.stringify(privateBinary), iface.id),
    /is a private key/,
  );
  assert.match(
    await assertRefused(update(garbage), JSON.stringify(garbage), iface.id),
    /is not an OpenPGP public key/,
  );
  assert.match(
    await assertRefused(update(garbageBinary), JSON.stringify(garbageBinary), iface.id),
    /is not an OpenPGP public key/,
  );
  assert.match(
    await assertRefused(update(missing), JSON.stringify(missing), iface.id),
    /cannot read .*ENOENT/,
  );
  assert.match(
    await assertRefused(update(expired), JSON.stringify(expired), iface.id),
    new RegExp(`PGP key ${expiredPair.fingerprint}, which expired at \\d{4}-`),
  );
  assert.match(await assertRefused(update(revoked), JSON.stringify(revoked), iface.id), /which is revoked/);
  assert.match(
    await assertRefused(update(signer), JSON.stringify(signer), iface.id),
    /no usable encryption key/,
  );
  assert.match(
    await assertRefused(update(twoBlocks), JSON.stringify(twoBlocks), iface.id),
    /holds 2 armored blocks/,
  );
  assert.match(await assertRefused(update(twoKeys), JSON.stringify(twoKeys), iface.id), /holds 2 keys/);
  // create refuses the same way and creates nothing
  await assertRefused(
    [
      'interface',
      'create',
      '--name',
      'Never made',
      '--email',
      'never@reseller.test',
      '--contact',
      'C-1002',
      '--pgp-key',
      privateKey,
    ],
    JSON.stringify(privateKey),
    iface.id,
  );
});

test('--no-pgp-key removes the key; a binary key file works; history records fingerprints, never the key', async () => {
  const binary = writeFile(
    'reseller-one.gpg',
    (await openpgp.readKey({ armoredKey: reseller.publicArmored })).write(),
  );
  const iface = await createInterface([
    '--name',
    'Key changes',
    '--email',
    'changes@reseller.test',
    '--contact',
    'C-1002',
    '--pgp-key',
    binary,
  ]);
  assert.equal(iface.pgpKey?.fingerprint, reseller.fingerprint);

  const next = await makeKeyPair('Reseller Two <keys@reseller-two.test>', {
    keyExpirationTime: 365 * 86_400,
  });
  const replaced = await barcodes(
    [
      'interface',
      'update',
      String(iface.id),
      '--pgp-key',
      writeFile('next.asc', next.publicArmored),
      '--json',
    ],
    env,
  );
  assert.equal(replaced.code, 0, replaced.stderr);
  const replacedKey = JSON.parse(replaced.stdout).pgpKey;
  assert.equal(replacedKey.fingerprint, next.fingerprint);
  assert.ok(
    Math.abs(new Date(replacedKey.expiresAt).getTime() - (Date.now() + 365 * 86_400_000)) < 120_000,
    'expiry shown',
  );

  const text = await barcodes(['interface', 'show', String(iface.id)], env);
  assert.match(
    text.stdout,
    new RegExp(`pgp key: +${next.fingerprint} Reseller Two <keys@reseller-two.test>, expires \\d{4}-`),
  );

  const removed = await barcodes(['interface', 'update', String(iface.id), '--no-pgp-key', '--json'], env);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(JSON.parse(removed.stdout).pgpKey, null);
  assert.equal((await stack.store.get(iface.id)).pgpPublicKey, null);

  const shown = await barcodes(['interface', 'show', String(iface.id), '--history', '--json'], env);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(!shown.stdout.includes('BEGIN PGP'), 'the key itself is never printed');
  const history = JSON.parse(shown.stdout).history as { action: string; details: Record<string, unknown> }[];
  assert.deepEqual(
    history.map((entry) => [
      entry.action,
      entry.details.pgpKeyFingerprint,
      entry.details.previousPgpKeyFingerprint,
    ]),
    [
      ['create', reseller.fingerprint, undefined],
      ['update', next.fingerprint, reseller.fingerprint],
      ['update', null, next.fingerprint],
    ],
  );
  const { rows } = await stack.pool.query(
    `SELECT details::text AS details FROM ${stack.config.exporterSchema}.config_change WHERE interface_id = $1`,
    [iface.id],
  );
  for (const row of rows)
    assert.ok(
      !row.details.includes('BEGIN PGP') && !row.details.includes('pgpPublicKey'),
      'the audit trail holds no key',
    );
  assert.match((await barcodes(['interface', 'show', String(iface.id)], env)).stdout, /pgp key: +none/);
});

test('a stored key that expired since fails the window as invalid configuration, naming its fingerprint and expiry, and sends nothing', async () => {
  const shortLived = await makeKeyPair('Short Lived <short@reseller.test>', { keyExpirationTime: 3 });
  const iface = await stack.createInterface({
    name: 'Expiring key',
    recipients: ['expiring@reseller.test'],
    contacts: ['C-2001'],
    pgpPublicKey: shortLived.publicArmored,
  });
  const expiresAt = (await stack.store.get(iface.id)).pgpKey!.expiresAt!;
  await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: 'C-2001',
    salesChannelCode: 'WEB',
    ticketCount: 2,
  });
  while (Date.now() <= expiresAt.getTime() + 200) await new Promise((resolve) => setTimeout(resolve, 200));

  await assert.rejects(stack.runNow(iface.id), (error: Error) => {
    assert.match(
      error.message,
      new RegExp(
        `${shortLived.fingerprint}, which expired at ${expiresAt.toISOString().replace(/\./g, '\\.')}`,
      ),
    );
    return true;
  });
  const current = await stack.store.get(iface.id);
  assert.equal(current.consecutiveFailures, 1, 'a permanent failure, counted toward the self-pause');
  assert.match(current.lastFailure ?? '', /^InvalidConfiguration: .*expired at .*--pgp-key FILE/);
  assert.equal(attachmentsFor('expiring@reseller.test').length, 0, 'nothing sent');
  assert.deepEqual(await stack.ledger.list(iface.id), [], 'no window frozen');
});
