import { Context, ApplicationFailure } from '@temporalio/activity';
import type pg from 'pg';
import { inTransaction } from '../lib/db/pool';
import { FormatError, InputError, SourceRowError } from '../lib/errors';
import { noFaultPoints } from '../lib/fault-points';
import { parseFormatSpec, type FormatSpec } from '../lib/format';
import type { ExportInterface } from '../lib/interfaces/store';
import type { PartEncryption } from '../lib/format/types';
import type { Delivery, DeliveryKind } from '../lib/ledger/ledger';
import { messageIdDomain, partMessageId } from '../lib/mail/message';
import { pgpPartEncryption, readRecipientKey } from '../lib/security/openpgp';
import { nextWindow } from '../lib/next-window';
import { alertOperator } from '../lib/alerts';
import { StateChangeLogMissingError, ticketsChangedSince } from '../lib/source/state-changes';
import { windowRows } from '../lib/source/window-rows';
import { renderWindowChoosingPath } from '../lib/source/window-render';
import { refusalReason, unscheduledReason } from '../lib/interfaces/schedulability';
import type { ActivityDeps } from './deps';
import { recordProgress } from './outcome';
import {
  FailureTypes,
  type DeliveredWindowSummary,
  type FreezeBackfillInput,
  type FreezeWindowInput,
  type PrepareResendInput,
  type StoppedWindowSummary,
  type WindowSummary,
} from '../workflows/boundary';

/** Heartbeats this often, well inside the workflows' heartbeat timeout. */
export const HEARTBEAT_MILLIS = 5_000;

type DeliveryKey = Pick<Delivery, 'id' | 'interfaceId' | 'kind' | 'windowStart' | 'windowEnd'>;

