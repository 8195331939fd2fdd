import { setTimeout as sleep } from 'node:timers/promises';
import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
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
import { createOutcomeActivities, recordProgress } from './outcome';
import {
  createDeliver,
  DestinationError,
  type DestinationKind,
  type OutgoingPart,
  type RemoteDestination,
} from '../lib/destinations';
import { openDestinations } from '../lib/destinations/configured';
import { createHttpsSender } from '../lib/destinations/https';
import { SecretsKeyError } from '../lib/destinations/secret-box';
import { FailureTypes, type SendDeliveryInput, type SendDeliveryResult } from '../workflows/boundary';

/**
 * Waits between in-process attempts to record an accepted email: rides out a blip of a second or
 * two (a failover, a dropped connection) without giving up, well inside the heartbeat timeout.
 */
const RECORD_RETRY_DELAYS_MILLIS = [250, 1_000, 3_000];

export function createSendActivities(deps: ActivityDeps) {
  const { store, ledger, mailer } = deps;
  const faults = deps.faultPoints ?? noFaultPoints;
  const deliver = deps.deliver ?? createDeliver(createHttpsSender());
  const outcomes = createOutcomeActivities(deps);

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
    if (!delivery)
      throw ApplicationFailure.nonRetryable(
        `delivery ${input.deliveryId} does not exist`,
        FailureTypes.notFound,
      );
    if (delivery.status === 'sent' || delivery.status === 'empty')
      return { deliveryId: delivery.id, status: 'sent', refusedRecipients: 0 };
    // The run sending: named by newer workflows, read from the activity's own context for runs of
    // older schedules, so a run left over from before an upgrade is held to the claims too.
    const me = input.workflowId ?? context.info.workflowExecution?.workflowId ?? '';
    await holdClaim(delivery, me);
    const iface = await store.find(delivery.interfaceId);
    if (!iface)
      throw ApplicationFailure.nonRetryable(
        `interface ${delivery.interfaceId} does not exist`,
        FailureTypes.notFound,
      );
    const fields = windowFields(delivery);
    const parts = await ledger.parts(delivery.id);
    const targets = await destinationsOf(delivery);
    const plan = await planDelivery(delivery, parts, targets);
    const originalParts = delivery.originalDeliveryId ? await ledger.parts(delivery.originalDeliveryId) : [];
    const backfilled =
      delivery.kind === 'backfill'
        ? await ledger.chainMessageIds(delivery.interfaceId, delivery.windowStart, delivery.windowEnd)
        : [];
    await ledger.recordAttempt(delivery.id);
    const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MILLIS);
    const refused: RecipientResult[] = [];
    try {
      await checkBeforeSending(delivery, plan.pendingParts(), plan.pendingKinds());
      for (const part of parts) {
        await stillHeld(delivery, me);
        if (plan.wants(part, 'email')) {
          try {
            refused.push(
              ...(await sendEmail(delivery, iface.name, part, parts.length, originalParts, backfilled)),
            );
            plan.done(part, 'email');
          } catch (error) {
            if (error instanceof SmtpError && error.permanent) {
              await recordDestination(delivery, part, 'email', 'failed', error.message);
              plan.failed('email', error.message);
            } else if (error instanceof ApplicationFailure) throw error;
            else {
              context.log.warn('SMTP failed, will retry', {
                ...fields,
                part: part.index,
                error: (error as Error).message,
              });
              plan.unavailable('email', error as Error);
            }
          }
        }
        for (const destination of targets.remote) {
          if (!plan.wants(part, destination.kind)) continue;
          try {
            const delivered = await deliver(outgoing(delivery, part, parts.length), destination, {
              afterUpload: () => faults.reach('after-sftp-upload'),
            });
            await faults.reach('after-destination-delivered');
            await recordDestination(delivery, part, destination.kind, 'delivered', delivered.detail);
            plan.done(part, destination.kind);
          } catch (error) {
            if (!(error instanceof DestinationError)) throw error;
            if (error.permanent) {
              await recordDestination(delivery, part, destination.kind, 'failed', error.message);
              plan.failed(destination.kind, error.message);
            } else {
              context.log.warn(`${destination.kind} failed, will retry`, {
                ...fields,
                part: part.index,
                error: error.message,
              });
              plan.unavailable(destination.kind, error);
            }
          }
        }
      }
    } finally {
      clearInterval(heartbeat);
    }
    const unavailable = plan.firstUnavailable();
    if (unavailable) {
      // The window waits (order per destination); what the others took is recorded and not repeated.
      throw ApplicationFailure.create({
        message: unavailable.error.message,
        type: FailureTypes.destinationUnavailable,
        nonRetryable: false,
        nextRetryDelay:
          unavailable.error instanceof DestinationError ? unavailable.error.retryAfterMillis : undefined,
        cause: unavailable.error,
      });
    }
    const failures = plan.failures();
    if (failures.length > 0 && !plan.anyDelivered(parts)) {
      // Nobody has the window: it stays the pending one, and the next run tries every destination again.
      await ledger.clearFailedDestinations(delivery.id);
      const onlyEmail = failures.every((failure) => failure.kind === 'email');
      throw ApplicationFailure.nonRetryable(
        failures.map((failure) => failure.message).join('; '),
        onlyEmail ? FailureTypes.smtpPermanent : FailureTypes.destinationPermanent,
      );
    }
    await ledger.markSent(delivery.id);
    createWindowMetrics(context.metricMeter).delivered(
      delivery.interfaceId,
      delivery.kind,
      'sent',
      delivery.ticketCount,
    );
    context.log.info('delivery sent', {
      ...fields,
      parts: parts.length,
      ticketCount: delivery.ticketCount,
      refusedRecipients: refused.length,
      failedDestinations: failures.map((failure) => failure.kind),
    });
    // Before anything else that may fail: a retry finds the delivery sent and returns at once.
    if (refused.length > 0) await alertRefusedRecipients(delivery.interfaceId, delivery.id, refused);
    // A window some destination refused for good does not end a run of failures: with it
    // counted below, a destination refusing every window pauses the interface at the threshold.
    if ((delivery.kind === 'scheduled' || delivery.kind === 'run') && failures.length === 0)
      await recordProgress(store, delivery.interfaceId);
    if (failures.length > 0) {
      // Delivered elsewhere, so the chain goes on; the failed destination counts toward self-pause
      // and the operator is told how to send it this window once fixed (resend --to).
      await outcomes.recordWindowOutcome({
        interfaceId: delivery.interfaceId,
        deliveryId: null,
        windowEnd: delivery.windowEnd.toISOString(),
        failure: {
          type: FailureTypes.destinationPermanent,
          permanent: true,
          message: `delivery ${delivery.id}: ${failures.map((failure) => failure.message).join('; ')} (the other destinations received it; after the fix: barcodes resend ${delivery.id} --to ${failures.map((failure) => failure.kind).join(',')})`,
        },
      });
    }
    return { deliveryId: delivery.id, status: 'sent', refusedRecipients: refused.length };
  }

  /** Sends one part by email; returns the recipients that refused it (the others accepted). */
  async function sendEmail(
    delivery: Delivery,
    interfaceName: string,
    part: StoredPart,
    partCount: number,
    originalParts: StoredPart[],
    backfilled: string[],
  ): Promise<RecipientResult[]> {
    const subject = {
      interfaceName,
      kind: delivery.kind,
      windowStart: delivery.windowStart,
      windowEnd: delivery.windowEnd,
      ticketCount: delivery.ticketCount,
      part: part.index,
      partCount,
    };
    const original = originalParts.find((candidate) => candidate.index === part.index);
    const references = original ? [original.messageId] : backfilled;
    await faults.reach('before-smtp');
    const result = await mailer.send({
      from: deps.mailFrom,
      to: delivery.recipients,
      subject: subjectFor(subject),
      messageId: part.messageId,
      references: references.length ? references : undefined,
      // Fixed per delivery, so a retried message is the very same message.
      date: delivery.createdAt,
      text: bodyFor({
        ...subject,
        fileName: part.fileName,
        contentType: part.contentType,
        sha256: part.sha256,
        rowCount: part.rowCount,
        encryptedTo: part.encryptedTo,
      }),
      attachments: [
        {
          filename: part.fileName,
          contentType: part.contentType,
          content: ledger.readPart(delivery.id, part.index),
        },
      ],
    });
    await faults.reach('after-smtp-accepted');
    const answers: RecipientResult[] = [
      ...result.accepted.map((address) => ({
        address,
        status: 'accepted' as const,
        response: result.response,
      })),
      ...result.refused.map((refusal) => ({
        address: refusal.address,
        status: 'refused' as const,
        response: refusal.response,
      })),
    ];
    await recordAccepted(delivery, part, answers);
    return answers.filter((answer) => answer.status === 'refused');
  }

  /**
   * The destinations this delivery goes to: email when it has recipients, and the interface's
   * SFTP and HTTPS destinations, narrowed by `resend --to`. Their secrets are opened here, in the
   * worker, and never leave it.
   */
  async function destinationsOf(
    delivery: Delivery,
  ): Promise<{ email: boolean; remote: RemoteDestination[] }> {
    const wanted = (kind: DestinationKind) =>
      delivery.destinations === null || delivery.destinations.includes(kind);
    const sealed = (await store.sealedDestinations(delivery.interfaceId)).filter((destination) =>
      wanted(destination.kind),
    );
    let remote: RemoteDestination[];
    try {
      remote = openDestinations(sealed, deps.secretsKeyring?.());
    } catch (error) {
      if (error instanceof SecretsKeyError)
        throw ApplicationFailure.nonRetryable(error.message, FailureTypes.invalidConfiguration);
      throw error;
    }
    const email = delivery.recipients.length > 0 && wanted('email');
    if (!email && remote.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `delivery ${delivery.id}: no destination to send to (${delivery.destinations ? `--to ${delivery.destinations.join(',')} is not configured` : 'the interface has none'})`,
        FailureTypes.invalidConfiguration,
      );
    }
    return { email, remote };
  }

  /** Records a destination's result for a part; a blip is retried in process (as for email). */
  async function recordDestination(
    delivery: Delivery,
    part: StoredPart,
    kind: DestinationKind,
    status: 'delivered' | 'failed',
    detail: string,
  ): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= RECORD_RETRY_DELAYS_MILLIS.length; attempt++) {
      if (attempt > 0) await sleep(RECORD_RETRY_DELAYS_MILLIS[attempt - 1]!);
      try {
        await ledger.markDestinationPart(delivery.id, part.index, kind, status, detail);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    // SFTP and HTTPS repeat safely (same final name and SHA-256, same idempotency key), so the
    // next attempt finds the part there; the ledger still has to be repaired first.
    throw ApplicationFailure.create({
      message: `delivery ${delivery.id} part ${part.index}: ${kind} ${status} but the ledger could not record it (${(lastError as Error).message})`,
      type: FailureTypes.ledger,
      nonRetryable: true,
      cause: lastError as Error,
    });
  }

  /** What each destination still has to receive, and what became of it in this attempt. */
  async function planDelivery(
    delivery: Delivery,
    parts: StoredPart[],
    targets: { email: boolean; remote: RemoteDestination[] },
  ) {
    const results = await ledger.destinationResults(delivery.id);
    const kinds: DestinationKind[] = [
      ...(targets.email ? (['email'] as const) : []),
      ...targets.remote.map((destination) => destination.kind),
    ];
    const delivered = new Set(
      results
        .filter((result) => result.status === 'delivered')
        .map((result) => `${result.part}:${result.destination}`),
    );
    for (const part of parts) if (part.sentAt) delivered.add(`${part.index}:email`);
    // A destination that failed for good on a part gets no later part: order per destination.
    const failed = new Map<DestinationKind, string>(
      results
        .filter((result) => result.status === 'failed')
        .map((result) => [result.destination, result.detail ?? 'failed']),
    );
    const unavailable = new Map<DestinationKind, Error>();
    const wants = (part: StoredPart, kind: DestinationKind) =>
      kinds.includes(kind) &&
      !delivered.has(`${part.index}:${kind}`) &&
      !failed.has(kind) &&
      !unavailable.has(kind);
    return {
      wants,
      pendingParts: () => parts.filter((part) => kinds.some((kind) => wants(part, kind))),
      pendingKinds: () => kinds.filter((kind) => parts.some((part) => wants(part, kind))),
      done: (part: StoredPart, kind: DestinationKind) => delivered.add(`${part.index}:${kind}`),
      failed: (kind: DestinationKind, message: string) => failed.set(kind, message),
      unavailable: (kind: DestinationKind, error: Error) => unavailable.set(kind, error),
      firstUnavailable: () => [...unavailable].map(([kind, error]) => ({ kind, error }))[0],
      failures: () =>
        [...failed].filter(([kind]) => kinds.includes(kind)).map(([kind, message]) => ({ kind, message })),
      anyDelivered: (all: StoredPart[]) =>
        kinds.some(
          (kind) => !failed.has(kind) && all.every((part) => delivered.has(`${part.index}:${kind}`)),
        ),
    };
  }

  /**
   * Before the first email: the stored parts are the frozen file (not purged, same size and
   * SHA-256), and the ledger can record what SMTP will accept. Either failing sends nothing.
   */
  async function checkBeforeSending(
    delivery: Delivery,
    unsent: StoredPart[],
    kinds: DestinationKind[],
  ): Promise<void> {
    if (unsent.length === 0) return;
    try {
      await verifyStoredParts((id, part) => ledger.readPart(id, part), delivery, unsent);
    } catch (error) {
      if (error instanceof StoredFileError)
        throw ApplicationFailure.nonRetryable(error.message, FailureTypes.storedFile);
      throw error;
    }
    // Schema damage found here is turned into a LedgerError by sendDelivery; a blip is retried.
    if (kinds.includes('email'))
      await ledger.proveCanRecordPartSent(delivery.id, unsent[0]!.index, delivery.recipients);
    const remote = kinds.filter((kind) => kind !== 'email');
    if (remote.length > 0) await ledger.proveCanRecordDestinations(delivery.id, unsent[0]!.index, remote);
  }

  /**
   * Records a part SMTP accepted. A short blip is retried here, in process: a retry of the activity
   * would send the email again. If it still cannot be recorded, the part is at least marked as sent
   * when the ledger allows that much, and the delivery fails for good (LedgerError, alerted): an
   * email is never sent again because the ledger could not remember it.
   */
  async function recordAccepted(
    delivery: Delivery,
    part: StoredPart,
    answers: RecipientResult[],
  ): Promise<void> {
    const log = Context.current().log;
    let lastError: unknown;
    for (let attempt = 0; attempt <= RECORD_RETRY_DELAYS_MILLIS.length; attempt++) {
      if (attempt > 0) await sleep(RECORD_RETRY_DELAYS_MILLIS[attempt - 1]!);
      try {
        await ledger.markPartSent(delivery.id, part.index, answers);
        return;
      } catch (error) {
        lastError = error;
        log.warn('could not record an accepted email; retrying in process', {
          ...windowFields(delivery),
          part: part.index,
          attempt: attempt + 1,
          error: (error as Error).message,
        });
      }
    }
    let markedSent = false;
    try {
      await ledger.markPartSentWithoutAnswers(delivery.id, part.index);
      markedSent = true;
    } catch (error) {
      log.error('could not even mark the accepted part as sent', {
        ...windowFields(delivery),
        part: part.index,
        error: (error as Error).message,
      });
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

  /**
   * A chain window is sent only by the run that holds its claim. A run that finds it held by another
   * run takes it over only once Temporal says that run has ended; otherwise it stops here.
   */
  async function holdClaim(delivery: Delivery, me: string): Promise<void> {
    if (!isChainWindow(delivery) || delivery.claimedBy === me) return;
    const holder = delivery.claimedBy;
    if (holder && (await deps.isRunOpen(holder))) {
      throw ApplicationFailure.nonRetryable(
        `delivery ${delivery.id} is held by run ${holder}`,
        FailureTypes.claimLost,
      );
    }
    if (!(await ledger.takeClaim(delivery.id, holder, me))) {
      throw ApplicationFailure.nonRetryable(
        `delivery ${delivery.id} was taken over by another run`,
        FailureTypes.claimLost,
      );
    }
  }

  /**
   * Before each part: this attempt was not cancelled (its workflow terminated, or Temporal gave up
   * on it and retries elsewhere: heartbeats bring the news) and the window is still this run's.
   */
  async function stillHeld(delivery: Delivery, me: string): Promise<void> {
    const context = Context.current();
    if (context.cancellationSignal.aborted)
      throw new CancelledFailure(
        `delivery ${delivery.id}: the attempt was cancelled; nothing more is sent by it`,
      );
    if (isChainWindow(delivery) && (await ledger.claimOf(delivery.id)) !== me) {
      throw ApplicationFailure.nonRetryable(
        `delivery ${delivery.id} was taken over by another run`,
        FailureTypes.claimLost,
      );
    }
  }

  /** The others received the window and are not sent it again; the operator hears about the rest. */
  async function alertRefusedRecipients(
    interfaceId: number,
    deliveryId: number,
    refused: RecipientResult[],
  ): Promise<void> {
    const log = Context.current().log;
    const addresses = [...new Set(refused.map((answer) => answer.address))];
    log.warn('some recipients refused the file permanently; the others received it', {
      interfaceId,
      deliveryId,
      refused: addresses,
    });
    // Never throws: the delivery is already recorded as sent, so a retry would skip this alert.
    const iface = await store.find(interfaceId).catch((error: Error) => {
      log.error('could not read the interface for the alert; alerting the default address', {
        interfaceId,
        deliveryId,
        error: error.message,
      });
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

  /** A stored part as a destination reads it: streamed from the ledger afresh on each open. */
  function outgoing(delivery: Delivery, part: StoredPart, partCount: number): OutgoingPart {
    return {
      deliveryId: delivery.id,
      index: part.index,
      partCount,
      deliveryKind: delivery.kind,
      fileName: part.fileName,
      contentType: part.contentType,
      byteCount: part.byteCount,
      sha256: part.sha256,
      messageId: part.messageId,
      open: () => ledger.readPart(delivery.id, part.index),
    };
  }

  return { sendDelivery };
}

function isChainWindow(delivery: Pick<Delivery, 'kind'>): boolean {
  return delivery.kind === 'scheduled' || delivery.kind === 'run';
}
