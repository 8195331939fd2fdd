import type { Delivery } from '../ledger/ledger';
import { interfaceTitle } from '../interfaces/title';

/** `2026-11-29T10:15:00.000Z` → `20261129T101500Z` (CONTRACT.md §3 file-name time form). */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** The domain for Message-IDs: the sender's, so they are unique to this deployment. */
export function messageIdDomain(mailFrom: string): string {
  const at = mailFrom.lastIndexOf('@');
  const domain = at >= 0 ? mailFrom.slice(at + 1).replace(/[>\s]/g, '') : '';
  return domain || 'localhost';
}

/**
 * Message-ID of one part of a delivery. Chain windows (scheduled/run) get an id that depends only
 * on (interface, window, part), so a retry after a crash repeats the very same message; backfills
 * and resends carry their own delivery id, so they are new messages that reference the original.
 */
export function partMessageId(
  delivery: Pick<Delivery, 'id' | 'interfaceId' | 'kind' | 'windowStart' | 'windowEnd'>,
  part: number,
  partCount: number,
  domain: string,
): string {
  const window = `${compactUtc(delivery.windowStart)}-${compactUtc(delivery.windowEnd)}`;
  const own =
    delivery.kind === 'scheduled' || delivery.kind === 'run' ? '' : `.${delivery.kind}${delivery.id}`;
  return `<barcodes.i${delivery.interfaceId}.${window}.p${part}of${partCount}${own}@${domain}>`;
}

const LAYERS: [RegExp, string][] = [
  [/\.pgp$/i, 'OpenPGP-encrypted'],
  [/\.gz$/i, 'gzip-compressed'],
];

/**
 * What the attachment is, for the person reading the email: its layers from the outside in, read
 * off the file name the renderer built (`….csv.gz.pgp`), and the text encoding of a CSV.
 */
export function describeAttachment(fileName: string, contentType: string): string {
  const layers: string[] = [];
  let rest = fileName;
  for (let found = true; found;) {
    found = false;
    for (const [suffix, words] of LAYERS) {
      if (suffix.test(rest)) {
        layers.push(words);
        rest = rest.replace(suffix, '');
        found = true;
      }
    }
  }
  const charset = /charset=([^;\s]+)/i.exec(contentType)?.[1];
  const inner = /\.xlsx$/i.test(rest)
    ? 'Excel workbook (xlsx)'
    : /\.zip$/i.test(rest)
      ? 'ZIP archive holding the CSV file'
      : `CSV file${charset ? `, ${charset.toUpperCase()}` : ''}`;
  return [...layers, inner].join(' ');
}

function formatUtc(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
}

interface SubjectInput {
  interfaceName: string;
  kind: Delivery['kind'];
  windowStart: Date;
  windowEnd: Date;
  ticketCount: number;
  part: number;
  partCount: number;
}

/** Subject: names the interface, the window and the ticket count (and the part when split). */
export function subjectFor(input: SubjectInput): string {
  const label = input.kind === 'backfill' ? '[backfill] ' : input.kind === 'resend' ? '[resend] ' : '';
  const tickets = `${input.ticketCount} ticket${input.ticketCount === 1 ? '' : 's'}`;
  const part = input.partCount > 1 ? `, part ${input.part}/${input.partCount}` : '';
  return `${label}${interfaceTitle(input.interfaceName)}: ${formatUtc(input.windowStart)} to ${formatUtc(input.windowEnd)}, ${tickets}${part}`;
}

/**
 * The text of one part's email. `encryptedTo`: the fingerprint of the OpenPGP key the attachment
 * is encrypted to (null or absent: a plain file); the SHA-256 is always the attachment's.
 */
export function bodyFor(
  input: SubjectInput & {
    fileName: string;
    contentType: string;
    sha256: string;
    rowCount: number;
    encryptedTo?: string | null;
  },
): string {
  const lines = [
    `Interface: ${input.interfaceName}`,
    `Window: ${input.windowStart.toISOString()} (inclusive) to ${input.windowEnd.toISOString()} (exclusive)`,
    `Tickets in this window: ${input.ticketCount}`,
    `File: ${input.fileName}${input.partCount > 1 ? ` (part ${input.part} of ${input.partCount}, ${input.rowCount} tickets)` : ''}`,
    `Attachment: ${describeAttachment(input.fileName, input.contentType)}`,
    ...(input.encryptedTo
      ? [
          `Encrypted with OpenPGP to the key with fingerprint ${input.encryptedTo}: decrypt it with its private key (e.g. gpg --decrypt).`,
          `SHA-256 of the attachment (encrypted, as sent): ${input.sha256}`,
        ]
      : [`SHA-256 of the file: ${input.sha256}`]),
  ];
  if (input.kind === 'backfill')
    lines.push('', 'This is a backfill: these tickets may already have been delivered in earlier files.');
  if (input.kind === 'resend') lines.push('', 'This is a resend of a file delivered before.');
  return lines.join('\n') + '\n';
}
