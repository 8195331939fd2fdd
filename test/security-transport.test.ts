import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { describeSmtpTls, isLoopbackHost, smtpTransportOptions } from '../lib/security/smtp-transport';
import { NodemailerMailer } from '../lib/mail/mailer';
import { InputError } from '../lib/errors';

const quiet = { env: {}, warn: () => {} };

test('a remote relay must use STARTTLS with a verified certificate', () => {
  const options = smtpTransportOptions('smtp://mailer:s3cret@relay.example.com:587', quiet);
  assert.equal(options.host, 'relay.example.com');
  assert.equal(options.port, 587);
  assert.equal(options.secure, false);
  assert.equal(options.requireTLS, true);
  assert.equal(options.tls?.rejectUnauthorized, true);
  assert.equal(options.tls?.minVersion, 'TLSv1.2');
  assert.deepEqual(options.auth, { user: 'mailer', pass: 's3cret' });
});

test('smtps:// is TLS from the first byte, with verification', () => {
  const options = smtpTransportOptions('smtps://relay.example.com', quiet);
  assert.equal(options.secure, true);
  assert.equal(options.requireTLS, false);
  assert.equal(options.tls?.rejectUnauthorized, true);
});

test('loopback servers (the development sink) keep plain SMTP', () => {
  for (const url of [
    'smtp://127.0.0.1:2525',
    'smtp://127.10.20.30:25',
    'smtp://[::1]:2525',
    'smtp://localhost:2525',
    'smtp://LOCALHOST.:25',
    'smtp://u:p@mail.localhost:25',
  ]) {
    const options = smtpTransportOptions(url, quiet);
    assert.ok(!options.requireTLS, `${url}: no TLS required`);
    assert.equal(options.tls, undefined, `${url}: nodemailer's defaults`);
  }
});

test('only real loopback names count as loopback: look-alikes require TLS', () => {
  for (const host of [
    '127.0.0.1',
    '127.255.255.254',
    '::1',
    '[::1]',
    'localhost',
    'a.localhost',
    '::ffff:127.0.0.1',
  ])
    assert.ok(isLoopbackHost(host), host);
  for (const host of [
    'localhost.evil.example',
    '127.0.0.1.nip.io',
    '0.0.0.0',
    '128.0.0.1',
    '10.0.0.1',
    '::',
    '::2',
    'mail.example.com',
    '1270.0.0.1',
  ]) {
    assert.ok(!isLoopbackHost(host), host);
  }
  assert.equal(smtpTransportOptions('smtp://localhost.evil.example:25', quiet).requireTLS, true);
});

test('SMTP_TLS=off opts out explicitly, and says so once per server', () => {
  const warnings: string[] = [];
  const settings = { env: { SMTP_TLS: 'off' }, warn: (line: string) => warnings.push(line) };
  const first = smtpTransportOptions('smtp://user:pw-not-logged@old-relay.example:25', settings);
  smtpTransportOptions('smtp://user:pw-not-logged@old-relay.example:25', settings);
  assert.equal(first.requireTLS, false);
  assert.equal(first.tls?.rejectUnauthorized, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /SMTP TLS is off \(SMTP_TLS=off\).*old-relay\.example:25/);
  assert.ok(!warnings[0]!.includes('pw-not-logged'));
});

test('?tls=off in SMTP_URL does the same, and is not passed on to nodemailer', () => {
  const warnings: string[] = [];
  const options = smtpTransportOptions('smtp://other-relay.example:2525?tls=off', {
    env: {},
    warn: (line) => warnings.push(line),
  });
  assert.equal(options.requireTLS, false);
  assert.deepEqual(options.tls, { rejectUnauthorized: false });
  assert.match(warnings[0] ?? '', /\?tls=off in SMTP_URL/);
  // The explicit default is accepted too.
  assert.equal(smtpTransportOptions('smtp://relay.example.com:587?tls=required', quiet).requireTLS, true);
});

