import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { insertSale } from '../../../devstack/sales-simulator';
import { sleep } from '../../../devstack/log';
import { parseDestinationOptions } from '../../../lib/destinations/options';
import type { FaultPoint } from '../../../lib/fault-points';
import { HttpsReceiver } from '../../support/https-receiver';
import { findOrInstallSshd, startSshd, type TestSshd } from '../../support/sshd';
import { httpsArrivals, leftoverTemporaryFiles, sftpArrivals } from '../destination-arrivals';
import type { FaultStack, ScenarioInterface } from '../fault-stack';
import type { ScenarioRow } from '../report';
import { scenarioRow, withFaultStack, type Scenario, type ScenarioContext } from '../scenario';

const SFTP_CRASH_POINTS: FaultPoint[] = ['after-sftp-upload', 'after-destination-delivered'];
/** The receiver stalls this long after storing; the worker gives up after BARCODES_HTTPS_TIMEOUT. */
const HTTPS_STALL_MILLIS = 6_000;
const HTTPS_TIMEOUT = '2s';
/** The SFTP outage case: a schedule every few seconds, the server down for several intervals. */
const OUTAGE_INTERVAL_SECONDS = 3;
const OUTAGE_INTERVALS = 4;
const RUN_TIMEOUT_MILLIS = 90_000;

/**
 * SFTP and HTTPS under faults: a worker SIGKILLed between upload and rename and between rename
 * and record, a receiver that stores the body and times out, an SFTP server down for several
 * intervals. What arrived (files in the folder, bodies at the receiver) is checked like email:
 * 0 lost, 0 duplicated tickets; a repeated POST with the same idempotency key is counted apart.
 */
export const destinations: Scenario = {
  name: 'destinations',
  summary:
    'SFTP and HTTPS: SIGKILL between upload and rename and between rename and record, a receiver timing out after storing, SFTP down for several intervals',
  // About 90 s (an sshd, a receiver, four cases): the full suite's; the quick suite stays minutes.
  quick: false,
  run: async (context) => {
    const found = findOrInstallSshd(context.log);
    if ('skip' in found) {
      context.log(`destinations: skipped: ${found.skip}`);
      return [];
    }
    const sshd = await startSshd(found.path);
    const secret = randomBytes(32).toString('hex');
    const receiver = await HttpsReceiver.start(Buffer.from(secret));
    const secretFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'barcodes-faults-secret-')), 'secret');
    writeFileSync(secretFile, secret, { mode: 0o600 });
    try {
      return await withFaultStack(
        context,
        {
          name: 'destinations',
          env: {
            BARCODES_SECRETS_KEY: `k1:${randomBytes(32).toString('base64')}`,
            BARCODES_HTTPS_CA_FILE: receiver.caFile,
            BARCODES_HTTPS_TIMEOUT: HTTPS_TIMEOUT,
          },
        },
        (stack) => runCases(stack, context, sshd, receiver, secretFile),
      );
    } finally {
      await receiver.close();
      await sshd.close();
    }
  },
};