/** Activities that freeze a window: select its tickets, render and store the file, fix its Message-IDs. */
export function createFreezeActivities(deps: ActivityDeps) {
  const { exporterPool, store, ledger, source } = deps;
  const domain = messageIdDomain(deps.mailFrom);
  const faults = deps.faultPoints ?? noFaultPoints;

  /**
   * Opens the interface's next window and freezes it. If a frozen window is still unsent, returns
   * that one unchanged instead, so a window is only ever sent as the file it was frozen with.
   */
  async function freezeWindow(input: FreezeWindowInput): Promise<WindowSummary> {
    const summary = await openAndFreeze(input);
    if (summary.status === 'refused') await refuse(summary);
    // No sendDelivery follows a window with nothing to send: it is finished here.
    if (summary.status === 'empty' || summary.status === 'nothing-due') {
      await recordProgress(store, summary.interfaceId);
    }
    return summary;
  }

  async function openAndFreeze(input: FreezeWindowInput): Promise<WindowSummary> {
    const log = Context.current().log;
    return inTransaction(exporterPool, async (client) => {
      const iface = await lockInterface(client, input.interfaceId);
      // The last line of defence: whoever started this run, it exports only what the database allows.
      const refusal = refusalReason(iface, input);
      if (refusal) return withoutWindow(iface.id, 'refused', refusal);
      // A `barcodes run` covers up to now: the schedule reports a trigger's time cut to the second.
      const next = await nextWindow(
        deps,
        client,
        iface,
        iface.runRequested ? null : new Date(input.scheduledAt),
      );
      if (next.kind === 'frozen') {
        const pending = next.delivery;
        if (
          pending.claimedBy &&
          pending.claimedBy !== input.workflowId &&
          (await deps.isRunOpen(pending.claimedBy))
        ) {
          log.warn('another run holds the frozen window; this run sends nothing', {
            ...windowFields(pending),
            holder: pending.claimedBy,
          });
          return withoutWindow(iface.id, 'busy', `run ${pending.claimedBy} holds window ${pending.id}`);
        }
        await ledger.claim(client, pending.id, input.workflowId);
        log.info('finishing the window frozen by an earlier run', windowFields(pending));
        return summarize(pending, true);
      }
      const spec = formatOf(iface);
      const { horizon } = next;
      const start = next.kind === 'due' ? next.plan.start : next.start;
      if (input.lastWindowEnd && new Date(input.lastWindowEnd).getTime() !== start.getTime()) {
        // The ledger is the durable record (e.g. the schedule was recreated): it wins.
        log.warn('previous run result disagrees with the ledger; continuing from the ledger', {
          interfaceId: iface.id,
          lastResultWindowEnd: input.lastWindowEnd,
          ledgerWindowEnd: start.toISOString(),
        });
      }
      if (horizon.hiddenSessions > 0) {
        log.warn(
          'source role cannot see all open transactions (grant pg_read_all_stats); only the lag protects late commits',
          {
            interfaceId: iface.id,
            hiddenSessions: horizon.hiddenSessions,
          },
        );
      }
      const kind: DeliveryKind = iface.runRequested ? 'run' : 'scheduled';
      if (next.kind === 'nothing-due') {
        if (iface.runRequested) await store.consumeRunRequest(client, iface.id);
        return nothingDue(iface.id, start, kind);
      }
      const { plan } = next;
      if (plan.heldBack) {
        const fields = {
          interfaceId: iface.id,
          pid: plan.heldBack.pid,
          transactionStart: plan.heldBack.xactStart.toISOString(),
          windowEnd: plan.end.toISOString(),
        };
        if (plan.heldBack.beyondBound) {
          log.error(
            'an open source transaction is older than BARCODES_MAX_HOLDBACK: the window closes past it; tickets it commits later need a backfill',
            fields,
          );
          const previous = await ledger.lastChainDelivery(client, iface.id);
          if (previous?.heldBack?.transactionStart !== fields.transactionStart)
            await alertForgottenTransaction(iface, fields);
        } else {
          log.info('window end held back by an open source transaction', fields);
        }
      }
      await faults.reach('before-select');
      if (iface.runRequested) await store.consumeRunRequest(client, iface.id);
      const deliveryId = await ledger.insert(client, {
        interfaceId: iface.id,
        kind,
        windowStart: plan.start,
        windowEnd: plan.end,
        recipients: iface.recipients,
        workflowId: input.workflowId,
        claimedBy: input.workflowId,
        heldBack: plan.heldBack && {
          pid: plan.heldBack.pid,
          transactionStart: plan.heldBack.xactStart.toISOString(),
          applicationName: plan.heldBack.applicationName,
          beyondBound: plan.heldBack.beyondBound,
        },
      });
      await renderAndStore(client, iface, spec, {
        id: deliveryId,
        interfaceId: iface.id,
        kind,
        windowStart: plan.start,
        windowEnd: plan.end,
      });
      const frozen = (await ledger.get(deliveryId, client))!;
      log.info('window frozen', {
        ...windowFields(frozen),
        ticketCount: frozen.ticketCount,
        parts: frozen.partCount,
      });
      return summarize(frozen, false);
    });
  }

  /**
   * Freezes one window of a backfill: the tickets created in [from, to), labelled backfill, never
   * touching the interface's watermark. A retry finds the delivery it already made.
   */
  async function freezeBackfillWindow(input: FreezeBackfillInput): Promise<DeliveredWindowSummary> {
    const from = new Date(input.from);
    const to = new Date(input.to);
    return inTransaction(exporterPool, async (client) => {
      const existing = await ledger.findOwn(client, input.workflowId, from);
      if (existing) return summarize(existing, true);
      const iface = await lockInterface(client, input.interfaceId);
      requireMappings(iface);
      const deliveryId = await ledger.insert(client, {
        interfaceId: iface.id,
        kind: 'backfill',
        windowStart: from,
        windowEnd: to,
        recipients: iface.recipients,
        workflowId: input.workflowId,
      });
      await renderAndStore(client, iface, formatOf(iface), {
        id: deliveryId,
        interfaceId: iface.id,
        kind: 'backfill',
        windowStart: from,
        windowEnd: to,
      });
      return summarize((await ledger.get(deliveryId, client))!, false);
    });
  }

  /** Makes a resend: the stored file of a sent delivery, as a new message referring to the original. */
  async function prepareResend(input: PrepareResendInput): Promise<DeliveredWindowSummary> {
    return inTransaction(exporterPool, async (client) => {
      const original = await ledger.get(input.deliveryId, client);
      if (!original)
        throw ApplicationFailure.nonRetryable(
          `delivery ${input.deliveryId} does not exist`,
          FailureTypes.notFound,
        );
      const existing = await ledger.findOwn(client, input.workflowId, original.windowStart);
      if (existing) return summarize(existing, true);
      if (original.purgedAt) {
        throw ApplicationFailure.nonRetryable(
          `delivery ${original.id}: its file was purged at ${original.purgedAt.toISOString()} (retention)`,
          FailureTypes.invalidConfiguration,
        );
      }
      if (original.partCount === 0) {
        throw ApplicationFailure.nonRetryable(
          `delivery ${original.id} has no file (status ${original.status})`,
          FailureTypes.invalidConfiguration,
        );
      }
      const iface = await lockInterface(client, original.interfaceId);
      const deliveryId = await ledger.insert(client, {
        interfaceId: iface.id,
        kind: 'resend',
        windowStart: original.windowStart,
        windowEnd: original.windowEnd,
        recipients: iface.recipients,
        originalDeliveryId: original.id,
        workflowId: input.workflowId,
        destinations: input.to ?? null,
      });
      const key: DeliveryKey = {
        id: deliveryId,
        interfaceId: iface.id,
        kind: 'resend',
        windowStart: original.windowStart,
        windowEnd: original.windowEnd,
      };
      await ledger.copyParts(client, original.id, deliveryId, (part, parts) =>
        partMessageId(key, part, parts, domain),
      );
      await warnOfStaleStates(iface, original);
      return summarize((await ledger.get(deliveryId, client))!, false);
    });
  }

  /**
   * A refused run says so where operators look (interface show/list, the log) and puts the
   * schedule back in line with the database: paused again for a disabled interface, rewritten for
   * a stale one. A failure to reach Temporal here is logged; the next refused run tries again.
   */
  async function refuse(summary: StoppedWindowSummary): Promise<void> {
    const log = Context.current().log;
    log.warn('run refused: nothing exported', { interfaceId: summary.interfaceId, reason: summary.reason });
    await store.recordRefusedRun(summary.interfaceId, summary.reason ?? 'refused');
    try {
      await deps.schedules.realign(summary.interfaceId);
    } catch (error) {
      log.error('could not put the schedule back in line with the database', {
        interfaceId: summary.interfaceId,
        error: (error as Error).message,
      });
    }
  }

  /** Once per forgotten transaction and interface: the operator must close it and backfill. */
  async function alertForgottenTransaction(
    iface: ExportInterface,
    fields: { pid: number; transactionStart: string; windowEnd: string },
  ) {
    await alertOperator(deps.alerter, Context.current().log, {
      interfaceId: iface.id,
      interfaceName: iface.name,
      interfaceAlertEmail: iface.alertEmail,
      subject: `source transaction open since ${fields.transactionStart}`,
      text: [
        `A transaction in the ticket source database (backend pid ${fields.pid}) has been open since ${fields.transactionStart},`,
        `longer than BARCODES_MAX_HOLDBACK. Windows no longer wait for it: they close past it (now up to ${fields.windowEnd}).`,
        'Tickets that transaction inserts and commits later carry its start time and fall behind the watermark:',
        `after it ends, deliver them with  barcodes backfill ${iface.id} --from ${fields.transactionStart} --to <its commit time>.`,
        'Find it with: SELECT * FROM pg_stat_activity WHERE pid = ' + fields.pid + ';',
      ].join('\n'),
    });
  }

  /**
   * A resend sends the stored file unchanged (its bytes and hash are what the reseller may
   * already hold): when tickets in it changed state since, it says so, as the CLI does. A failed
   * check never stops the resend.
   */
  async function warnOfStaleStates(iface: ExportInterface, original: Delivery): Promise<void> {
    const log = Context.current().log;
    try {
      const changed = await ticketsChangedSince(deps.stateChangeSource, iface, original);
      if (changed) {
        log.warn('resend: tickets in the stored file changed state since; the file is sent unchanged', {
          ...windowFields(original),
          changedTickets: changed,
        });
      }
    } catch (error) {
      log.warn('resend: could not check the stored file for state changes', {
        ...windowFields(original),
        error: (error as Error).message,
      });
    }
  }

  async function lockInterface(client: pg.PoolClient, interfaceId: number) {
    const iface = await store.lockForWindow(client, interfaceId);
    if (!iface)
      throw ApplicationFailure.nonRetryable(`interface ${interfaceId} does not exist`, FailureTypes.notFound);
    return iface;
  }

  /**
   * Renders the window's tickets into stored parts inside the freezing transaction, encrypted when
   * the interface has a PGP key: the stored part is the attachment, sent as is by every retry.
   */
  async function renderAndStore(
    client: pg.PoolClient,
    iface: ExportInterface,
    spec: FormatSpec,
    delivery: DeliveryKey,
  ): Promise<void> {
    const encryption = await encryptionOf(iface);
    const context = Context.current();
    // Heartbeats on a timer only: a slow first row must not look like a dead worker, and a window
    // stored within HEARTBEAT_MILLIS sends none. One per stored chunk made every delivered window
    // pay a heartbeat (the SDK sends the first at once), a Temporal Cloud action each (bench
    // "Run cost": 6 actions per delivered window, 5 per empty one).
    const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MILLIS);
    const range = { from: delivery.windowStart, to: delivery.windowEnd };
    let rendered;
    let sink;
    try {
      // The database renders the lines where it writes the same bytes (lib/source/window-render.ts);
      // should a value in the window send it back to JavaScript, a savepoint drops what it stored.
      let path;
      ({ rendered, sink, path } = await renderWindowChoosingPath({
        source,
        selection: { contacts: iface.contacts, channels: iface.channels, ...range },
        // The same test windowRows makes.
        stateChanges: Boolean(iface.stateChanges),
        // Backfill rows show each ticket's state now, so a re-delivery never revives a cancelled barcode.
        javascriptRows: () =>
          windowRows(deps, iface, range, delivery.kind === 'backfill' ? 'now' : 'window-end'),
        spec,
        ctx: {
          interfaceName: iface.name,
          timeZone: iface.timeZone,
          windowStart: delivery.windowStart,
          windowEnd: delivery.windowEnd,
          encryption: encryption?.encryption,
        },
        sinks: {
          open: async () => {
            await client.query('SAVEPOINT render_window');
            return ledger.partSink(client, delivery.id);
          },
          discard: async () => {
            await client.query('ROLLBACK TO SAVEPOINT render_window');
          },
        },
        onFallback: (reason) =>
          context.log.info('window rendered in JavaScript after all', {
            interfaceId: iface.id,
            deliveryId: delivery.id,
            reason,
          }),
      }));
      context.log.info('window rendered', {
        interfaceId: iface.id,
        deliveryId: delivery.id,
        renderer: path,
        ticketCount: rendered.ticketCount,
      });
    } catch (error) {
      if (error instanceof FormatError)
        throw ApplicationFailure.nonRetryable(error.message, FailureTypes.format);
      if (error instanceof SourceRowError)
        throw ApplicationFailure.nonRetryable(error.message, FailureTypes.sourceRow);
      if (error instanceof StateChangeLogMissingError) {
        throw ApplicationFailure.nonRetryable(
          `interface ${iface.id} has state changes on: ${error.message}`,
          FailureTypes.invalidConfiguration,
        );
      }
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
    const encryptedTo = encryption?.fingerprint ?? null;
    const parts = rendered.parts.map((part) => ({
      ...part,
      messageId: partMessageId(delivery, part.index, rendered.parts.length, domain),
      encryptedTo,
    }));
    await faults.reach('after-render');
    await ledger.completeFreeze(client, delivery.id, {
      ticketCount: rendered.ticketCount,
      parts,
      sha256: sink.sha256(),
    });
  }

  return { freezeWindow, freezeBackfillWindow, prepareResend };
}

