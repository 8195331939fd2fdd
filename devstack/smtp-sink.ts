/**
 * A real SMTP server in this process (smtp-server) that keeps every message it accepts: the local
 * mail sink of the demo (`smtp://127.0.0.1:2525`) and the far end of every email test. Tests parse
 * what really arrived over SMTP (mailparser) instead of inspecting what nodemailer was asked to send,
 * and inject the faults real relays produce: temporary and permanent refusals, refused recipients,
 * a relay that never answers, and an outage of the port.
 */
import { promises as fs } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from 'smtp-server';
import { UnavailableError } from '../lib/errors';
import { silentLog, type Log } from './log';
import { DEFAULT_HOST, freePort } from './ports';

/** How the sink answers a message. */
type SmtpSinkMode =
  /** 250: store it. */
  | 'accept'
  /** 451 after DATA: a transient fault the sender must retry. */
  | 'tempfail'
  /** 554 after DATA: a permanent refusal. */
  | 'permfail'
  /** Read the message, never answer: the sender must give up on its own timeout. */
  | 'hang';

/** The port of the demo's mail sink (the default SMTP_URL). */
export const DEMO_SMTP_PORT = 2525;

/** The defaults of `SmtpSinkOptions`, in one place. */
const SMTP_SINK_DEFAULTS = {
  host: DEFAULT_HOST,
  /** Exports are flat files; a year of barcodes for a big reseller stays far below this. */
  maxMessageBytes: 200 * 1024 * 1024,
  /** Default of waitForMessages and waitFor. */
  waitTimeoutMillis: 10_000,
} as const;

/** Replies of the fault modes, in the style of real relays (with RFC 3463 enhanced codes). */
const TEMPFAIL_RESPONSE = {
  code: 451,
  message: '4.3.0 Temporary failure (mail sink in tempfail mode), try again later',
};
const PERMFAIL_RESPONSE = { code: 554, message: '5.3.0 Message refused (mail sink in permfail mode)' };
const SIZE_EXCEEDED_CODE = 552;
const BANNER = 'barcodes development mail sink';

interface SmtpSinkOptions {
  /** Receives one line per stored or refused message; default: silent. */
  log?: Log;
  /** Address to listen on. */
  host?: string;
  /** Port to listen on; default: a free port (the demo uses `DEMO_SMTP_PORT`). */
  port?: number;
  /** Folder to also write each message to as `<ISO time>-<seq>.eml` (created when missing). */
  mailDir?: string;
  /** Largest message accepted, in bytes (advertised with the SIZE extension). */
  maxMessageBytes?: number;
}

/** One message the sink accepted. */
export interface ReceivedMail {
  /** The SMTP envelope: MAIL FROM (empty for the null sender) and the accepted RCPT TO addresses. */
  envelope: { from: string; to: string[] };
  /** The message exactly as transmitted (after dot-unstuffing). */
  raw: Buffer;
  /** `raw` parsed by mailparser: headers, text, attachments with their bytes. */
  parsed: ParsedMail;
  receivedAt: Date;
  /** Where it was written, when the sink has a `mailDir`. */
  file?: string;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** `smtp://<host>:<port>`, usable as SMTP_URL / nodemailer transport URL. */
  readonly url: string;
  /** Every accepted message, oldest first. */
  readonly messages: ReceivedMail[];
  /** The current mode. */
  readonly mode: SmtpSinkMode;
  /** Whether the port accepts connections (false between `stopListening()` and `listenAgain()`). */
  readonly listening: boolean;
  /** Calls `listener` for each accepted message; returns a function that unsubscribes it. */
  onMessage(listener: (mail: ReceivedMail) => void): () => void;
  /** Resolves with all messages once at least `count` have arrived; rejects on timeout listing what did. */
  waitForMessages(count: number, timeoutMillis?: number): Promise<ReceivedMail[]>;
  /** Resolves with the messages matching `predicate` once at least `count` (default 1) match. */
  waitFor(
    predicate: (mail: ReceivedMail) => boolean,
    timeoutMillis?: number,
    count?: number,
  ): Promise<ReceivedMail[]>;
  /** Forgets the messages received so far (files in `mailDir` stay). */
  clear(): void;
  /** Changes how following messages are answered. */
  setMode(mode: SmtpSinkMode): void;
  /** Refuses RCPT TO for exactly these addresses (case-insensitive) with `code`; `[]` accepts everyone again. */
  rejectRecipients(addresses: readonly string[], code?: number): void;
  /** Closes the port (connections are refused) and drops open connections: an outage. */
  stopListening(): Promise<void>;
  /** Listens on the same port again after `stopListening()`. */
  listenAgain(): Promise<void>;
  /** Stops for good. Idempotent. */
  close(): Promise<void>;
}