test('a URL that weakens TLS without the opt-out is refused in any spelling, naming the parameter but not the password', () => {
  // Every spelling parseConnectionUrl turns into a truthy/falsy value, and every option that
  // touches TLS: an allow-list refuses them all, including ones nobody thought of yet.
  const weakening = [
    'ignoreTLS=true',
    'ignoreTLS=1',
    'ignoreTLS=yes',
    'ignoreTLS=on',
    'ignoreTLS=',
    'IgnoreTLS=1',
    'secured=1',
    'requireTLS=false',
    'requireTLS=0',
    'opportunisticTLS=true',
    'tls.rejectUnauthorized=false',
    'tls.rejectUnauthorized=0',
    'tls.rejectUnauthorized=no',
    'tls.rejectUnauthorized=',
    'tls.minVersion=TLSv1',
    'tls.maxVersion=TLSv1',
    'tls.ciphers=NULL',
    'tls.secureProtocol=TLSv1_method',
    'tls.ca=x',
    'tls.checkServerIdentity=x',
    'tls.servername=other.example',
    'tls.=1',
    'proxy=http://proxy.example:3128',
    'debug=true',
    'logger=true',
    // percent-encoded key: nodemailer decodes it to ignoreTLS
    'ignore%54LS=1',
  ];
  for (const query of weakening) {
    const parameter = decodeURIComponent(query.split('=')[0]!);
    for (const base of ['smtp://u:hunter2@relay.example.com:587', 'smtps://u:hunter2@relay.example.com']) {
      assert.throws(
        () => smtpTransportOptions(`${base}?${query}`, quiet),
        (error: Error) =>
          error instanceof InputError &&
          error.message.includes(`?${parameter} `) &&
          /SMTP_TLS=off/.test(error.message) &&
          !error.message.includes('hunter2') &&
          !error.message.includes('\n'),
        `${base}?${query} is refused naming ${parameter}`,
      );
    }
  }
});

test('connection tuning parameters stay allowed for a remote relay, TLS still required', () => {
  const options = smtpTransportOptions(
    'smtp://relay.example.com:587?name=exporter.example&pool=true&maxConnections=2&connectionTimeout=10000&authMethod=PLAIN',
    quiet,
  );
  assert.equal(options.requireTLS, true);
  assert.equal(options.name, 'exporter.example');
  assert.deepEqual(options.tls, { rejectUnauthorized: true, minVersion: 'TLSv1.2' });
});

test('the opt-out lets weakening parameters through, and a loopback sink is not checked', () => {
  const off = smtpTransportOptions('smtp://legacy-relay.example:25?ignoreTLS=1&tls=off', quiet);
  assert.equal(off.requireTLS, false);
  assert.equal(smtpTransportOptions('smtp://127.0.0.1:2525?ignoreTLS=1', quiet).requireTLS, undefined);
  // ?tls= twice could be read two ways: refused.
  assert.throws(
    () => smtpTransportOptions('smtp://relay.example.com?tls=required&tls=off', quiet),
    /given 2 times/,
  );
});

test('the TLS mode is described in one line for doctor', () => {
  assert.equal(
    describeSmtpTls('smtp://u:p@relay.example.com:587', {}),
    'TLS required (STARTTLS, certificate verified, TLSv1.2 or later)',
  );
  assert.equal(
    describeSmtpTls('smtps://relay.example.com', {}),
    'TLS required (implicit TLS, certificate verified, TLSv1.2 or later)',
  );
  assert.match(
    describeSmtpTls('smtp://relay.example.com', { SMTP_TLS_CA_FILE: '/ca.pem' }),
    /verified against SMTP_TLS_CA_FILE/,
  );
  assert.equal(describeSmtpTls('smtp://relay.example.com', { SMTP_TLS: 'off' }), 'TLS off (SMTP_TLS=off)');
  assert.equal(describeSmtpTls('smtp://relay.example.com?tls=off', {}), 'TLS off (?tls=off in SMTP_URL)');
  assert.equal(describeSmtpTls('smtp://127.0.0.1:2525', {}), 'loopback: plain');
});

test('bad settings are refused with one line', () => {
  assert.throws(
    () => smtpTransportOptions('smtp://relay.example.com', { ...quiet, env: { SMTP_TLS: 'maybe' } }),
    /SMTP_TLS: invalid value "maybe"/,
  );
  assert.throws(() => smtpTransportOptions('smtp://relay.example.com?tls=no', quiet), /invalid value "no"/);
  assert.throws(() => smtpTransportOptions('http://relay.example.com', quiet), /unsupported scheme/);
  assert.throws(() => smtpTransportOptions('not a url', quiet), /invalid URL/);
});