async function runCases(
  stack: FaultStack,
  context: ScenarioContext,
  sshd: TestSshd,
  receiver: HttpsReceiver,
  secretFile: string,
): Promise<ScenarioRow[]> {
  const rows: ScenarioRow[] = [];
  const pool = stack.stack.pool;
  const exporterSchema = stack.stack.config.exporterSchema;
  const keyring = stack.stack.config.secretsKeyring;
  /** Each case delivers into a folder of its own, so what arrived is that case's alone. */
  const sftpCase = async (label: string, intervalSeconds: number) => {
    const folder = path.join(sshd.inbox, label);
    mkdirSync(folder);
    await stack.addSalesChannels([channelOf(label)]);
    const iface = await stack.createInterface({
      label,
      channels: [channelOf(label)],
      intervalSeconds,
      noEmail: true,
      setDestinations: parseDestinationOptions(
        {
          sftp: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${folder}`,
          sftpKey: sshd.clientKeyFile,
          sftpHostKey: sshd.hostKeyFingerprint,
        },
        keyring,
      ),
      arrivals: sftpArrivals(folder, pool, exporterSchema),
    });
    return { iface, folder };
  };

  for (const point of SFTP_CRASH_POINTS) {
    const startedAt = Date.now();
    const { iface, folder } = await sftpCase(`crash-${point}`, 3600);
    const notes = await crashOnce(stack, point, iface);
    const leftovers = leftoverTemporaryFiles(folder);
    const row = await scenarioRow(stack, `sftp crash ${point}`, [iface], startedAt, { notes });
    rows.push({
      ...row,
      problems: [
        ...row.problems,
        ...(leftovers.length ? [`temporary files left: ${leftovers.join(', ')}`] : []),
      ],
    });
  }

  {
    const startedAt = Date.now();
    const label = 'https-timeout';
    await stack.addSalesChannels([channelOf(label)]);
    const keys = new Set<string>();
    const iface = await stack.createInterface({
      label,
      channels: [channelOf(label)],
      intervalSeconds: 3600,
      noEmail: true,
      setDestinations: parseDestinationOptions({ https: receiver.url, httpsSecretFile: secretFile }, keyring),
      arrivals: httpsArrivals(receiver, (key) => keys.has(key)),
    });
    const worker = await stack.startWorker(label);
    await sell(stack, label);
    // Only the first POST stalls: the retry finds the receiver answering again.
    receiver.behaviour = { stallAfterStoringMillis: HTTPS_STALL_MILLIS, stallCount: 1 };
    const first = await stack.stack.runNow(iface.id, RUN_TIMEOUT_MILLIS);
    receiver.behaviour = {};
    await sell(stack, label);
    const second = await stack.stack.runNow(iface.id, RUN_TIMEOUT_MILLIS);
    await worker.stop();
    for (const window of [...first.result.windows, ...second.result.windows]) {
      const { rows: parts } = await pool.query<{ message_id: string }>(
        `SELECT message_id FROM ${exporterSchema}.delivery_part WHERE delivery_id = $1`,
        [window.deliveryId],
      );
      for (const part of parts) keys.add(part.message_id);
    }
    const row = await scenarioRow(stack, 'https receiver times out after storing', [iface], startedAt);
    const exercised =
      row.duplicateEmails > 0 ? [] : ['the receiver never timed out: the case did not exercise the fault'];
    rows.push({
      ...row,
      problems: [...row.problems, ...exercised],
      notes: [
        ...row.notes,
        `${row.duplicateEmails} repeated POST(s) with the same idempotency key and bytes (the receiver's timeout): a receiver that keys on Idempotency-Key stores it once`,
      ],
    });
  }

  {
    const startedAt = Date.now();
    const { iface, folder } = await sftpCase('sftp-down', OUTAGE_INTERVAL_SECONDS);
    const worker = await stack.startWorker('sftp-down');
    await sell(stack, 'sftp-down');
    await sleep(OUTAGE_INTERVAL_SECONDS * 2_000);
    await sshd.stop();
    context.log(`destinations: sshd stopped for ${OUTAGE_INTERVALS} intervals`);
    for (let interval = 0; interval < OUTAGE_INTERVALS; interval++) {
      await sell(stack, 'sftp-down');
      await sleep(OUTAGE_INTERVAL_SECONDS * 1_000);
    }
    await sshd.start();
    await sell(stack, 'sftp-down');
    await stack.settle([iface], RUN_TIMEOUT_MILLIS * 2);
    await worker.stop();
    const failures = (await stack.stack.store.get(iface.id)).consecutiveFailures;
    const row = await scenarioRow(stack, 'sftp server down for several intervals', [iface], startedAt, {
      notes: [
        `server down ${OUTAGE_INTERVALS * OUTAGE_INTERVAL_SECONDS} s with a ${OUTAGE_INTERVAL_SECONDS} s interval; ${failures} permanent failures counted`,
      ],
    });
    const leftovers = leftoverTemporaryFiles(folder);
    rows.push({
      ...row,
      problems: [
        ...row.problems,
        ...(failures > 0 ? [`an outage counted ${failures} permanent failures toward self-pause`] : []),
        ...(leftovers.length ? [`temporary files left: ${leftovers.join(', ')}`] : []),
      ],
    });
  }
  return rows;
}

/** A worker stopped at the point and SIGKILLed; a fresh one finishes the run; a second window follows. */
async function crashOnce(stack: FaultStack, point: FaultPoint, iface: ScenarioInterface): Promise<string[]> {
  const label = `crash-${point}`;
  await sell(stack, label);
  const marker = stack.markerFile(label);
  const doomed = await stack.startWorker(`stops-${point}`, { stopAt: point, marker });
  const run = stack.stack.runNow(iface.id, RUN_TIMEOUT_MILLIS);
  run.catch(() => {});
  await stack.waitForMarker(marker);
  await doomed.kill();
  const successor = await stack.startWorker('successor');
  const reported = await stack.failActivitiesOf(doomed);
  const first = await run;
  await sell(stack, label);
  const second = await stack.stack.runNow(iface.id, RUN_TIMEOUT_MILLIS);
  await successor.stop();
  const sent = [...first.result.windows, ...second.result.windows].filter(
    (window) => window.status === 'sent',
  ).length;
  return [
    `killed at ${point} (${reported} dead activity attempt(s) reported failed); ${sent} windows sent by the two runs`,
  ];
}

async function sell(stack: FaultStack, label: string): Promise<void> {
  await insertSale(stack.salesPool, stack.schema, {
    contactNumber: null,
    salesChannelCode: channelOf(label),
    ticketCount: 3,
  });
}

function channelOf(label: string): string {
  return `DEST-${label.toUpperCase()}`;
}