/** Starts a sink; resolves once it listens. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? SMTP_SINK_DEFAULTS.host;
  const port = options.port ?? (await freePort(host));
  if (options.mailDir !== undefined) await fs.mkdir(options.mailDir, { recursive: true });
  const sink = new SmtpSinkServer({
    log: options.log ?? silentLog,
    host,
    port,
    mailDir: options.mailDir,
    maxMessageBytes: options.maxMessageBytes ?? SMTP_SINK_DEFAULTS.maxMessageBytes,
  });
  await sink.listenAgain();
  return sink;
}

// ---------------------------------------------------------------------------------------------
// Private helpers

interface SinkSettings {
  log: Log;
  host: string;
  port: number;
  mailDir: string | undefined;
  maxMessageBytes: number;
}

/** An Error carrying the SMTP reply code smtp-server sends for it. */
function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

class SmtpSinkServer implements SmtpSink {
  readonly messages: ReceivedMail[] = [];
  readonly url: string;
  private currentMode: SmtpSinkMode = 'accept';
  private rejected = new Map<string, number>();
  private listeners = new Set<(mail: ReceivedMail) => void>();
  private server: SMTPServer | undefined;
  /** Raw sockets, so an outage can cut them: smtp-server's close() waits up to 30 s for them. */
  private sockets = new Set<Socket>();
  private sequence = 0;
  private closed = false;

  constructor(private readonly settings: SinkSettings) {
    this.url = `smtp://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${settings.port}`;
  }

  get host(): string {
    return this.settings.host;
  }

  get port(): number {
    return this.settings.port;
  }

