import { parse } from 'csv-parse/sync';
import type { ReceivedMail, SmtpSink } from '../../devstack/smtp-sink';

export interface ReceivedFile {
  mail: ReceivedMail;
  fileName: string;
  contentType: string;
  content: Buffer;
  /** Parsed with a real CSV parser: the header row, then one record per ticket. */
  header: string[];
  records: Record<string, string>[];
}

/** Every file the sink received for one recipient, oldest first, parsed as `;`-separated CSV. */
export function filesFor(sink: SmtpSink, recipient: string): ReceivedFile[] {
  return sink.messages
    .filter((mail) => mail.envelope.to.includes(recipient))
    .flatMap((mail) =>
      mail.parsed.attachments.map((attachment) => {
        const rows = parse(attachment.content, { delimiter: ';', relax_column_count: false }) as string[][];
        const header = rows[0] ?? [];
        return {
          mail,
          fileName: attachment.filename ?? '',
          contentType: attachment.contentType,
          content: attachment.content,
          header,
          records: rows
            .slice(1)
            .map((row) => Object.fromEntries(header.map((name, index) => [name, row[index]!]))),
        };
      }),
    );
}

/** Bar codes delivered to a recipient, with repeats kept (a duplicate shows up twice). */
export function deliveredBarCodes(sink: SmtpSink, recipient: string): string[] {
  return filesFor(sink, recipient).flatMap((file) => file.records.map((record) => record.BAR_CODE!));
}
