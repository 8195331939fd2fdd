import { createHash } from 'node:crypto';
import pg from 'pg';
import type { SmtpSink } from '../../devstack/smtp-sink';
import { filesFor, type ReceivedFile } from '../support/mail';
import type { SalesRecord } from './sales-writer';

/** An interface as the checker sees it: what it should receive, and where its mail lands. */
export interface CheckedInterface {
  id: number;
  /** Its only recipient: every mail to this address belongs to this interface. */
  recipient: string;
  contacts: string[];
  channels: string[];
  /** Where its first window starts: tickets created before are not its. */
  startAt: Date;
  /**
   * What really arrived at its SFTP folder or HTTPS receiver, as files identified like emails (a
   * repeated idempotency key with the same bytes counts as a duplicate email); absent: its mail.
   */
  arrivals?: () => Promise<ReceivedFile[]>;
}

/** The exactly-once accounting of one interface. */
export interface InterfaceAccount {
  interfaceId: number;
  /** Matching tickets in the source (the definition of CONTRACT.md §1, queried independently). */
  expected: number;
  /** Expected tickets that arrived at least once. */
  delivered: number;
  /** Expected tickets that never arrived. */
  lost: string[];
  /** Extra arrivals of a ticket in distinct files (a second file with the same ticket). */
  duplicated: number;
  /** Tickets that arrived but are not this interface's (another interface's, nobody's, rolled back). */
  leaked: string[];
  /** Emails received again with a Message-ID already received (the SMTP-acceptance duplicate). */
  duplicateEmails: number;
  /** Message-IDs received with different attachments: one window sent as two different files. */
  conflictingFiles: number;
  /** Windows that arrived after a later window (by window start) had already arrived. */
  outOfOrder: number;
  /** Invariants of the delivery ledger that do not hold (gaps, overlaps, unfinished windows). */
  ledgerProblems: string[];
}

export interface CheckInput {
  /** Pool on the test database (source and exporter tables). */
  pool: pg.Pool;
  ticketingSchema: string;
  exporterSchema: string;
  sink: SmtpSink;
  interfaces: CheckedInterface[];
  /** What the simulator wrote, to cross-check the source: committed rows exist, rolled-back ones do not. */
  sales?: SalesRecord;
}

export interface CheckResult {
  accounts: InterfaceAccount[];
  /** Problems with the scenario's own bookkeeping (the suite's, not the product's). */
  sourceProblems: string[];
}

/** Message-ID of a chain window (docs/exactly-once.md "Email"): interface, window bounds, part. */
const CHAIN_MESSAGE_ID = /^<barcodes\.i(\d+)\.(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)\.p(\d+)of(\d+)@/;

/**
 * Proves, per interface, delivered set == expected set: compares what really arrived over SMTP
 * (attachments parsed as CSV) with the matching tickets in the source, and checks the ledger.
 * Emails are identified by Message-ID; a repeated Message-ID with identical bytes is a duplicate
 * email, not a duplicated ticket.
 */
export async function checkDeliveries(input: CheckInput): Promise<CheckResult> {
  const accounts: InterfaceAccount[] = [];
  for (const iface of input.interfaces) {
    const expected = await expectedBarCodes(input, iface);
    accounts.push({
      ...accountMail(
        iface,
        iface.arrivals ? await iface.arrivals() : filesFor(input.sink, iface.recipient),
        expected,
      ),
      ledgerProblems: await ledgerProblems(input, iface, expected.size),
    });
  }
  return { accounts, sourceProblems: input.sales ? await crossCheckSales(input, input.sales) : [] };
}

/** The accounting of the files one interface received against its expected bar codes. */
export function accountMail(
  iface: CheckedInterface,
  files: ReceivedFile[],
  expected: Set<string>,
): Omit<InterfaceAccount, 'ledgerProblems'> {
  // One entry per email (an email may carry several attachments only if a format splits: it does not).
  const byMessageId = new Map<string, { digest: string; files: ReceivedFile[] }[]>();
  const arrivalOrder: string[] = [];
  let duplicateEmails = 0;
  let conflictingFiles = 0;
  for (const mail of uniqueMails(files)) {
    const messageId = mail[0]!.mail.parsed.messageId ?? '(none)';
    const digest = digestOf(mail);
    const seen = byMessageId.get(messageId);
    if (!seen) {
      byMessageId.set(messageId, [{ digest, files: mail }]);
      arrivalOrder.push(messageId);
    } else if (seen.some((version) => version.digest === digest)) {
      duplicateEmails++;
    } else {
      conflictingFiles++;
      seen.push({ digest, files: mail });
    }
  }
  const occurrences = new Map<string, number>();
  for (const versions of byMessageId.values()) {
    for (const version of versions) {
      for (const file of version.files) {
        for (const record of file.records)
          occurrences.set(record.BAR_CODE!, (occurrences.get(record.BAR_CODE!) ?? 0) + 1);
      }
    }
  }
  let duplicated = 0;
  for (const count of occurrences.values()) duplicated += count - 1;
  return {
    interfaceId: iface.id,
    expected: expected.size,
    delivered: [...expected].filter((barCode) => occurrences.has(barCode)).length,
    lost: [...expected].filter((barCode) => !occurrences.has(barCode)),
    duplicated,
    leaked: [...occurrences.keys()].filter((barCode) => !expected.has(barCode)),
    duplicateEmails,
    conflictingFiles,
    outOfOrder: countOutOfOrder(arrivalOrder),
  };
}