  get mode(): SmtpSinkMode {
    return this.currentMode;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  onMessage(listener: (mail: ReceivedMail) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  waitForMessages(
    count: number,
    timeoutMillis: number = SMTP_SINK_DEFAULTS.waitTimeoutMillis,
  ): Promise<ReceivedMail[]> {
    return this.waitUntil(
      () => (this.messages.length >= count ? [...this.messages] : undefined),
      timeoutMillis,
      `${count} message${count === 1 ? '' : 's'}`,
    );
  }

  waitFor(
    predicate: (mail: ReceivedMail) => boolean,
    timeoutMillis: number = SMTP_SINK_DEFAULTS.waitTimeoutMillis,
    count = 1,
  ): Promise<ReceivedMail[]> {
    return this.waitUntil(
      () => {
        const matching = this.messages.filter(predicate);
        return matching.length >= count ? matching : undefined;
      },
      timeoutMillis,
      `${count} matching message${count === 1 ? '' : 's'}`,
    );
  }

  clear(): void {
    this.messages.length = 0;
  }

  setMode(mode: SmtpSinkMode): void {
    this.currentMode = mode;
    this.settings.log(`mail sink ${this.url}: mode ${mode}`);
  }

  rejectRecipients(addresses: readonly string[], code = 550): void {
    if (code < 500 || code > 599)
      throw new RangeError(`rejectRecipients: ${code} is not a permanent (5xx) SMTP code`);
    this.rejected = new Map(addresses.map((address) => [address.toLowerCase(), code]));
  }

  async stopListening(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
    this.settings.log(`mail sink ${this.url}: stopped listening`);
  }

  async listenAgain(): Promise<void> {
    if (this.closed) throw new Error(`mail sink ${this.url} is closed`);
    if (this.server) return;
    // A fresh server each time: smtp-server's close() is final.
    const server = this.createServer();
    server.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new UnavailableError(
            `mail sink cannot listen on ${this.settings.host}:${this.settings.port}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      server.once('error', onError);
      server.listen(this.settings.port, this.settings.host, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
    // After a successful listen, errors concern single connections (resets and the like).
    server.on('error', (err: Error) => this.settings.log(`mail sink ${this.url}: ${err.message}`));
    this.server = server;
    this.settings.log(
      `mail sink listening on ${this.url}` +
        (this.settings.mailDir ? `, writing messages to ${this.settings.mailDir}` : ''),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopListening();
    this.listeners.clear();
  }

  private createServer(): SMTPServer {
    return new SMTPServer({
      banner: BANNER,
      // Plain loopback: no certificate to manage, and nodemailer would otherwise upgrade.
      disabledCommands: ['STARTTLS'],
      // Accept any AUTH (so an SMTP_URL with credentials works against the sink) but require none.
      authOptional: true,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anonymous' }),
      size: this.settings.maxMessageBytes,
      // Reverse DNS of 127.0.0.1 can take seconds where no resolver answers.
      disableReverseLookup: true,
      logger: false,
      onRcptTo: (address, session, callback) => this.onRcptTo(address, session, callback),
      onData: (stream, session, callback) => this.onData(stream, session, callback),
    });
  }

  private onRcptTo(
    address: SMTPServerAddress,
    _session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void {
    const code = this.rejected.get(address.address.toLowerCase());
    if (code !== undefined) {
      this.settings.log(`mail sink ${this.url}: refused recipient ${address.address} (${code})`);
      callback(smtpError(code, `5.1.1 <${address.address}>: recipient refused (mail sink)`));
      return;
    }
    callback();
  }

  private onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      // Decided when the message is complete, so a mode set while it was transmitted applies.
      const mode = this.currentMode;
      if (stream.sizeExceeded) {
        callback(
          smtpError(
            SIZE_EXCEEDED_CODE,
            `5.3.4 Message exceeds the fixed limit of ${this.settings.maxMessageBytes} bytes`,
          ),
        );
        return;
      }
      switch (mode) {
        case 'hang':
          this.settings.log(`mail sink ${this.url}: hanging after DATA (never answering)`);
          return;
        case 'tempfail':
          this.settings.log(`mail sink ${this.url}: answered ${TEMPFAIL_RESPONSE.code} after DATA`);
          callback(smtpError(TEMPFAIL_RESPONSE.code, TEMPFAIL_RESPONSE.message));
          return;
        case 'permfail':
          this.settings.log(`mail sink ${this.url}: answered ${PERMFAIL_RESPONSE.code} after DATA`);
          callback(smtpError(PERMFAIL_RESPONSE.code, PERMFAIL_RESPONSE.message));
          return;
        case 'accept':
          // Stored (and parsed) before the 250, so when the sender's sendMail resolves, the
          // message is already in `messages`: tests need no polling.
          this.store(Buffer.concat(chunks), session).then(
            () => callback(),
            (err: unknown) =>
              callback(
                smtpError(
                  451,
                  `4.3.0 Mail sink could not store the message: ${err instanceof Error ? err.message : String(err)}`,
                ),
              ),
          );
          return;
      }
    });
  }

  private async store(raw: Buffer, session: SMTPServerSession): Promise<void> {
    const receivedAt = new Date();
    const parsed = await simpleParser(raw);
    const mailFrom = session.envelope.mailFrom;
    const mail: ReceivedMail = {
      envelope: {
        from: mailFrom ? mailFrom.address : '',
        to: session.envelope.rcptTo.map((recipient) => recipient.address),
      },
      raw,
      parsed,
      receivedAt,
    };
    const sequence = ++this.sequence;
    if (this.settings.mailDir !== undefined) {
      // ':' is replaced so the names are valid on every file system (and in scp arguments).
      const name = `${receivedAt.toISOString().replace(/:/g, '-')}-${String(sequence).padStart(4, '0')}.eml`;
      mail.file = path.join(this.settings.mailDir, name);
      await fs.writeFile(mail.file, raw);
    }
    this.messages.push(mail);
    this.settings.log(
      `mail sink ${this.url}: message ${sequence} from <${mail.envelope.from}> to ${mail.envelope.to.map((to) => `<${to}>`).join(', ')}` +
        `, subject ${JSON.stringify(parsed.subject ?? '')}, ${raw.length} bytes` +
        (mail.file ? `, saved as ${mail.file}` : ''),
    );
    for (const listener of this.listeners) {
      try {
        listener(mail);
      } catch (err) {
        // A failing listener (typically a test assertion) must not turn into an SMTP error.
        this.settings.log(
          `mail sink ${this.url}: message listener failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }

  private waitUntil(
    check: () => ReceivedMail[] | undefined,
    timeoutMillis: number,
    what: string,
  ): Promise<ReceivedMail[]> {
    const immediate = check();
    if (immediate) return Promise.resolve(immediate);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(
          new Error(
            `mail sink ${this.url}: waited ${timeoutMillis} ms for ${what}; ${this.messages.length} arrived` +
              (this.messages.length > 0 ? `: ${this.messages.map(describeMail).join('; ')}` : ''),
          ),
        );
      }, timeoutMillis);
      const unsubscribe = this.onMessage(() => {
        const result = check();
        if (!result) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(result);
      });
    });
  }
}

function describeMail(mail: ReceivedMail): string {
  return `from <${mail.envelope.from}> to ${mail.envelope.to.join(',')} subject ${JSON.stringify(mail.parsed.subject ?? '')}`;
}
