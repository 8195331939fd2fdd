import { setTimeout as sleep } from 'node:timers/promises';
import { Context, ApplicationFailure } from '@temporalio/activity';
import { isSchemaDamage } from '../lib/db/schema-errors';
import { StoredFileError } from '../lib/errors';
import { noFaultPoints } from '../lib/fault-points';
import type { Delivery, RecipientResult, StoredPart } from '../lib/ledger/ledger';
import { verifyStoredParts } from '../lib/ledger/stored-file';
import { alertOperator } from '../lib/alerts';
import { SmtpError } from '../lib/mail/mailer';
import { bodyFor, subjectFor } from '../lib/mail/message';
import { createWindowMetrics } from '../lib/metrics';
import type { ActivityDeps } from './deps';
import { HEARTBEAT_MILLIS, windowFields } from './freeze';
import { recordProgress } from './outcome';
import { FailureTypes, type SendDeliveryInput, type SendDeliveryResult } from './types';

/**
 * Waits between in-process attempts to record an accepted email: rides out a blip of a second or
 * two (a failover, a dropped connection) without giving up, well inside the heartbeat timeout.
 */
const RECORD_RETRY_DELAYS_MILLIS = [250, 1_000, 3_000];

export function createSendActivities(deps: ActivityDeps) {
  const { store, ledger, mailer } = deps;
  const faults = deps.faultPoints ?? noFaultPoints;

  /**
   * Sends every part of a frozen delivery not yet accepted by SMTP. Safe to repeat: parts recorded
   * as sent are skipped; a part whose acceptance was not recorded (a crash right after SMTP said
   * yes) is sent again with the same Message-ID and bytes. The ledger is never the cause of a
   * repeat: a ledger that cannot record fails the delivery (LedgerError, not retried) before SMTP
   * when it can be seen, and right after the first email it could not record otherwise.
   */
  async function sendDelivery(input: SendDeliveryInput): Promise<SendDeliveryResult> {
    try {
      return await sendFrozenDelivery(input);
    } catch (error) {
      if (error instanceof ApplicationFailure || !isSchemaDamage(error)) throw error;
      // A missing table, column or privilege does not heal by retrying, and every retry would be
      // another chance to send what the ledger cannot record.
      throw ApplicationFailure.create({
        message: `delivery ${input.deliveryId}: the delivery ledger cannot be read or written (${(error as Error).message}); nothing more is sent until it is repaired (barcodes doctor)`,
        type: FailureTypes.ledger,
        nonRetryable: true,
        cause: error as Error,
      });
    }
  }

  async function sendFrozenDelivery(input: SendDeliveryInput): Promise<SendDeliveryResult> {
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
    const unsent = parts.filter((part) => !part.sentAt);
    const originalParts = delivery.originalDeliveryId ? await ledger.parts(delivery.originalDeliveryId) : [];
    const backfilled = delivery.kind === 'backfill' ? await ledger.chainMessageIds(delivery.interfaceId, delivery.windowStart, delivery.windowEnd) : [];
    await ledger.recordAttempt(delivery.id);
    const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MILLIS);
    const refused: RecipientResult[] = [];
    try {
      await checkBeforeSending(delivery, unsent);
      for (const part of unsent) {
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
        await recordAccepted(delivery, part, answers);
        refused.push(...answers.filter((answer) => answer.status === 'refused'));
      }
    } finally {
      clearInterval(heartbeat);
    }
    await ledger.markSent(delivery.id);
    createWindowMetrics(context.metricMeter).delivered(delivery.interfaceId, delivery.kind, 'sent', delivery.ticketCount);
    context.log.info('delivery sent', { ...fields, parts: parts.length, ticketCount: delivery.ticketCount, refusedRecipients: refused.length });
    // Before anything else that may fail: a retry finds the delivery sent and returns at once.
    if (refused.length > 0) await alertRefusedRecipients(delivery.interfaceId, delivery.id, refused);
    if (delivery.kind === 'scheduled' || delivery.kind === 'run') await recordProgress(store, delivery.interfaceId);
    return { deliveryId: delivery.id, status: 'sent', refusedRecipients: refused.length };
  }

  /**
   * Before the first email: the stored parts are the frozen file (not purged, same size and
   * SHA-256), and the ledger can record what SMTP will accept. Either failing sends nothing.
   */
  async function checkBeforeSending(delivery: Delivery, unsent: StoredPart[]): Promise<void> {
    if (unsent.length === 0) return;
    try {
      await verifyStoredParts((id, part) => ledger.readPart(id, part), delivery, unsent);
    } catch (error) {
      if (error instanceof StoredFileError) throw ApplicationFailure.nonRetryable(error.message, FailureTypes.storedFile);
      throw error;
    }
    // Schema damage found here is turned into a LedgerError by sendDelivery; a blip is retried.
    await ledger.proveCanRecordPartSent(delivery.id, unsent[0]!.index, delivery.recipients);
  }

  /**
   * Records a part SMTP accepted. A short blip is retried here, in process: a retry of the activity
   * would send the email again. If it still cannot be recorded, the part is at least marked as sent
   * when the ledger allows that much, and the delivery fails for good (LedgerError, alerted): an
   * email is never sent again because the ledger could not remember it.
   */
  async function recordAccepted(delivery: Delivery, part: StoredPart, answers: RecipientResult[]): Promise<void> {
    const log = Context.current().log;
    let lastError: unknown;
    for (let attempt = 0; attempt <= RECORD_RETRY_DELAYS_MILLIS.length; attempt++) {
      if (attempt > 0) await sleep(RECORD_RETRY_DELAYS_MILLIS[attempt - 1]!);
      try {
        await ledger.markPartSent(delivery.id, part.index, answers);
        return;
      } catch (error) {
        lastError = error;
        log.warn('could not record an accepted email; retrying in process', { ...windowFields(delivery), part: part.index, attempt: attempt + 1, error: (error as Error).message });
      }
    }
    let markedSent = false;
    try {
      await ledger.markPartSentWithoutAnswers(delivery.id, part.index);
      markedSent = true;
    } catch (error) {
      log.error('could not even mark the accepted part as sent', { ...windowFields(delivery), part: part.index, error: (error as Error).message });
    }
    throw ApplicationFailure.create({
      message:
        `delivery ${delivery.id} part ${part.index}: SMTP accepted ${part.messageId} but the ledger could not record it ` +
        `(${(lastError as Error).message}); ` +
        (markedSent
          ? 'the part is marked sent (recipient answers lost) and is not sent again'
          : 'nothing more is sent until the ledger is repaired; after the repair the next run sends this part once more with the same Message-ID'),
      type: FailureTypes.ledger,
      nonRetryable: true,
      cause: lastError as Error,
    });
  }

  /** The others received the window and are not sent it again; the operator hears about the rest. */
  async function alertRefusedRecipients(interfaceId: number, deliveryId: number, refused: RecipientResult[]): Promise<void> {
    const log = Context.current().log;
    const addresses = [...new Set(refused.map((answer) => answer.address))];
    log.warn('some recipients refused the file permanently; the others received it', { interfaceId, deliveryId, refused: addresses });
    // Never throws: the delivery is already recorded as sent, so a retry would skip this alert.
    const iface = await store.find(interfaceId).catch((error: Error) => {
      log.error('could not read the interface for the alert; alerting the default address', { interfaceId, deliveryId, error: error.message });
      return undefined;
    });
    await alertOperator(deps.alerter, log, {
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
  }

  return { sendDelivery };
}
