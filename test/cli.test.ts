import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStack } from './support/stack';
import { barcodes, cliEnv } from './support/cli';
import { insertSale } from '../devstack/sales-simulator';
import { EXPORT_WINDOW_INPUT_VERSION } from '../workflows/boundary';

let stack: TestStack;
let env: NodeJS.ProcessEnv;

before(async () => {
  stack = await TestStack.start();
  env = cliEnv(stack.config);
});
after(async () => {
  await stack?.close();
});

async function interfaceCount(): Promise<number> {
  const { rows } = await stack.pool.query(
    `SELECT count(*)::int AS n FROM ${stack.config.exporterSchema}.interface`,
  );
  return rows[0].n;
}

/** Bad input: exit status, one line on stderr naming the value, nothing changed. */
async function assertRefused(args: string[], code: number, mentions: string) {
  const before = await interfaceCount();
  const result = await barcodes(args, env);
  assert.equal(result.code, code, `exit status of barcodes ${args.join(' ')}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.ok(
    lines.some((line) => line.includes(mentions)),
    `stderr names ${mentions}: ${result.stderr}`,
  );
  assert.ok(lines.length <= 2, `a short error, not a stack trace: ${result.stderr}`);
  assert.equal(await interfaceCount(), before, 'nothing changed');
}

test('migrate is idempotent', async () => {
  const result = await barcodes(['migrate', '--with-source', '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout).applied, []);
});

test('bad input is refused with one line naming the value, and changes nothing', async () => {
  const base = ['interface', 'create', '--name', 'Bad one', '--contact', 'C-1001'];
  await assertRefused([...base, '--email', 'not-an-address'], 2, '"not-an-address"');
  await assertRefused([...base, '--email', 'ok@reseller.test', '--every', 'often'], 2, '"often"');
  await assertRefused(
    [...base, '--email', 'ok@reseller.test', '--timezone', 'Mars/Olympus'],
    2,
    '"Mars/Olympus"',
  );
  await assertRefused([...base, '--email', 'ok@reseller.test', '--start', 'tomorrow'], 2, '"tomorrow"');
  await assertRefused(
    [...base, '--email', 'ok@reseller.test', '--format', '/nonexistent/format.json'],
    2,
    '/nonexistent/format.json',
  );
  await assertRefused(['interface', 'show', '424242424'], 3, 'interface 424242424 does not exist');
  await assertRefused(['interface', 'show', 'abc'], 2, '"abc"');
  await assertRefused(['interface', 'create', '--email', 'ok@reseller.test'], 2, '--name');
  const noShort = await barcodes([...base, '--email', 'ok@reseller.test', '--every', '10s'], {
    ...env,
    BARCODES_ALLOW_SHORT_INTERVALS: '',
  });
  assert.equal(noShort.code, 2);
  assert.match(noShort.stderr, /below one minute/);
});

test('usage errors (unknown command, unknown option) are one line on stderr naming the bad value, exit 2', async () => {
  for (const [args, mentions] of [
    [['interface', 'creat'], "unknown command 'creat' (did you mean create?; add --help for usage)"],
    [['lst'], "unknown command 'lst' (add --help for usage)"],
    [['interface', 'list', '--jsn'], "unknown option '--jsn' (did you mean --json?; add --help for usage)"],
    [['interface', 'list', '--bogus'], "unknown option '--bogus' (add --help for usage)"],
  ] as const) {
    const before = await interfaceCount();
    const result = await barcodes([...args], env);
    assert.equal(result.code, 2, `barcodes ${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr, `barcodes: ${mentions}\n`, 'exactly one line');
    assert.equal(result.stdout, '');
    assert.equal(await interfaceCount(), before, 'nothing changed');
  }
});