/** Groups attachments back into the emails that carried them, in arrival order. */
function uniqueMails(files: ReceivedFile[]): ReceivedFile[][] {
  const mails = new Map<object, ReceivedFile[]>();
  for (const file of files) {
    const group = mails.get(file.mail);
    if (group) group.push(file);
    else mails.set(file.mail, [file]);
  }
  return [...mails.values()];
}

/** The attachments' names and bytes: MIME boundaries differ between two sends of one email. */
function digestOf(mail: ReceivedFile[]): string {
  const hash = createHash('sha256');
  for (const file of mail) hash.update(file.fileName).update('\0').update(file.content).update('\0');
  return hash.digest('hex');
}

function countOutOfOrder(messageIds: string[]): number {
  let latest = '';
  let late = 0;
  for (const messageId of messageIds) {
    const start = CHAIN_MESSAGE_ID.exec(messageId)?.[2] ?? '';
    if (start < latest) late++;
    else latest = start;
  }
  return late;
}

async function expectedBarCodes(input: CheckInput, iface: CheckedInterface): Promise<Set<string>> {
  const s = input.ticketingSchema;
  const { rows } = await input.pool.query<{ bar_code: string }>(
    `SELECT t.bar_code FROM ${s}.ticket t JOIN ${s}.ticket_order o ON o.id = t.order_id
      WHERE t.created_at >= $1 AND (o.contact_number = ANY($2::text[]) OR o.sales_channel_code = ANY($3::text[]))`,
    [iface.startAt, iface.contacts, iface.channels],
  );
  return new Set(rows.map((row) => row.bar_code));
}

/**
 * The ledger's own invariants: chain windows follow each other without gap or overlap from the
 * interface's start, every one is finished, and together they hold exactly the expected count.
 */
export async function ledgerProblems(
  input: CheckInput,
  iface: CheckedInterface,
  expectedCount: number,
): Promise<string[]> {
  const { rows } = await input.pool.query<{
    id: string;
    window_start: Date;
    window_end: Date;
    status: string;
    ticket_count: number;
  }>(
    `SELECT id, window_start, window_end, status, ticket_count FROM ${input.exporterSchema}.delivery
      WHERE interface_id = $1 AND kind IN ('scheduled','run') ORDER BY window_start, id`,
    [iface.id],
  );
  const problems: string[] = [];
  let previousEnd = iface.startAt.getTime();
  let total = 0;
  for (const row of rows) {
    if (row.window_start.getTime() !== previousEnd) {
      problems.push(
        `delivery ${row.id} starts at ${row.window_start.toISOString()}, the previous window ended at ${new Date(previousEnd).toISOString()}`,
      );
    }
    if (row.status !== 'sent' && row.status !== 'empty') problems.push(`delivery ${row.id} is ${row.status}`);
    previousEnd = row.window_end.getTime();
    total += row.ticket_count;
  }
  if (total !== expectedCount)
    problems.push(`the ledger's windows hold ${total} tickets, the source has ${expectedCount}`);
  return [...problems, ...(await sharedIdentities(input, iface))];
}

/** Distinct windows must be distinct emails and files: a shared Message-ID or file name is one identity for two files. */
async function sharedIdentities(input: CheckInput, iface: CheckedInterface): Promise<string[]> {
  const { rows } = await input.pool.query<{ what: string; value: string; deliveries: string[] }>(
    `SELECT what, value, array_agg(delivery_id::text ORDER BY delivery_id) AS deliveries
       FROM ${input.exporterSchema}.delivery d
       JOIN ${input.exporterSchema}.delivery_part p ON p.delivery_id = d.id
       CROSS JOIN LATERAL (VALUES ('Message-ID', p.message_id), ('file name', p.file_name)) AS identity(what, value)
      WHERE d.interface_id = $1 AND d.kind IN ('scheduled','run')
      GROUP BY what, value HAVING count(DISTINCT d.id) > 1`,
    [iface.id],
  );
  return rows.map(
    (row) => `deliveries ${row.deliveries.join(', ')} (different windows) share the ${row.what} ${row.value}`,
  );
}

/** The simulator's record against the source: catches a suite that counts what it never wrote. */
async function crossCheckSales(input: CheckInput, sales: SalesRecord): Promise<string[]> {
  const committed = sales.committed.flatMap((transaction) =>
    transaction.tickets.map((ticket) => ticket.barCode),
  );
  const rolledBack = sales.rolledBack.map((ticket) => ticket.barCode);
  const { rows } = await input.pool.query<{ bar_code: string }>(
    `SELECT bar_code FROM ${input.ticketingSchema}.ticket WHERE bar_code = ANY($1)`,
    [[...committed, ...rolledBack]],
  );
  const existing = new Set(rows.map((row) => row.bar_code));
  const problems: string[] = [];
  const missing = committed.filter((barCode) => !existing.has(barCode)).length;
  if (missing > 0) problems.push(`${missing} committed tickets are not in the source`);
  const present = rolledBack.filter((barCode) => existing.has(barCode)).length;
  if (present > 0) problems.push(`${present} rolled-back tickets are in the source`);
  return problems;
}
