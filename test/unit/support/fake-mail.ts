/** A mailer and an alerter that record what they were asked to send, and fail when told. */
import { buffer } from 'node:stream/consumers';
import type { Alert, Alerter } from '../../../lib/alerts';
import { SmtpError, type Mailer, type OutgoingMail, type SendResult } from '../../../lib/mail/mailer';

/** A mail as the fake mailer received it, attachments read into bytes. */
export interface ReceivedMail extends Omit<OutgoingMail, 'attachments'> {
  attachments: { filename: string; contentType: string; content: Buffer }[];
}

/** Records every mail it was asked to send (attachments read to the end); fails sends as told. */
export class FakeMailer implements Mailer {
  readonly sent: ReceivedMail[] = [];
  /** Recipients whose server refuses them permanently while the others accept (per-recipient 5xx). */
  readonly refusedAddresses = new Set<string>();
  private readonly failures: SmtpError[] = [];

  /** The next send fails like an SMTP server answering 4xx or dropping the connection. */
  failTransiently(message = 'SMTP failed: 421 try again later'): void {
    this.failures.push(new SmtpError(message, false, 421));
  }

  /** The next send fails like an SMTP server answering 5xx. */
  failPermanently(message = 'SMTP refused: 550 mailbox unavailable'): void {
    this.failures.push(new SmtpError(message, true, 550));
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    const attachments = [];
    for (const attachment of mail.attachments) {
      attachments.push({
        filename: attachment.filename,
        contentType: attachment.contentType,
        content: Buffer.isBuffer(attachment.content) ? attachment.content : await buffer(attachment.content),
      });
    }
    this.sent.push({ ...mail, attachments });
    const refused = mail.to.filter((address) => this.refusedAddresses.has(address));
    return {
      accepted: mail.to.filter((address) => !this.refusedAddresses.has(address)),
      refused: refused.map((address) => ({ address, response: '550 5.1.1 no such user' })),
      response: '250 OK: queued',
    };
  }
  async verify(): Promise<void> {}
  close(): void {}
}

export class FakeAlerter implements Alerter {
  readonly alerts: Alert[] = [];
  /** Thrown by every send when set (an SMTP server refusing the alert). */
  failure: Error | undefined;
  /** Where alerts go; null: nobody is configured to hear them. */
  to: string | null = 'ops@exporter.test';

  async send(alert: Alert): Promise<string | null> {
    this.alerts.push(alert);
    if (this.failure) throw this.failure;
    return this.to;
  }
}
