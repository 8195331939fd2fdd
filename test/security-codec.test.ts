import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PayloadDecryptionError,
} from '../lib/security/payload-codec';
import { loadPayloadKeyring, parsePayloadKeys } from '../lib/security/payload-keys';
import { startCodecServer } from '../lib/security/codec-server';
import { InputError } from '../lib/errors';

const key = () => randomBytes(32).toString('base64');
const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const fromPayload = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);
const SECRET_TEXT = 'BARCODE-0123456789ABCDEF';

test('a payload round-trips through the codec, and the encrypted bytes hide it', async () => {
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
  const original = toPayload({ barCode: SECRET_TEXT, count: 3 });
  const [encrypted] = await codec.encode([original]);
  assert.equal(Buffer.from(encrypted!.metadata![METADATA_ENCODING_KEY]!).toString(), ENCRYPTED_ENCODING);
  assert.equal(Buffer.from(encrypted!.metadata![KEY_ID_METADATA]!).toString(), 'k1');
  assert.ok(
    !Buffer.from(encrypted!.data!).includes(SECRET_TEXT),
    'ciphertext does not contain the plaintext',
  );
  assert.ok(
    !Object.values(encrypted!.metadata!).some((value) => Buffer.from(value).toString().includes('json')),
    'the original encoding is hidden too',
  );
  const [decoded] = await codec.decode([encrypted!]);
  assert.deepEqual(fromPayload(decoded!), { barCode: SECRET_TEXT, count: 3 });
});

test('every encryption uses a fresh nonce: the same payload never encrypts to the same bytes', async () => {
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
  const payload = toPayload('same');
  const [a, b] = await codec.encode([payload, payload]);
  assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
  assert.notDeepEqual(Buffer.from(a!.data!).subarray(0, 12), Buffer.from(b!.data!).subarray(0, 12));
});

test('a wrong key, an unknown key id or altered bytes are refused, never decoded to garbage', async () => {
  const writer = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
  const [encrypted] = await writer.encode([toPayload(SECRET_TEXT)]);

  const sameIdOtherKey = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
  await assert.rejects(
    sameIdOtherKey.decode([encrypted!]),
    (error: Error) =>
      error instanceof PayloadDecryptionError && /key "k1" does not decrypt/.test(error.message),
  );

  const otherId = new AesGcmPayloadCodec(parsePayloadKeys(`k2:${key()}`));
  await assert.rejects(otherId.decode([encrypted!]), /key "k1", which is not configured \(known: k2\)/);

  const tampered = { ...encrypted!, data: Buffer.from(encrypted!.data!) };
  tampered.data[20] = tampered.data[20]! ^ 1;
  await assert.rejects(writer.decode([tampered]), PayloadDecryptionError);

  // The key id is authenticated: relabelling a payload with another configured key's id fails.
  const both = `k1:${key()},k2:${key()}`;
  const twoKeys = new AesGcmPayloadCodec(parsePayloadKeys(both));
  const [underK1] = await twoKeys.encode([toPayload(SECRET_TEXT)]);
  const relabelled = {
    ...underK1!,
    metadata: { ...underK1!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') },
  };
  await assert.rejects(twoKeys.decode([relabelled]), PayloadDecryptionError);
});

test('rotation: the first key encrypts, every listed key decrypts', async () => {
  const oldKey = `old:${key()}`;
  const newKey = `new:${key()}`;
  const before = new AesGcmPayloadCodec(parsePayloadKeys(oldKey));
  const after = new AesGcmPayloadCodec(parsePayloadKeys(`${newKey},${oldKey}`));
  const [written] = await before.encode([toPayload('written before the rotation')]);
  assert.equal(fromPayload((await after.decode([written!]))[0]!), 'written before the rotation');
  const [fresh] = await after.encode([toPayload('written after')]);
  assert.equal(Buffer.from(fresh!.metadata![KEY_ID_METADATA]!).toString(), 'new');
  await assert.rejects(before.decode([fresh!]), /key "new", which is not configured/);
});

test('payloads written without encryption still decode (encryption switched on later)', async () => {
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
  const plain = toPayload({ interfaceId: 7 });
  assert.deepEqual(await codec.decode([plain]), [plain]);
});

test('key settings: format errors name the entry, never the key bytes; the file variant works', () => {
  const good = key();
  const short = randomBytes(16).toString('base64');
  assert.throws(() => parsePayloadKeys(''), InputError);
  assert.throws(
    () => parsePayloadKeys(`k1:${short}`),
    (error: Error) =>
      /key 1 \("k1"\): expected 32 bytes/.test(error.message) && !error.message.includes(short),
  );
  assert.throws(
    () => parsePayloadKeys(good),
    (error: Error) => /key 1: expected id:base64key/.test(error.message) && !error.message.includes(good),
  );
  assert.throws(() => parsePayloadKeys(`k1:${good},k1:${key()}`), /listed twice/);
  assert.throws(() => parsePayloadKeys(`bad id:${good}`), /key 1: expected id:base64key/);

  const fileText = `# current key first\nk2:${key()}\nk1:${good}  # retired 2026-01\n`;
  const keyring = loadPayloadKeyring({ BARCODES_PAYLOAD_KEYS_FILE: '/run/secrets/keys' }, (path) => {
    assert.equal(path, '/run/secrets/keys');
    return fileText;
  });
  assert.equal(keyring!.current.id, 'k2');
  assert.deepEqual([...keyring!.byId.keys()], ['k2', 'k1']);
  assert.deepEqual(keyring!.byId.get('k1'), Buffer.from(good, 'base64'));
  assert.equal(loadPayloadKeyring({}), undefined);
  assert.throws(
    () => loadPayloadKeyring({ BARCODES_PAYLOAD_KEYS: `k1:${good}`, BARCODES_PAYLOAD_KEYS_FILE: '/x' }),
    /both set/,
  );
});

test('the codec server decodes and encodes as the Temporal UI asks, for the allowed origin only', async () => {
  const keys = parsePayloadKeys(`k1:${key()}`);
  const codec = new AesGcmPayloadCodec(keys);
  const lines: string[] = [];
  const server = await startCodecServer({
    codec,
    port: 0,
    allowedOrigins: ['http://localhost:8233'],
    log: (line) => lines.push(line),
  });
  try {
    const [encrypted] = await codec.encode([toPayload({ barCode: SECRET_TEXT })]);
    const asJson = (payload: Payload) => ({
      metadata: Object.fromEntries(
        Object.entries(payload.metadata!).map(([name, value]) => [
          name,
          Buffer.from(value).toString('base64'),
        ]),
      ),
      data: Buffer.from(payload.data!).toString('base64'),
    });
    const uiHeaders = {
      'Content-Type': 'application/json',
      'X-Namespace': 'default',
      Origin: 'http://localhost:8233',
    };

    const preflight = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://localhost:8233',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);

    const decoded = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: uiHeaders,
      body: JSON.stringify({ payloads: [asJson(encrypted!)] }),
    });
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    const body = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString(), 'json/plain');
    assert.deepEqual(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString()), {
      barCode: SECRET_TEXT,
    });

    const encoded = await fetch(`${server.url}/encode`, {
      method: 'POST',
      headers: uiHeaders,
      body: JSON.stringify({ payloads: body.payloads }),
    });
    const reEncrypted = ((await encoded.json()) as typeof body).payloads[0]!;
    assert.equal(Buffer.from(reEncrypted.metadata.encoding!, 'base64').toString(), ENCRYPTED_ENCODING);
    assert.ok(!Buffer.from(reEncrypted.data, 'base64').includes(SECRET_TEXT));

    const foreign = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: { ...uiHeaders, Origin: 'https://evil.example' },
      body: JSON.stringify({ payloads: [asJson(encrypted!)] }),
    });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    assert.ok(!(await foreign.text()).includes(SECRET_TEXT));

    const otherKey = new AesGcmPayloadCodec(parsePayloadKeys(`k1:${key()}`));
    const [foreignPayload] = await otherKey.encode([toPayload('x')]);
    const wrongKey = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: uiHeaders,
      body: JSON.stringify({ payloads: [asJson(foreignPayload!)] }),
    });
    assert.equal(wrongKey.status, 400);
    assert.match(await wrongKey.text(), /does not decrypt/);

    const garbage = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: uiHeaders,
      body: 'not json',
    });
    assert.equal(garbage.status, 400);
    assert.ok(
      lines.every((line) => !line.includes(SECRET_TEXT)),
      'the server log never holds a payload',
    );
  } finally {
    await server.close();
  }
});

