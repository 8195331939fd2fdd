import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type pg from 'pg';
import type { ReceivedFile } from '../support/mail';
import type { HttpsReceiver } from '../support/https-receiver';

/**
 * The checker identifies files by Message-ID, as emails. An SFTP file is identified by the part
 * whose final name it has (looked up in the ledger), an HTTPS body by its idempotency key (which
 * is the part's Message-ID): a POST repeated with the same key and bytes counts as a duplicate
 * email, a second file with the same tickets as duplicated tickets.
 */
function asReceivedFile(messageId: string, fileName: string, content: Buffer): ReceivedFile {
  const rows = parse(content, { delimiter: ';', relax_column_count: false }) as string[][];
  const header = rows[0] ?? [];
  return {
    mail: { parsed: { messageId } } as unknown as ReceivedFile['mail'],
    fileName,
    contentType: 'text/csv',
    content,
    header,
    records: rows.slice(1).map((row) => Object.fromEntries(header.map((name, index) => [name, row[index]!]))),
  };
}

/** Files in an SFTP folder with their final names, in the order they got them (mtime). */
export function sftpArrivals(
  folder: string,
  pool: pg.Pool,
  exporterSchema: string,
): () => Promise<ReceivedFile[]> {
  return async () => {
    const names = readdirSync(folder)
      .filter((name) => !name.startsWith('.'))
      .sort((a, b) => statSync(path.join(folder, a)).mtimeMs - statSync(path.join(folder, b)).mtimeMs);
    const { rows } = await pool.query<{ file_name: string; message_id: string }>(
      `SELECT file_name, message_id FROM ${exporterSchema}.delivery_part WHERE file_name = ANY($1)`,
      [names],
    );
    const messageIds = new Map(rows.map((row) => [row.file_name, row.message_id]));
    return names.map((name) =>
      asReceivedFile(
        messageIds.get(name) ?? `<unknown file ${name}>`,
        name,
        readFileSync(path.join(folder, name)),
      ),
    );
  };
}

/** Temporary upload names left behind (a crash between upload and rename leaves one until the retry). */
export function leftoverTemporaryFiles(folder: string): string[] {
  return readdirSync(folder).filter((name) => name.endsWith('.uploading'));
}

/** Every body the receiver stored for these interfaces' parts, repeats included, in arrival order. */
export function httpsArrivals(
  receiver: HttpsReceiver,
  belongs: (idempotencyKey: string) => boolean,
): () => Promise<ReceivedFile[]> {
  return async () =>
    receiver.posts
      .filter((post) => belongs(post.idempotencyKey))
      .map((post) => asReceivedFile(post.idempotencyKey, post.fileName, post.body));
}