function requireMappings(iface: ExportInterface): void {
  const reason = unscheduledReason(iface);
  if (reason)
    throw ApplicationFailure.nonRetryable(
      `interface ${iface.id}: ${reason}`,
      FailureTypes.invalidConfiguration,
    );
}

/**
 * The encryption of the interface's files, or null for plain files. The stored key is read again
 * at every freeze: one that expired since fails the window (permanently, so the interface pauses
 * itself and its operator is told) rather than sending a file its reseller may no longer read.
 */
async function encryptionOf(
  iface: ExportInterface,
): Promise<{ encryption: PartEncryption; fingerprint: string } | null> {
  if (!iface.pgpPublicKey) return null;
  try {
    const recipient = await readRecipientKey(iface.pgpPublicKey, `interface ${iface.id}: its reseller's key`);
    return { encryption: pgpPartEncryption(recipient), fingerprint: recipient.fingerprint };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw ApplicationFailure.nonRetryable(
      `${error.message}: no file was made; give a current key with \`barcodes interface update ${iface.id} --pgp-key FILE\``,
      FailureTypes.invalidConfiguration,
    );
  }
}

/** The interface's stored format (null: the default), or a permanent failure naming the interface. */
function formatOf(iface: ExportInterface): FormatSpec {
  try {
    return parseFormatSpec(iface.format);
  } catch (error) {
    throw ApplicationFailure.nonRetryable(
      `interface ${iface.id}: stored format is invalid: ${(error as Error).message}`,
      FailureTypes.invalidConfiguration,
    );
  }
}

