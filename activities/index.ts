import { Context, ApplicationFailure } from '@temporalio/activity';
import pg from 'pg';
import { inTransaction } from '../lib/db/pool';
import { FormatError } from '../lib/errors';
import { DEFAULT_FORMAT_SPEC, parseFormatSpec, renderWindow, type FormatSpec } from '../lib/format';
import type { InterfaceStore, ExportInterface } from '../lib/interfaces/store';
import type { Delivery, DeliveryLedger, DeliveryKind } from '../lib/ledger/ledger';
import { SmtpError, type Mailer } from '../lib/mail/mailer';
import { bodyFor, messageIdDomain, partMessageId, subjectFor } from '../lib/mail/message';
import type { TicketSource } from '../lib/source/ticket-source';
import { planWindow } from '../lib/window';
import { noFaultPoints, type FaultPoints } from '../lib/fault-points';
import {
  FailureTypes,
  type FreezeWindowInput,
  type SendDeliveryInput,
  type SendDeliveryResult,
  type WindowSummary,
} from './types';

export interface ActivityDeps {
  /** Pool on the exporter's database (ledger, interfaces). */
  exporterPool: pg.Pool;
  store: InterfaceStore;
  ledger: DeliveryLedger;
  source: TicketSource;
  mailer: Mailer;
  /** Sender address. */
  mailFrom: string;
  /** Bound on holding a window back for an open source transaction. */
  maxHoldbackMillis: number;
  /** Where the fault suite may stop a worker (no-op in production). */
  faultPoints?: FaultPoints;
}

/**
 * The activities, built from their dependencies so that tests can hand in real or fake parts
 * (see temporalio/samples-typescript activities-dependency-injection). Each one is idempotent for
 * its (interface, window): a retry finds the work already done and repeats nothing.
 */
