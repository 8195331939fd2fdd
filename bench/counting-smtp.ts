/**
 * An SMTP server on loopback that accepts every message and keeps only its size, Message-ID and
 * arrival time: the far end of the large export and the fan-out, where the devstack sink's parsing
 * and keeping of every message would cost the benchmark process memory and CPU.
 */
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { DEFAULT_HOST, freePort } from '../devstack/ports';

export interface AcceptedMessage {
  messageId: string;
  bytes: number;
  /** When the message was complete, just before the 250 answer. */
  acceptedAtMillis: number;
}

export interface CountingSmtp {
  readonly url: string;
  readonly accepted: AcceptedMessage[];
  close(): Promise<void>;
}

/** Room for a header block: the Message-ID is in the first few hundred bytes. */
const HEADER_SCAN_BYTES = 16 * 1024;

export async function startCountingSmtp(): Promise<CountingSmtp> {
  const port = await freePort(DEFAULT_HOST);
  const accepted: AcceptedMessage[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    size: 512 * 1024 * 1024,
    onData(stream: SMTPServerDataStream, _session, callback) {
      let bytes = 0;
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (head.length < HEADER_SCAN_BYTES)
          head += chunk.toString('latin1', 0, Math.min(chunk.length, HEADER_SCAN_BYTES));
      });
      stream.on('end', () => {
        const messageId = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(head)?.[1] ?? '';
        accepted.push({ messageId, bytes, acceptedAtMillis: Date.now() });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, DEFAULT_HOST, () => resolve());
  });
  server.on('error', () => {});
  return {
    url: `smtp://${DEFAULT_HOST}:${port}`,
    accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
