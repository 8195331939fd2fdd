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

interface AlerterOptions {
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

/** Where alertOperator says what became of an alert (an activity's logger, or any other). */
interface AlertLog {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The one way to alert the operator: it never throws (an alert must not fail, or repeat, the
 * window it is about) and always logs where the alert went, or why it went nowhere.
 */
export async function alertOperator(alerter: Alerter, log: AlertLog, alert: Alert): Promise<void> {
  const fields = { interfaceId: alert.interfaceId, alert: alert.subject };
  try {
    const to = await alerter.send(alert);
    if (to) log.warn('operator alerted', { ...fields, to });
    else log.error('no alert address: set --alert-email on the interface or BARCODES_ALERT_EMAIL', fields);
  } catch (error) {
    log.error('could not send an alert', { ...fields, error: (error as Error).message });
  }
}
