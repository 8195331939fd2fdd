import type { Mailer } from './mail/mailer';

export interface Alert {
  interfaceId: number;
  interfaceName: string;
  /** The interface's own alert address, if it has one. */
  interfaceAlertEmail: string | null;
  subject: string;
  text: string;
}

export interface Alerter {
  /** Emails the operator; returns where it went, or null when nobody is configured to hear it. */
  send(alert: Alert): Promise<string | null>;
}

export interface AlerterOptions {
  mailer: Mailer;
  mailFrom: string;
  /** Global fallback (BARCODES_ALERT_EMAIL) when an interface names no alert address. */
  defaultAlertEmail: string | null;
}

/**
 * Operator alerts by email, through the same SMTP server as the files. An alert that cannot be
 * sent must not fail the window it is about: callers log and carry on.
 */
export function createAlerter(options: AlerterOptions): Alerter {
  return {
    async send(alert) {
      const to = alert.interfaceAlertEmail ?? options.defaultAlertEmail;
      if (!to) return null;
      await options.mailer.send({
        from: options.mailFrom,
        to: [to],
        subject: `[barcodes alert] interface ${alert.interfaceId} (${alert.interfaceName}): ${alert.subject}`,
        messageId: `<barcodes.alert.i${alert.interfaceId}.${Date.now()}@${options.mailFrom.split('@')[1] ?? 'localhost'}>`,
        date: new Date(),
        text: alert.text,
        attachments: [],
      });
      return to;
    },
  };
}