test('SMTP_TLS_CA_FILE adds a private CA instead of turning verification off', () => {
  const pem = Buffer.from('-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n');
  const options = smtpTransportOptions('smtp://relay.internal.example:587', {
    ...quiet,
    env: { SMTP_TLS_CA_FILE: '/etc/barcodes/relay-ca.pem' },
    readFile: (path) => {
      assert.equal(path, '/etc/barcodes/relay-ca.pem');
      return pem;
    },
  });
  assert.equal(options.tls?.rejectUnauthorized, true);
  assert.deepEqual(options.tls?.ca, pem);
  assert.throws(
    () =>
      smtpTransportOptions('smtp://relay.internal.example:587', {
        ...quiet,
        env: { SMTP_TLS_CA_FILE: '/nonexistent/ca.pem' },
      }),
    /cannot read "\/nonexistent\/ca.pem" \(ENOENT\)/,
  );
  // A wrong path (a device, a huge file) fails at its cap instead of being read whole.
  if (fs.existsSync('/dev/zero')) {
    assert.throws(
      () =>
        smtpTransportOptions('smtp://relay.internal.example:587', {
          ...quiet,
          env: { SMTP_TLS_CA_FILE: '/dev/zero' },
        }),
      /^InputError: SMTP_TLS_CA_FILE: "\/dev\/zero" is larger than 1 MiB$/,
    );
  }
});

// --- Against real SMTP servers --------------------------------------------------------------
// The servers listen on loopback (the only addresses here), reached through this machine's host
// name, which is not a loopback *name*: the product treats it as a remote relay.

async function remoteLookingHost(): Promise<string | undefined> {
  const name = os.hostname();
  if (isLoopbackHost(name)) return undefined;
  try {
    const { address } = await dns.lookup(name, { family: 4 });
    return address.startsWith('127.') ? name : undefined;
  } catch {
    return undefined;
  }
}

function selfSignedCertificate(
  host: string,
  dir: string,
): { key: Buffer; cert: Buffer; certFile: string } | undefined {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  if (result.status !== 0) return undefined;
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), certFile };
}

async function startServer(
  options: Partial<SMTPServerOptions>,
): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks));
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const mail = (to: string) => ({
  from: 'barcodes@exporter.test',
  to: [to],
  subject: 'transport test',
  messageId: `<transport-${Math.random()}@exporter.test>`,
  date: new Date(),
  text: 'hello',
  attachments: [],
});

async function withEnv<T>(values: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  try {
    return await work();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

test('for real: a remote relay without STARTTLS gets nothing unless TLS is explicitly off', async (t) => {
  const host = await remoteLookingHost();
  if (!host) return t.skip('the host name does not resolve to a loopback address here');
  const server = await startServer({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
  try {
    const required = new NodemailerMailer({
      smtpUrl: `smtp://${host}:${server.port}`,
      socketTimeoutMillis: 5_000,
    });
    await assert.rejects(required.send(mail('a@reseller.test')), (error: Error) =>
      /STARTTLS/.test(`${error.message} ${(error.cause as Error)?.message}`),
    );
    required.close();
    assert.equal(server.received.length, 0, 'not one byte of the message went out in clear');

    await withEnv({ SMTP_TLS: 'off' }, async () => {
      const optedOut = new NodemailerMailer({
        smtpUrl: `smtp://${host}:${server.port}`,
        socketTimeoutMillis: 5_000,
      });
      await optedOut.send(mail('a@reseller.test'));
      optedOut.close();
    });
    assert.equal(server.received.length, 1);
  } finally {
    await server.close();
  }
});

test('for real: a relay certificate that does not verify is refused; its CA in SMTP_TLS_CA_FILE makes it verify', async (t) => {
  const host = await remoteLookingHost();
  if (!host) return t.skip('the host name does not resolve to a loopback address here');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-tls-'));
  const certificate = selfSignedCertificate(host, dir);
  if (!certificate) return t.skip('openssl is not available to make a certificate');
  const server = await startServer({ key: certificate.key, cert: certificate.cert });
  try {
    const unverified = new NodemailerMailer({
      smtpUrl: `smtp://${host}:${server.port}`,
      socketTimeoutMillis: 5_000,
    });
    await assert.rejects(unverified.send(mail('a@reseller.test')), /certificate/i);
    unverified.close();
    assert.equal(server.received.length, 0);

    await withEnv({ SMTP_TLS_CA_FILE: certificate.certFile }, async () => {
      const verified = new NodemailerMailer({
        smtpUrl: `smtp://${host}:${server.port}`,
        socketTimeoutMillis: 5_000,
      });
      await verified.send(mail('a@reseller.test'));
      verified.close();
    });
    assert.equal(server.received.length, 1);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