test('barcodes codec-server serves the configured keys and refuses to start without any', async () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 'barcodes.js');
  const keys = `k1:${key()}`;
  const missing = spawnSync(process.execPath, [bin, 'codec-server'], {
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
  });
  assert.equal(missing.status, 2);
  assert.match(
    missing.stderr,
    /^barcodes: BARCODES_PAYLOAD_KEYS \(or BARCODES_PAYLOAD_KEYS_FILE\) is not set/,
  );

  const server = spawn(
    process.execPath,
    [bin, 'codec-server', '--port', '0', '--origin', 'http://ui.example:8080', '--json'],
    {
      env: { PATH: process.env.PATH, BARCODES_PAYLOAD_KEYS: keys },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => server.on('close', resolve));
  try {
    let stdout = '';
    const started = await new Promise<{ url: string; origins: string[]; keyIds: string[] }>(
      (resolve, reject) => {
        server.stdout.on('data', (chunk) => {
          stdout += chunk;
          try {
            resolve(JSON.parse(stdout));
          } catch {
            // not complete yet
          }
        });
        server.on('close', () => reject(new Error(`codec-server exited early: ${stdout}`)));
      },
    );
    assert.deepEqual(started.origins, ['http://ui.example:8080']);
    assert.deepEqual(started.keyIds, ['k1']);
    assert.ok(!stdout.includes(keys.slice(3)), 'the key is not printed');
    const [encrypted] = await new AesGcmPayloadCodec(parsePayloadKeys(keys)).encode([
      toPayload({ barCode: SECRET_TEXT }),
    ]);
    const response = await fetch(`${started.url}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'http://ui.example:8080' },
      body: JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(encrypted!.metadata!).map(([name, value]) => [
                name,
                Buffer.from(value).toString('base64'),
              ]),
            ),
            data: Buffer.from(encrypted!.data!).toString('base64'),
          },
        ],
      }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { payloads: { data: string }[] };
    assert.deepEqual(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString()), {
      barCode: SECRET_TEXT,
    });
  } finally {
    server.kill('SIGTERM');
    assert.equal(await exited, 0, 'stops cleanly on SIGTERM');
  }
});
