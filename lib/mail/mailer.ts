import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { BarcodesError } from '../errors';
import { smtpTransportOptions } from '../security/smtp-transport';

interface OutgoingAttachment {
  filename: string;
  contentType: string;
  /** Streamed from the ledger: a large attachment is never whole in memory. */
  content: Readable | Buffer;
}

export interface OutgoingMail {
  from: string;
  to: string[];
  subject: string;
  /** Deterministic per (interface, window, part): a retry repeats it, never invents a new one. */
  messageId: string;
  references?: string[];
  /** Fixed per delivery so a retried message is the same message. */
  date: Date;
  text: string;
  attachments: OutgoingAttachment[];
  headers?: Record<string, string>;
}

export interface SendResult {
  accepted: string[];
  refused: { address: string; response: string }[];
  /** The server's final answer to DATA. */
  response: string;
}

/** The narrow interface between the exporter and email. */
export interface Mailer {
  send(mail: OutgoingMail): Promise<SendResult>;
  /** Connects and says hello (doctor). */
  verify(): Promise<void>;
  close(): void;
}

/**
 * An SMTP failure. `permanent` is SMTP's own verdict (5xx) or a refusal that retrying cannot fix
 * (authentication rejected); everything else (connection refused, timeouts, 4xx) is transient.
 */
export class SmtpError extends BarcodesError {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly responseCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, permanent ? 'SMTP_PERMANENT' : 'SMTP_TRANSIENT', options);
  }
}

interface NodemailerError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejected?: string[];
  rejectedErrors?: NodemailerError[];
}

function classifySmtpError(error: unknown): SmtpError {
  const failure = error as NodemailerError;
  const responseCode = failure.responseCode ?? failure.rejectedErrors?.[0]?.responseCode;
  const permanent = (responseCode !== undefined && responseCode >= 500) || failure.code === 'EAUTH';
  // The server's response can quote recipients, never file content: safe to show operators.
  // A failed STARTTLS upgrade hides its reason in the cause; say it rather than the server's echo.
  const tlsCause = (failure.cause as Error | undefined)?.message;
  const detail =
    tlsCause && /STARTTLS|TLS|certificate/i.test(tlsCause) ? tlsCause : (failure.response ?? failure.message);
  return new SmtpError(
    `SMTP ${permanent ? 'refused' : 'failed'}: ${detail}`.slice(0, 500),
    permanent,
    responseCode,
    {
      cause: error,
    },
  );
}

interface NodemailerMailerOptions {
  /** nodemailer SMTP URL; may carry credentials. */
  smtpUrl: string;
  /** Longest wait for the server's greeting / any answer, in milliseconds. */
  socketTimeoutMillis?: number;
}

export class NodemailerMailer implements Mailer {
  private readonly transport: nodemailer.Transporter;

  constructor(options: NodemailerMailerOptions) {
    const timeout = options.socketTimeoutMillis ?? 60_000;
    // STARTTLS and certificate verification for non-loopback relays (docs/security.md).
    // Timeouts are connection options (the second argument would only be message defaults).
    this.transport = nodemailer.createTransport({
      ...smtpTransportOptions(options.smtpUrl),
      connectionTimeout: Math.min(timeout, 30_000),
      greetingTimeout: Math.min(timeout, 30_000),
      socketTimeout: timeout,
    });
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    try {
      const info = await this.transport.sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        messageId: mail.messageId,
        references: mail.references,
        date: mail.date,
        text: mail.text,
        headers: mail.headers,
        attachments: mail.attachments.map((attachment) => ({
          filename: attachment.filename,
          contentType: attachment.contentType,
          content: attachment.content,
        })),
      });
      const rejectedErrors = (info as { rejectedErrors?: NodemailerError[] }).rejectedErrors ?? [];
      return {
        accepted: (info.accepted as string[]).map(String),
        refused: (info.rejected as string[]).map((address, index) => ({
          address: String(address),
          response: rejectedErrors[index]?.response ?? 'refused',
        })),
        response: info.response,
      };
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  async verify(): Promise<void> {
    try {
      await this.transport.verify();
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  close(): void {
    this.transport.close();
  }
}