export function createActivities(deps: ActivityDeps) {
  const { exporterPool, store, ledger, source, mailer } = deps;
  const domain = messageIdDomain(deps.mailFrom);
  const faults = deps.faultPoints ?? noFaultPoints;

  /**
   * Opens the interface's next window and freezes it: selects its tickets, renders and stores the
   * file, fixes its Message-IDs. If a frozen window is still unsent, returns that one unchanged
   * instead, so a window is only ever sent as the file it was frozen with.
   */
  async function freezeWindow(input: FreezeWindowInput): Promise<WindowSummary> {
    const log = Context.current().log;
    return inTransaction(exporterPool, async (client) => {
      const iface = await store.lockForWindow(client, input.interfaceId);
      if (!iface) {
        throw ApplicationFailure.nonRetryable(`interface ${input.interfaceId} does not exist`, FailureTypes.interfaceGone);
      }
      const pending = await ledger.pendingChainDelivery(client, iface.id);
      if (pending) {
        log.info('finishing the window frozen by an earlier run', { interfaceId: iface.id, deliveryId: pending.id });
        return summarize(pending, true);
      }
      if (iface.contacts.length === 0 && iface.channels.length === 0) {
        throw ApplicationFailure.nonRetryable(
          `interface ${iface.id} has no contact or sales channel mapping`,
          FailureTypes.invalidConfiguration,
        );
      }
      const spec = formatOf(iface);
      const start = (await ledger.chainWatermark(client, iface.id)) ?? iface.startAt;
      if (input.lastWindowEnd && new Date(input.lastWindowEnd).getTime() !== start.getTime()) {
        // The ledger is the durable record (e.g. the schedule was recreated): it wins.
        log.warn('previous run result disagrees with the ledger; continuing from the ledger', {
          interfaceId: iface.id,
          lastResultWindowEnd: input.lastWindowEnd,
          ledgerWindowEnd: start.toISOString(),
        });
      }
      const horizon = await source.horizon();
      if (horizon.hiddenSessions > 0) {
        log.warn('source role cannot see all open transactions (grant pg_read_all_stats); only the lag protects late commits', {
          interfaceId: iface.id,
          hiddenSessions: horizon.hiddenSessions,
        });
      }
      // A `barcodes run` covers up to now: the schedule reports a trigger's time cut to the second.
      const plan = planWindow({
        start,
        scheduledAt: iface.runRequested ? horizon.dbNow : new Date(input.scheduledAt),
        lagMillis: iface.lagSeconds * 1000,
        horizon,
        maxHoldbackMillis: deps.maxHoldbackMillis,
      });
      if (!plan) {
        return nothingDue(iface, start, iface.runRequested ? 'run' : 'scheduled');
      }
      if (plan.heldBack) {
        const fields = {
          interfaceId: iface.id,
          pid: plan.heldBack.pid,
          transactionStart: plan.heldBack.xactStart.toISOString(),
          windowEnd: plan.end.toISOString(),
        };
        if (plan.heldBack.beyondBound) {
          log.error('an open source transaction is older than the holdback bound: the window closes past it; tickets it commits later need a backfill', fields);
        } else {
          log.info('window end held back by an open source transaction', fields);
        }
      }
      await faults.reach('before-select');
      const kind: DeliveryKind = iface.runRequested ? 'run' : 'scheduled';
      const deliveryId = await ledger.insert(client, {
        interfaceId: iface.id,
        kind,
        windowStart: plan.start,
        windowEnd: plan.end,
        recipients: iface.recipients,
        workflowId: input.workflowId,
        heldBack: plan.heldBack && {
          pid: plan.heldBack.pid,
          transactionStart: plan.heldBack.xactStart.toISOString(),
          applicationName: plan.heldBack.applicationName,
          beyondBound: plan.heldBack.beyondBound,
        },
      });
      const delivery = { id: deliveryId, interfaceId: iface.id, kind, windowStart: plan.start, windowEnd: plan.end };
      const ticketCount = await renderAndStore(client, iface, spec, delivery);
      log.info('window frozen', { interfaceId: iface.id, deliveryId, windowStart: plan.start.toISOString(), windowEnd: plan.end.toISOString(), ticketCount });
      return summarize((await ledger.get(deliveryId, client))!, false);
    });
  }

  /** Renders the window's tickets into stored parts inside the freezing transaction. */
  async function renderAndStore(
    client: pg.PoolClient,
    iface: ExportInterface,
    spec: FormatSpec,
    delivery: Pick<Delivery, 'id' | 'interfaceId' | 'kind' | 'windowStart' | 'windowEnd'>,
  ): Promise<number> {
    const context = Context.current();
    const sink = ledger.partSink(client, delivery.id, () => context.heartbeat());
    const rows = source.streamWindow({
      contacts: iface.contacts,
      channels: iface.channels,
      from: delivery.windowStart,
      to: delivery.windowEnd,
    });
    let rendered;
    try {
      rendered = await renderWindow(rows, spec, { interfaceName: iface.name, timeZone: iface.timeZone, windowStart: delivery.windowStart, windowEnd: delivery.windowEnd }, sink);
    } catch (error) {
      if (error instanceof FormatError) throw ApplicationFailure.nonRetryable(error.message, FailureTypes.format);
      throw error;
    }
    const parts = rendered.parts.map((part) => ({
      ...part,
      messageId: partMessageId(delivery, part.index, rendered.parts.length, domain),
    }));
    await faults.reach('after-render');
    await ledger.completeFreeze(client, delivery.id, { ticketCount: rendered.ticketCount, parts, sha256: sink.sha256() });
    return rendered.ticketCount;
  }

  /**
   * Sends every part of a frozen delivery not yet accepted by SMTP. Safe to repeat: parts already
   * recorded as sent are skipped; a part whose acceptance was not recorded (crash) is sent again
   * with the same Message-ID and bytes.
   */
  async function sendDelivery(input: SendDeliveryInput): Promise<SendDeliveryResult> {
    const log = Context.current().log;
    const delivery = await ledger.get(input.deliveryId);
    if (!delivery) throw ApplicationFailure.nonRetryable(`delivery ${input.deliveryId} does not exist`, FailureTypes.interfaceGone);
    if (delivery.status === 'sent' || delivery.status === 'empty') {
      return { deliveryId: delivery.id, status: 'sent', refusedRecipients: 0 };
    }
    const iface = await store.find(delivery.interfaceId);
    if (!iface) throw ApplicationFailure.nonRetryable(`interface ${delivery.interfaceId} does not exist`, FailureTypes.interfaceGone);
    const parts = await ledger.parts(delivery.id);
    const originalParts = delivery.originalDeliveryId ? await ledger.parts(delivery.originalDeliveryId) : [];
    await ledger.recordAttempt(delivery.id);
    const heartbeat = setInterval(() => Context.current().heartbeat(), 5_000);
    let refusedRecipients = 0;
    try {
      for (const part of parts) {
        if (part.sentAt) continue;
        const subject = { interfaceName: iface.name, kind: delivery.kind, windowStart: delivery.windowStart, windowEnd: delivery.windowEnd, ticketCount: delivery.ticketCount, part: part.index, partCount: parts.length };
        const original = originalParts.find((candidate) => candidate.index === part.index);
        let result;
        await faults.reach('before-smtp');
        try {
          result = await mailer.send({
            from: deps.mailFrom,
            to: delivery.recipients,
            subject: subjectFor(subject),
            messageId: part.messageId,
            references: original ? [original.messageId] : undefined,
            date: delivery.createdAt,
            text: bodyFor({ ...subject, fileName: part.fileName, sha256: part.sha256, rowCount: part.rowCount }),
            attachments: [{ filename: part.fileName, contentType: part.contentType, content: ledger.readPart(delivery.id, part.index) }],
          });
        } catch (error) {
          if (error instanceof SmtpError && error.permanent) {
            await ledger.markFailed(delivery.id, error.message);
            throw ApplicationFailure.nonRetryable(error.message, FailureTypes.smtpPermanent);
          }
          throw error;
        }
        await faults.reach('after-smtp-accepted');
        await ledger.markPartSent(delivery.id, part.index, [
          ...result.accepted.map((address) => ({ address, status: 'accepted' as const, response: result.response })),
          ...result.refused.map((refusal) => ({ address: refusal.address, status: 'refused' as const, response: refusal.response })),
        ]);
        if (result.refused.length > 0) {
          log.warn('some recipients refused the file permanently; the others received it', {
            interfaceId: iface.id,
            deliveryId: delivery.id,
            refused: result.refused.map((refusal) => refusal.address),
          });
        }
        refusedRecipients += result.refused.length;
      }
    } finally {
      clearInterval(heartbeat);
    }
    await ledger.markSent(delivery.id);
    log.info('delivery sent', { interfaceId: iface.id, deliveryId: delivery.id, parts: parts.length, ticketCount: delivery.ticketCount });
    return { deliveryId: delivery.id, status: 'sent', refusedRecipients };
  }

  /** Records why a delivery could not be sent; it stays pending for the next run. */
  async function markDeliveryFailed(input: { deliveryId: number; reason: string }): Promise<void> {
    await ledger.markFailed(input.deliveryId, input.reason.slice(0, 1000));
  }

  return { freezeWindow, sendDelivery, markDeliveryFailed };
}

export type Activities = ReturnType<typeof createActivities>;

function formatOf(iface: ExportInterface): FormatSpec {
  if (!iface.format) return DEFAULT_FORMAT_SPEC;
  try {
    return parseFormatSpec(iface.format);
  } catch (error) {
    throw ApplicationFailure.nonRetryable(`interface ${iface.id}: stored format is invalid: ${(error as Error).message}`, FailureTypes.invalidConfiguration);
  }
}

function summarize(delivery: Delivery, resumed: boolean): WindowSummary {
  return {
    interfaceId: delivery.interfaceId,
    deliveryId: delivery.id,
    kind: delivery.kind,
    windowStart: delivery.windowStart.toISOString(),
    windowEnd: delivery.windowEnd.toISOString(),
    ticketCount: delivery.ticketCount,
    partCount: delivery.partCount,
    status: delivery.status,
    resumed,
  };
}

function nothingDue(iface: ExportInterface, watermark: Date, kind: DeliveryKind): WindowSummary {
  return {
    interfaceId: iface.id,
    deliveryId: null,
    kind,
    windowStart: watermark.toISOString(),
    windowEnd: watermark.toISOString(),
    ticketCount: 0,
    partCount: 0,
    status: 'nothing-due',
    resumed: false,
  };
}
