import { Context, ApplicationFailure } from '@temporalio/activity';
import { noFaultPoints } from '../lib/fault-points';
import type { RecipientResult } from '../lib/ledger/ledger';
import { SmtpError } from '../lib/mail/mailer';
import { bodyFor, subjectFor } from '../lib/mail/message';
import { createWindowMetrics } from '../lib/metrics';
import type { ActivityDeps } from './deps';
import { HEARTBEAT_MILLIS, windowFields } from './freeze';
import { recordProgress } from './outcome';
import { FailureTypes, type SendDeliveryInput, type SendDeliveryResult } from './types';


export function createSendActivities(deps: ActivityDeps) {
  const { store, ledger, mailer } = deps;
  const faults = deps.faultPoints ?? noFaultPoints;

  /**
   * Sends every part of a frozen delivery not yet accepted by SMTP. Safe to repeat: parts recorded
   * as sent are skipped; a part whose acceptance was not recorded (a crash right after SMTP said
   * yes) is sent again with the same Message-ID and bytes.
   */
  async function sendDelivery(input: SendDeliveryInput): Promise<SendDeliveryResult> {
    const context = Context.current();
    const delivery = await ledger.get(input.deliveryId);
    if (!delivery) throw ApplicationFailure.nonRetryable(`delivery ${input.deliveryId} does not exist`, FailureTypes.notFound);
    if (delivery.status === 'sent' || delivery.status === 'empty') return { deliveryId: delivery.id, status: 'sent', refusedRecipients: 0 };
    if (input.workflowId && delivery.claimedBy && delivery.claimedBy !== input.workflowId) {
      throw ApplicationFailure.nonRetryable(`delivery ${delivery.id} is now held by run ${delivery.claimedBy}`, FailureTypes.claimLost);
    }
    const iface = await store.find(delivery.interfaceId);
    if (!iface) throw ApplicationFailure.nonRetryable(`interface ${delivery.interfaceId} does not exist`, FailureTypes.notFound);
    const fields = windowFields(delivery);
    const parts = await ledger.parts(delivery.id);
    const originalParts = delivery.originalDeliveryId ? await ledger.parts(delivery.originalDeliveryId) : [];
    const backfilled = delivery.kind === 'backfill' ? await ledger.chainMessageIds(delivery.interfaceId, delivery.windowStart, delivery.windowEnd) : [];
    await ledger.recordAttempt(delivery.id);
    const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MILLIS);
    const refused: RecipientResult[] = [];
    try {
      for (const part of parts) {
        if (part.sentAt) continue;
        const subject = { interfaceName: iface.name, kind: delivery.kind, windowStart: delivery.windowStart, windowEnd: delivery.windowEnd, ticketCount: delivery.ticketCount, part: part.index, partCount: parts.length };
        const original = originalParts.find((candidate) => candidate.index === part.index);
        const references = original ? [original.messageId] : backfilled;
        await faults.reach('before-smtp');
        let result;
        try {
          result = await mailer.send({
            from: deps.mailFrom,
            to: delivery.recipients,
            subject: subjectFor(subject),
            messageId: part.messageId,
            references: references.length ? references : undefined,
            // Fixed per delivery, so a retried message is the very same message.
            date: delivery.createdAt,
            text: bodyFor({ ...subject, fileName: part.fileName, contentType: part.contentType, sha256: part.sha256, rowCount: part.rowCount, encryptedTo: part.encryptedTo }),
            attachments: [{ filename: part.fileName, contentType: part.contentType, content: ledger.readPart(delivery.id, part.index) }],
          });
        } catch (error) {
          if (error instanceof SmtpError && error.permanent) throw ApplicationFailure.nonRetryable(error.message, FailureTypes.smtpPermanent);
          context.log.warn('SMTP failed, will retry', { ...fields, part: part.index, error: (error as Error).message });
          throw error;
        }
        await faults.reach('after-smtp-accepted');
        const answers: RecipientResult[] = [
          ...result.accepted.map((address) => ({ address, status: 'accepted' as const, response: result.response })),
          ...result.refused.map((refusal) => ({ address: refusal.address, status: 'refused' as const, response: refusal.response })),
        ];
        await ledger.markPartSent(delivery.id, part.index, answers);
        refused.push(...answers.filter((answer) => answer.status === 'refused'));
      }
    } finally {
      clearInterval(heartbeat);
    }
    await ledger.markSent(delivery.id);
    createWindowMetrics(context.metricMeter).delivered(delivery.interfaceId, delivery.kind, 'sent', delivery.ticketCount);
    if (delivery.kind === 'scheduled' || delivery.kind === 'run') await recordProgress(store, context.metricMeter, delivery.interfaceId, delivery.windowEnd);
    context.log.info('delivery sent', { ...fields, parts: parts.length, ticketCount: delivery.ticketCount, refusedRecipients: refused.length });
    if (refused.length > 0) await alertRefusedRecipients(delivery.interfaceId, delivery.id, refused);
    return { deliveryId: delivery.id, status: 'sent', refusedRecipients: refused.length };
  }

  /** The others received the window and are not sent it again; the operator hears about the rest. */
  async function alertRefusedRecipients(interfaceId: number, deliveryId: number, refused: RecipientResult[]): Promise<void> {
    const log = Context.current().log;
    const iface = await store.find(interfaceId);
    const addresses = [...new Set(refused.map((answer) => answer.address))];
    log.warn('some recipients refused the file permanently; the others received it', { interfaceId, deliveryId, refused: addresses });
    try {
      await deps.alerter.send({
        interfaceId,
        interfaceName: iface?.name ?? String(interfaceId),
        interfaceAlertEmail: iface?.alertEmail ?? null,
        subject: `recipient refused delivery ${deliveryId}`,
        text: [
          `Delivery ${deliveryId} of interface ${interfaceId} was accepted for some recipients and refused for others.`,
          ...refused.map((answer) => `refused: ${answer.address}: ${answer.response ?? ''}`),
          '',
          'The others received the file and will not be sent it again. Fix the address with',
          `  barcodes interface update ${interfaceId} --email …   then   barcodes resend ${deliveryId}`,
        ].join('\n'),
      });
    } catch (error) {
      log.error('could not send the alert about refused recipients', { interfaceId, deliveryId, error: (error as Error).message });
    }
  }

  return { sendDelivery };
}
