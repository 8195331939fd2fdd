import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestStack } from './support/stack';
import { barcodes, cliEnv } from './support/cli';
import { filesFor, deliveredBarCodes } from './support/mail';
import { insertSale, type SoldTicket } from '../devstack/sales-simulator';

let stack: TestStack;
let env: NodeJS.ProcessEnv;
const schema = () => stack.config.ticketingSchema;
const exporter = () => stack.config.exporterSchema;

before(async () => {
  stack = await TestStack.start();
  env = cliEnv(stack.config);
  await stack.startWorker();
});
after(async () => {
  await stack?.close();
});

async function count(sql: string): Promise<number> {
  const { rows } = await stack.pool.query(sql);
  return Number(rows[0].n);
}

const interfaceCount = () => count(`SELECT count(*) AS n FROM ${exporter()}.interface`);
const mappingCount = () => count(`SELECT count(*) AS n FROM ${exporter()}.mapping`);

/** Refused: the exit status, one stderr line naming `mentions`, and no interface or mapping changed. */
async function assertRefused(
  args: string[],
  mentions: string | RegExp,
  extraEnv: Record<string, string> = {},
) {
  const before = [await interfaceCount(), await mappingCount()];
  const result = await barcodes(args, { ...env, ...extraEnv });
  assert.equal(result.code, 2, `exit status of barcodes ${JSON.stringify(args)}: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  if (typeof mentions === 'string')
    assert.ok(lines[0]!.includes(mentions), `stderr names ${mentions}: ${result.stderr}`);
  else assert.match(lines[0]!, mentions);
  assert.ok(!/\r/.test(result.stderr), 'no raw CR reaches the terminal');
  assert.equal(result.stdout, '', 'nothing printed as a result');
  assert.deepEqual([await interfaceCount(), await mappingCount()], before, 'nothing changed');
}

test('header injection through a name or an address is refused at the command line', async () => {
  const base = ['interface', 'create', '--contact', 'C-1001'];
  const smuggled = 'Bcc: spy@evil.test';
  await assertRefused(
    [...base, '--name', `Barcodes\r\n${smuggled}`, '--email', 'ok@reseller.test'],
    '--name',
  );
  await assertRefused(
    [...base, '--name', 'Quiet one', '--email', `ok@reseller.test\r\n${smuggled}`],
    '--email',
  );
  await assertRefused(
    [...base, '--name', 'Quiet one', '--email', 'ok@reseller.test, spy@evil.test'],
    '--email',
  );
  await assertRefused([...base, '--name', 'Quiet one', '--email', 'Reseller <ok@reseller.test>'], '--email');
  await assertRefused(
    [
      ...base,
      '--name',
      'Quiet one',
      '--email',
      'ok@reseller.test',
      '--alert-email',
      `ops@exporter.test\r\n${smuggled}`,
    ],
    '--alert-email',
  );

  const created = await barcodes(
    [
      'interface',
      'create',
      '--name',
      'Header target',
      '--email',
      'ok@reseller.test',
      '--contact',
      'C-1001',
      '--json',
    ],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const id = String(JSON.parse(created.stdout).id);
  await assertRefused(['interface', 'update', id, '--name', `Renamed\r\n${smuggled}`], '--name');
  await assertRefused(
    ['interface', 'update', id, '--email', `other@reseller.test\r\n${smuggled}`],
    '--email',
  );
  await assertRefused(['mapping', 'add', id, '--contact', `C-1002\r\n${smuggled}`], '--contact');
  const shown = JSON.parse((await barcodes(['interface', 'show', id, '--json'], env)).stdout);
  assert.equal(shown.name, 'Header target');
  assert.deepEqual(shown.recipients, ['ok@reseller.test']);
});

test('a file name template that reaches outside its name is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-format-'));
  try {
    for (const fileName of [
      '../../etc/cron.d/barcodes.csv',
      '/tmp/barcodes.csv',
      'sub/dir/{interface}.csv',
      '..\\{interface}.csv',
      '.hidden.csv',
    ]) {
      const formatFile = path.join(dir, 'format.json');
      fs.writeFileSync(formatFile, JSON.stringify({ fileName }));
      await assertRefused(
        [
          'interface',
          'create',
          '--name',
          'Path trick',
          '--email',
          'ok@reseller.test',
          '--contact',
          'C-1001',
          '--format',
          formatFile,
        ],
        /fileName/,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TICKETING_SCHEMA and BARCODES_SCHEMA are checked identifiers: an injection is refused and nothing runs', async () => {
  await stack.pool.query('CREATE TABLE IF NOT EXISTS public.injection_canary (id int)');
  const canaryExists = async () =>
    (await stack.pool.query(`SELECT to_regclass('public.injection_canary') AS t`)).rows[0].t !== null;
  const attacks = [
    'public; drop table public.injection_canary',
    'public"; drop table public.injection_canary; --',
    'Public',
  ];
  for (const value of attacks) {
    // `migrate` would create tables in it, `doctor` would query it: the most tempting targets.
    for (const args of [['migrate', '--with-source'], ['doctor']]) {
      await assertRefused(args, `TICKETING_SCHEMA: invalid schema name ${JSON.stringify(value)}`, {
        TICKETING_SCHEMA: value,
      });
    }
  }
  await assertRefused(['interface', 'list'], 'BARCODES_SCHEMA: invalid schema name', {
    BARCODES_SCHEMA: 'barcode_export; drop table public.injection_canary',
  });
  assert.ok(await canaryExists(), 'the canary table survived');
  await stack.pool.query('DROP TABLE public.injection_canary');
});

// Codes that would match other rows if they were ever spliced into SQL, or used with LIKE.
const HOSTILE_CONTACTS = ["' OR 1=1 --", '%', "C-1001' OR '1'='1", '_'];
const HOSTILE_CHANNELS = ['_', '%', "WEB'); DELETE FROM ticket; --", '\\'];

test('codes and names that look like SQL are data: each reseller gets exactly its own tickets, and only its recipients', async () => {
  for (const code of HOSTILE_CONTACTS) {
    await stack.pool.query(
      `INSERT INTO ${schema()}.contact (contact_number, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [code, `Hostile ${code}`],
    );
  }
  for (const code of HOSTILE_CHANNELS) {
    await stack.pool.query(
      `INSERT INTO ${schema()}.sales_channel (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [code, `Hostile ${code}`],
    );
  }
  const ticketsBefore = await count(`SELECT count(*) AS n FROM ${schema()}.ticket`);

  // Through the real command line: name and codes as an attacker would type them.
  const created = await barcodes(
    [
      'interface',
      'create',
      '--name',
      "Robert'); DROP TABLE mapping; --",
      '--email',
      'or@reseller-or.test',
      '--contact',
      "' OR 1=1 --",
      '--channel',
      "WEB'); DELETE FROM ticket; --",
      '--lag',
      '0s',
      '--json',
    ],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const sqlish = JSON.parse(created.stdout) as {
    id: number;
    name: string;
    contacts: string[];
    channels: string[];
  };
  assert.equal(sqlish.name, "Robert'); DROP TABLE mapping; --");
  assert.deepEqual(sqlish.contacts, ["' OR 1=1 --"]);
  const percent = await stack.createInterface({
    name: 'Percent reseller',
    recipients: ['pct@reseller-pct.test'],
    contacts: ['%'],
  });
  const underscore = await stack.createInterface({
    name: 'Underscore reseller',
    recipients: ['us@reseller-us.test'],
    channels: ['_'],
  });
  const quoteOr = await stack.createInterface({
    name: 'Quote reseller',
    recipients: ['q@reseller-q.test'],
    contacts: ["C-1001' OR '1'='1"],
    channels: ['\\'],
  });

  const sell = (contact: string | null, channel: string, ticketCount = 1): Promise<SoldTicket[]> =>
    insertSale(stack.pool, schema(), { contactNumber: contact, salesChannelCode: channel, ticketCount });
  const expected = new Map<string, SoldTicket[]>([
    [
      'or@reseller-or.test',
      [...(await sell("' OR 1=1 --", 'WEB', 2)), ...(await sell(null, "WEB'); DELETE FROM ticket; --"))],
    ],
    ['pct@reseller-pct.test', await sell('%', 'BOX', 2)],
    ['us@reseller-us.test', [...(await sell('C-2001', '_', 2)), ...(await sell('_', '_'))]],
    ['q@reseller-q.test', [...(await sell("C-1001' OR '1'='1", 'WEB')), ...(await sell(null, '\\'))]],
  ]);
  // Tickets no hostile interface may receive: their codes are what LIKE or a spliced quote would match.
  const forNobody = [
    ...(await sell('C-1001', 'WEB', 2)),
    ...(await sell('_', 'BOX')),
    ...(await sell(null, '%')),
    ...(await sell('C-2001', 'AGENCY')),
  ];

  for (const id of [sqlish.id, percent.id, underscore.id, quoteOr.id]) {
    const run = await stack.runNow(id);
    assert.equal(run.result.windows[0]?.status, 'sent', `interface ${id} delivered`);
  }

  const all = [...expected.values()].flat().concat(forNobody);
  for (const [recipient, tickets] of expected) {
    assert.deepEqual(
      deliveredBarCodes(stack.sink, recipient).sort(),
      tickets.map((ticket) => ticket.barCode).sort(),
      `${recipient} got exactly its tickets`,
    );
    for (const file of filesFor(stack.sink, recipient)) {
      assert.deepEqual(
        file.mail.envelope.to,
        [recipient],
        'the envelope holds only the configured recipient',
      );
      assert.deepEqual(
        file.mail.parsed.to && 'value' in file.mail.parsed.to
          ? file.mail.parsed.to.value.map((address) => address.address)
          : [],
        [recipient],
      );
      assert.equal(file.mail.parsed.cc, undefined);
      assert.equal(file.mail.parsed.bcc, undefined);
    }
  }
  const deliveredAnywhere = new Set(
    stack.sink.messages.flatMap((mail) =>
      mail.envelope.to.flatMap((to) => deliveredBarCodes(stack.sink, to)),
    ),
  );
  for (const ticket of forNobody)
    assert.ok(
      !deliveredAnywhere.has(ticket.barCode),
      `ticket of ${ticket.contactNumber}/${ticket.salesChannelCode} leaked`,
    );
  assert.equal(
    await count(`SELECT count(*) AS n FROM ${schema()}.ticket`),
    ticketsBefore + all.length,
    'no ticket deleted',
  );
  assert.ok(
    (await count(`SELECT count(*) AS n FROM ${exporter()}.mapping`)) > 0,
    'the mapping table is still there',
  );
});
