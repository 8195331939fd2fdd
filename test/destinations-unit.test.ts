import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InputError } from '../lib/errors';
import {
  loadSecretsKeyring,
  openSecret,
  sealSecret,
  sealedKeyId,
  requireSecretsKeyring,
  SecretsKeyError,
} from '../lib/destinations/secret-box';
import { remoteFileName, temporaryFileName } from '../lib/destinations/remote-name';
import { checkHostKeyFingerprint, parseSftpUrl } from '../lib/destinations/sftp';
import { checkHttpsUrl, parseRetryAfter, readHttpsCaPem, signatureHeader } from '../lib/destinations/https';
import { parseDestinationOptions } from '../lib/destinations/options';

const key = () => randomBytes(32).toString('base64');

test('secrets: sealed under the first key, opened after a rotation, bound to their destination', () => {
  const [k1, k2] = [key(), key()];
  const before = loadSecretsKeyring({ BARCODES_SECRETS_KEY: `k1:${k1}` })!;
  const sealed = sealSecret(before, Buffer.from('the private key'), 'sftp sftp://a@h/in');
  assert.equal(sealedKeyId(sealed), 'k1');
  assert.ok(!sealed.includes('the private key'));
  const rotated = loadSecretsKeyring({ BARCODES_SECRETS_KEY: `k2:${k2},k1:${k1}` })!;
  assert.equal(openSecret(rotated, sealed, 'sftp sftp://a@h/in').toString(), 'the private key');
  assert.equal(sealedKeyId(sealSecret(rotated, Buffer.from('x'), 'b')), 'k2', 'the first key encrypts');
  assert.throws(
    () => openSecret(rotated, sealed, 'sftp sftp://other@h/in'),
    SecretsKeyError,
    'moved to another destination: does not open',
  );
  const dropped = loadSecretsKeyring({ BARCODES_SECRETS_KEY: `k2:${k2}` })!;
  assert.throws(
    () => openSecret(dropped, sealed, 'sftp sftp://a@h/in'),
    /encrypted with key "k1", which BARCODES_SECRETS_KEY does not list/,
  );
  assert.equal(loadSecretsKeyring({}), undefined);
  assert.throws(
    () => requireSecretsKeyring(undefined, 'store the SFTP private key'),
    (error: Error) =>
      error instanceof InputError &&
      !error.message.includes('\n') &&
      /BARCODES_SECRETS_KEY/.test(error.message),
  );
  assert.throws(() => loadSecretsKeyring({ BARCODES_SECRETS_KEY: 'k1:short' }), /32 bytes/);
});

test('names: the window keeps its file name, repeats carry kind and delivery id, temporaries are hidden and stable', () => {
  const fileName = 'barcodes_acme_20260101T000000Z_20260101T001500Z.csv.gz';
  assert.equal(remoteFileName({ fileName, deliveryKind: 'scheduled', deliveryId: 5 }), fileName);
  assert.equal(
    remoteFileName({ fileName, deliveryKind: 'backfill', deliveryId: 9 }),
    'barcodes_acme_20260101T000000Z_20260101T001500Z.backfill-9.csv.gz',
  );
  assert.equal(temporaryFileName(fileName, { deliveryId: 5, index: 2 }), `.${fileName}.d5p2.uploading`);
});

test('options: URLs, fingerprints and secret files are checked before anything is stored', () => {
  assert.deepEqual(parseSftpUrl('sftp://acme@sftp.example:2222/in/box'), {
    host: 'sftp.example',
    port: 2222,
    username: 'acme',
    folder: '/in/box',
  });
  assert.equal(parseSftpUrl('sftp://acme@sftp.example/~/in').folder, 'in');
  assert.throws(() => parseSftpUrl('sftp://sftp.example/in'), /names no user/);
  assert.throws(() => parseSftpUrl('sftp://a:pw@sftp.example/in'), /no password/);
  assert.throws(() => checkHostKeyFingerprint('MD5:aa:bb'), /SHA256 host key fingerprint/);
  assert.throws(() => checkHttpsUrl('http://example.test/x'), /https:\/\//);
  assert.throws(() => checkHttpsUrl('https://example.test/x?token=abc'), /no query string/);
  assert.throws(
    () => parseDestinationOptions({ sftp: 'sftp://a@h/in' }, () => undefined),
    /--sftp-key: required/,
  );
  assert.throws(
    () => parseDestinationOptions({ httpsSecretFile: 'x' }, () => undefined),
    /only with --https/,
  );
  assert.deepEqual(
    parseDestinationOptions({ sftp: false, https: false }, () => undefined),
    { sftp: null, https: null },
  );
});

test('signature: HMAC-SHA256 over "<t>." and the body, as the README tells resellers to check it', () => {
  const secret = Buffer.from('s3cret-s3cret-s3cret');
  const body = Buffer.from('BAR_CODE\n123\n');
  const expected = createHmac('sha256', secret).update('1700000000.').update(body).digest('hex');
  assert.equal(signatureHeader(secret, 1700000000, body), `t=1700000000,v1=${expected}`);
  assert.equal(parseRetryAfter('120'), 120_000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())! > 25_000, true);
  assert.equal(parseRetryAfter('86400'), undefined, 'a day is beyond the honoured maximum');
});

test('BARCODES_HTTPS_CA_FILE: read where a sender is made, refused in one line naming it (the checks: test/input-files.test.ts)', () => {
  const missing = path.join(mkdtempSync(path.join(tmpdir(), 'barcodes-ca-')), 'missing.pem');
  assert.throws(
    () => readHttpsCaPem(missing),
    (error: unknown) =>
      error instanceof InputError &&
      error.message === `BARCODES_HTTPS_CA_FILE: cannot read ${JSON.stringify(missing)} (ENOENT)`,
  );
  assert.equal(readHttpsCaPem(null), undefined);
});