test('interfaces are created, listed, shown and mapped from the command line, and scheduled at once', async () => {
  const created = await barcodes(
    [
      'interface',
      'create',
      '--name',
      'Barcodes for CLI Reseller',
      '--email',
      'cli@reseller.test',
      '--contact',
      'C-1001',
      '--every',
      '15m',
      '--json',
    ],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const iface = JSON.parse(created.stdout);
  assert.ok(Number.isInteger(iface.id));
  assert.equal(iface.every, '15m');
  assert.match(created.stderr, new RegExp(`schedule ${stack.scheduleId(iface.id)}: created`));

  const list = JSON.parse((await barcodes(['interface', 'list', '--json'], env)).stdout);
  assert.ok(Array.isArray(list) && list.some((entry: { id: number }) => entry.id === iface.id));

  const added = await barcodes(
    ['mapping', 'add', String(iface.id), '--channel', 'RESELLER-WEB', '--json'],
    env,
  );
  assert.equal(added.code, 0, added.stderr);
  assert.deepEqual(JSON.parse(added.stdout).channels, ['RESELLER-WEB']);
  const duplicate = await barcodes(['mapping', 'add', String(iface.id), '--channel', 'RESELLER-WEB'], env);
  assert.equal(duplicate.code, 2);
  assert.match(duplicate.stderr, /already mapped/);
  const removed = await barcodes(
    ['mapping', 'remove', String(iface.id), '--channel', 'RESELLER-WEB', '--json'],
    env,
  );
  assert.deepEqual(JSON.parse(removed.stdout).channels, []);

  const shown = await barcodes(['interface', 'show', String(iface.id)], env);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /cli@reseller\.test/);
  assert.match(shown.stdout, new RegExp(`${stack.scheduleId(iface.id)} active`));

  // An interface's own alert address is set, then cleared: its alerts go to BARCODES_ALERT_EMAIL again.
  const alerting = await barcodes(
    ['interface', 'update', String(iface.id), '--alert-email', 'ops@exporter.test', '--json'],
    env,
  );
  assert.equal(JSON.parse(alerting.stdout).alertEmail, 'ops@exporter.test');
  const cleared = await barcodes(
    ['interface', 'update', String(iface.id), '--no-alert-email', '--json'],
    env,
  );
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.equal(JSON.parse(cleared.stdout).alertEmail, null);
});