/** The fields every log line about a window carries. */
export function windowFields(
  delivery: Pick<Delivery, 'id' | 'interfaceId' | 'kind' | 'windowStart' | 'windowEnd'>,
) {
  return {
    interfaceId: delivery.interfaceId,
    deliveryId: delivery.id,
    kind: delivery.kind,
    windowStart: delivery.windowStart.toISOString(),
    windowEnd: delivery.windowEnd.toISOString(),
  };
}

function summarize(delivery: Delivery, resumed: boolean): DeliveredWindowSummary {
  return {
    ...windowFields(delivery),
    ticketCount: delivery.ticketCount,
    partCount: delivery.partCount,
    status: delivery.status,
    resumed,
  };
}

/** A run that opened no window: refused, or another run holds the interface's window. */
function withoutWindow(
  interfaceId: number,
  status: StoppedWindowSummary['status'],
  reason: string,
): StoppedWindowSummary {
  return {
    interfaceId,
    deliveryId: null,
    kind: 'scheduled',
    windowStart: '',
    windowEnd: '',
    ticketCount: 0,
    partCount: 0,
    status,
    resumed: false,
    reason,
  };
}

function nothingDue(interfaceId: number, watermark: Date, kind: DeliveryKind): WindowSummary {
  return {
    interfaceId,
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