test('schedules sync is idempotent and leaves interfaces without mappings unscheduled, saying why', async () => {
  await stack.store.create(
    {
      name: 'No mappings yet',
      recipients: ['none@reseller.test'],
      intervalSeconds: 900,
      lagSeconds: 30,
      timeZone: 'UTC',
      format: null,
      startAt: new Date(),
      enabled: true,
      alertEmail: null,
    },
    { contacts: [], channels: [] },
    'test',
  );
  await barcodes(['schedules', 'sync'], env);
  const second = await barcodes(['schedules', 'sync'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /nothing to do/);
  assert.match(second.stdout, /not scheduled: it has no contact or sales channel mapping/);
});

test('schedules sync moves a schedule written by an earlier release to the current workflow input', async () => {
  const iface = await stack.createInterface({ recipients: ['upgrade@reseller.test'], contacts: ['C-2101'] });
  const handle = stack.client.schedule.getHandle(stack.scheduleId(iface.id));
  // What releases before input version 2 wrote.
  await handle.update((current) => ({
    ...current,
    action: { ...current.action, args: [{ interfaceId: iface.id }] },
  }));
  const synced = await barcodes(['schedules', 'sync'], env);
  assert.equal(synced.code, 0, synced.stderr);
  assert.match(synced.stdout, new RegExp(`workflow input version ${EXPORT_WINDOW_INPUT_VERSION}`));
  assert.deepEqual((await handle.describe()).action.args, [
    {
      interfaceId: iface.id,
      version: EXPORT_WINDOW_INPUT_VERSION,
      deploymentId: stack.deploymentId,
      configVersion: iface.configVersion,
    },
  ]);
});

test('schedules sync moves a barcodes-<id> schedule of a release before deployment ids to its deployment id, and leaves others alone', async () => {
  const iface = await stack.createInterface({ recipients: ['legacy@reseller.test'], contacts: ['C-2101'] });
  const legacyOptions = (interfaceId: number, taskQueue: string) => ({
    scheduleId: `barcodes-${interfaceId}`,
    spec: { intervals: [{ every: 3_600_000 }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'exportWindow',
      workflowId: `barcodes-${interfaceId}`,
      taskQueue,
      args: [{ interfaceId, version: 2 }],
    },
    state: { paused: true },
  });
  await stack.client.schedule.create(legacyOptions(iface.id, stack.config.taskQueue));
  // Another deployment's schedule on the same namespace (another task queue, an id this database does not have).
  const foreignId = iface.id + 999_999;
  await stack.client.schedule.create(legacyOptions(foreignId, 'someone-else'));
  try {
    const synced = await barcodes(['schedules', 'sync'], env);
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(
      synced.stdout,
      new RegExp(`barcodes-${iface.id}: deleted \\(moved to ${stack.scheduleId(iface.id)}\\)`),
    );
    await assert.rejects(stack.client.schedule.getHandle(`barcodes-${iface.id}`).describe(), /not found/);
    assert.equal(
      (await stack.client.schedule.getHandle(stack.scheduleId(iface.id)).describe()).state.paused,
      false,
    );
    assert.equal(
      (await stack.client.schedule.getHandle(`barcodes-${foreignId}`).describe()).action.taskQueue,
      'someone-else',
      'not ours: untouched',
    );
  } finally {
    await stack.client.schedule
      .getHandle(`barcodes-${foreignId}`)
      .delete()
      .catch(() => {});
  }
});

test('run refuses an interface without mappings, and says so when no worker picks the run up', async () => {
  const bare = await stack.store.create(
    {
      name: 'Bare',
      recipients: ['bare@reseller.test'],
      intervalSeconds: 900,
      lagSeconds: 0,
      timeZone: 'UTC',
      format: null,
      startAt: new Date(),
      enabled: true,
      alertEmail: null,
    },
    { contacts: [], channels: [] },
    'test',
  );
  const refused = await barcodes(['run', String(bare.id)], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /no contact or sales channel mapping/);

  const mapped = await stack.createInterface({
    recipients: ['noworker@reseller.test'],
    contacts: ['C-2001'],
  });
  const noWorker = await barcodes(['run', String(mapped.id), '--timeout', '20s'], env);
  assert.equal(noWorker.code, 4, noWorker.stderr);
  assert.match(noWorker.stderr, /no worker/);
});

test('run delivers the next window and prints it; deliveries lists it', async () => {
  await stack.startWorker();
  const iface = await stack.createInterface({ recipients: ['run@reseller.test'], contacts: ['C-1002'] });
  const sold = await insertSale(stack.pool, stack.config.ticketingSchema, {
    contactNumber: 'C-1002',
    salesChannelCode: 'WEB',
    ticketCount: 3,
  });
  const ran = await barcodes(['run', String(iface.id), '--json'], env);
  assert.equal(ran.code, 0, ran.stderr);
  const delivery = JSON.parse(ran.stdout);
  assert.equal(delivery.status, 'sent');
  assert.equal(delivery.kind, 'run');
  assert.equal(delivery.ticketCount, sold.length);
  const listed = JSON.parse((await barcodes(['deliveries', String(iface.id), '--json'], env)).stdout);
  assert.equal(listed[0].id, delivery.id);
  for (const key of ['id', 'windowStart', 'windowEnd', 'ticketCount', 'status', 'kind', 'fileName', 'sha256'])
    assert.ok(key in listed[0], key);
  const preview = await barcodes(
    ['preview', String(iface.id), '--from', delivery.windowStart, '--to', delivery.windowEnd],
    env,
  );
  assert.equal(preview.code, 0, preview.stderr);
  const { createHash } = await import('node:crypto');
  assert.equal(
    createHash('sha256').update(preview.stdout).digest('hex'),
    delivery.sha256,
    'preview renders the same bytes',
  );
});

test('--strict refuses an unknown sales channel as it does an unknown contact; without it, both are warned about', async () => {
  const iface = await stack.createInterface({ recipients: ['strict@reseller.test'], contacts: ['C-1001'] });
  const id = String(iface.id);
  await assertRefused(['mapping', 'add', id, '--channel', 'TYPO-CHANNEL', '--strict'], 2, '"TYPO-CHANNEL"');
  await assertRefused(['mapping', 'add', id, '--contact', 'TYPO-CONTACT', '--strict'], 2, '"TYPO-CONTACT"');
  await assertRefused(
    [
      'interface',
      'create',
      '--name',
      'Strict',
      '--email',
      'strict@reseller.test',
      '--channel',
      'TYPO-CHANNEL',
      '--strict',
    ],
    2,
    '"TYPO-CHANNEL"',
  );
  assert.deepEqual((await stack.store.get(iface.id)).channels, [], 'the refused mapping was not added');
  const known = await barcodes(['mapping', 'add', id, '--channel', 'WEB', '--strict', '--json'], env);
  assert.equal(known.code, 0, known.stderr);
  const warned = await barcodes(['mapping', 'add', id, '--channel', 'TYPO-CHANNEL', '--json'], env);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /warning: --channel: unknown channel "TYPO-CHANNEL"/);
});

test('out-of-range durations and times, and header-unsafe text, are refused by every command naming the option', async () => {
  const iface = await stack.createInterface({ recipients: ['edges@reseller.test'], contacts: ['C-1001'] });
  const id = String(iface.id);
  const base = [
    'interface',
    'create',
    '--name',
    'Edges',
    '--email',
    'ok@reseller.test',
    '--contact',
    'C-1001',
  ];
  await assertRefused([...base, '--every', '24856d'], 2, '--every: duration "24856d" is out of range');
  await assertRefused([...base, '--lag', '99999999999999999999d'], 2, '--lag: duration');
  await assertRefused(
    [...base, '--start', '2026-02-30T00:00:00Z'],
    2,
    '--start: invalid time "2026-02-30T00:00:00Z"',
  );
  await assertRefused(
    [...base, '--start', '0001-01-01T00:00:00Z'],
    2,
    '--start: time "0001-01-01T00:00:00Z" is out of range',
  );
  await assertRefused([...base, '--start', '9999-12-31T00:00:00Z'], 2, '--start: time');
  await assertRefused(
    [
      'interface',
      'create',
      '--name',
      'Invoice\u202egpj.exe',
      '--email',
      'ok@reseller.test',
      '--contact',
      'C-1001',
    ],
    2,
    '--name: ',
  );
  await assertRefused([...base, '--actor', 'ops\u2066admin'], 2, '--actor: ');
  await assertRefused(['interface', 'update', id, '--every', '32d'], 2, '--every: ');
  await assertRefused(['interface', 'disable', id, '--actor', 'ops\r\nadmin'], 2, '--actor: ');
  await assertRefused(['mapping', 'add', id, '--channel', 'WEB\u200f'], 2, '--channel: ');
  await assertRefused(['run', id, '--timeout', '25d'], 2, '--timeout: duration "25d" is out of range');
  await assertRefused(
    ['preview', id, '--from', '2026-02-30T00:00:00Z', '--to', '2026-03-01T00:00:00Z'],
    2,
    '--from: invalid time',
  );
  await assertRefused(
    ['backfill', id, '--from', '0001-01-01T00:00:00Z', '--to', '2026-01-01T00:00:00Z'],
    2,
    '--from: time',
  );
  await assertRefused(['purge', '--older-than', '99999999999999999999d'], 2, '--older-than: duration');
  await assertRefused(['deliveries', id, '--limit', '0'], 2, '--limit: invalid count "0"');
  assert.equal((await stack.store.get(iface.id)).enabled, true, 'disable with a bad --actor changed nothing');
});

test('a bad environment is refused at start in one line naming the variable, before anything runs', async () => {
  for (const [variable, value, mentions] of [
    ['MAIL_FROM', 'Barcodes <barcodes@exporter.test>', 'MAIL_FROM: invalid email address'],
    ['BARCODES_LOG_LEVEL', 'chatty', 'BARCODES_LOG_LEVEL: invalid level "chatty"'],
    ['TEMPORAL_ADDRESS', 'localhost', 'TEMPORAL_ADDRESS: invalid address'],
    ['SMTP_URL', 'smtp//user:hunter2@relay.example', 'SMTP_URL: invalid URL'],
    ['BARCODES_FILE_RETENTION', '99999999999999999999d', 'BARCODES_FILE_RETENTION: duration'],
  ] as const) {
    const result = await barcodes(['interface', 'list'], { ...env, [variable]: value });
    assert.equal(result.code, 2, `${variable}=${value}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.ok(result.stderr.includes(mentions), result.stderr);
    assert.ok(!result.stderr.includes('hunter2'), result.stderr);
  }
});
