import { Context } from '@temporalio/activity';
import { alertOperator } from '../lib/alerts';
import { createWindowMetrics } from '../lib/metrics';
import type { ActivityDeps } from './deps';
import type { ExportInterface, InterfaceStore } from '../lib/interfaces/store';
import type { FailedWindow } from '../lib/ledger/ledger';
import { FailureTypes, type WindowOutcome, type WindowOutcomeInput } from '../workflows/boundary';

/** A database step of the outcome that failed (distinct from a step that found nothing). */
const NOT_RECORDED = Symbol('not recorded');

type AlertTarget = Pick<ExportInterface, 'id' | 'name' | 'alertEmail'>;

/** Permanent failures alerted at the first failed window (not only at the self-pause), with their subject. */
const ALERT_AT_ONCE: Readonly<Record<string, string>> = {
  [FailureTypes.format]: 'a window cannot be rendered in its format',
  [FailureTypes.sourceRow]: 'a ticket source row breaks the contract',
  [FailureTypes.ledger]: 'the delivery ledger cannot record deliveries',
  [FailureTypes.storedFile]: 'a stored file cannot be sent as it was frozen',
  [FailureTypes.destinationPermanent]: 'a destination refused a delivery for good',
};

export function createOutcomeActivities(deps: ActivityDeps) {
  const { store, ledger } = deps;

  /**
   * Records how a run ended. A delivered window ends a run of failures. A failed one stays frozen
   * in the ledger for the next run; a permanent failure (bad address, SMTP 5xx, invalid
   * configuration) counts toward pausing the interface, a transient one (an SMTP outage) never does.
   */
  async function recordWindowOutcome(input: WindowOutcomeInput): Promise<WindowOutcome> {
    let failedWindow: FailedWindow | null = null;
    const { paused } = await recordOutcome(input, (window) => (failedWindow = window));
    return failedWindow ? { paused, failedWindow } : { paused };
  }

  async function recordOutcome(
    input: WindowOutcomeInput,
    onFailedWindow: (window: FailedWindow | null) => void,
  ): Promise<{ paused: boolean }> {
    const context = Context.current();
    if (!input.failure) {
      // Only input version 1 runs (schedules of early releases) come here on success.
      if (input.windowEnd) await recordProgress(store, input.interfaceId);
      return { paused: false };
    }
    const metrics = createWindowMetrics(context.metricMeter);
    const { failure } = input;
    metrics.failed(input.interfaceId, failure.type, failure.permanent);
    if (failure.type === FailureTypes.claimLost) {
      // Another run holds or took the window (a run-now or a UI trigger racing the schedule): that
      // run delivers it. Nothing is wrong with the interface, so nothing is marked failed (the
      // window is the other run's), counted toward a self-pause or alerted.
      context.log.info('window held by another run; it is not this run to send it', {
        interfaceId: input.interfaceId,
        reason: failure.message,
      });
      return { paused: false };
    }
    const fields = {
      interfaceId: input.interfaceId,
      deliveryId: input.deliveryId,
      failureType: failure.type,
      permanent: failure.permanent,
    };
    const deliveryId = input.deliveryId;
    const reason = `${failure.type}: ${failure.message}`.slice(0, 1000);
    // The database may be the very thing that failed: a write here that fails is logged, and the
    // operator is still alerted below, rather than retrying this activity into silence.
    if (deliveryId !== null) {
      await bestEffort(fields, 'could not mark the delivery failed', () =>
        ledger.markFailed(deliveryId, reason),
      );
    } else if (input.workflowId) {
      // A run that exports in one activity does not know the window it failed on: its claim does.
      const workflowId = input.workflowId;
      const held = await bestEffort(fields, 'could not mark the delivery failed', () =>
        ledger.markClaimedFailed(input.interfaceId, workflowId, reason),
      );
      if (held !== NOT_RECORDED) onFailedWindow(held);
    }
    if (!failure.permanent) {
      context.log.warn('window not delivered (transient failure); the next run sends it unchanged', fields);
      return { paused: false };
    }
    const record = await bestEffort(
      fields,
      'could not record the permanent failure; alerting without it',
      () =>
        store.recordPermanentFailure(
          input.interfaceId,
          `${failure.type}: ${failure.message}`,
          deps.pauseAfterFailures,
        ),
    );
    if (record === NOT_RECORDED) {
      await alert(
        await interfaceForAlert(input.interfaceId),
        `${ALERT_AT_ONCE[failure.type] ?? 'a window failed'} (its failure could not be recorded)`,
        [
          ...alertLines(input, failure),
          '',
          `The exporter's database could not record this failure either: check it with  barcodes doctor`,
        ],
      );
      return { paused: false };
    }
    if (!record) return { paused: false };
    context.log.error('window failed permanently', {
      ...fields,
      consecutiveFailures: record.consecutiveFailures,
      failingSince: record.failingSince.toISOString(),
    });
    if (!record.pausedNow) {
      // These need the operator now (change the policy, the data or the database), not after N windows.
      const subject = ALERT_AT_ONCE[failure.type];
      if (subject) await alert(record.iface, subject, alertLines(input, failure));
      return { paused: false };
    }
    const note = record.iface.pausedReason ?? 'paused itself after repeated permanent failures';
    // Best effort: the interface is disabled in the database already (the worker refuses its runs,
    // and realigns the schedule then); a retry here would count the failure twice and lose the alert.
    await bestEffort(fields, 'could not pause the schedule; the next run is refused and pauses it', () =>
      deps.schedules.realign(input.interfaceId),
    );
    context.log.error('interface paused itself', { ...fields, reason: note });
    await alert(record.iface, `paused after ${record.consecutiveFailures} failed windows`, [
      `Interface ${input.interfaceId} (${record.iface.name}) has paused itself.`,
      `Failing since: ${record.failingSince.toISOString()} (${record.consecutiveFailures} consecutive windows failed for a permanent reason)`,
      `Last failure: ${failure.type}: ${failure.message}`,
      '',
      'Its watermark is kept: nothing is lost while it is paused. Fix the cause, then',
      `  barcodes interface enable ${input.interfaceId}`,
      'and the next run delivers everything since the watermark.',
    ]);
    return { paused: true };
  }

  /** What the operator reads about a failure that is alerted at once. */
  function alertLines(
    input: WindowOutcomeInput,
    failure: NonNullable<WindowOutcomeInput['failure']>,
  ): string[] {
    const id = input.interfaceId;
    const lines = [
      `Interface ${id}, delivery ${input.deliveryId ?? '(none)'}: ${failure.type}: ${failure.message}`,
    ];
    switch (failure.type) {
      case FailureTypes.format:
        return [
          ...lines,
          'Nothing was sent for this window; it is retried unchanged by every run until it can be rendered.',
          'Change the format (e.g. "unmappable": "transliterate") with  barcodes interface update ' +
            id +
            ' --format F.json',
        ];
      case FailureTypes.sourceRow:
        return [
          ...lines,
          'Nothing was sent or stored for this window: a ticket source row breaks the contract (docs/operators.md "Source rows").',
          'Fix the row (or the view that maps it) in the ticketing database; every run tries the window again.',
        ];
      case FailureTypes.ledger:
        return [
          ...lines,
          'The delivery ledger cannot record what was sent, so nothing more is sent until it can:',
          'an accepted email the ledger missed would otherwise be sent again and again.',
          'See what is missing with  barcodes doctor  (or  barcodes migrate), repair the database, then  barcodes run ' +
            id,
        ];
      case FailureTypes.storedFile:
        return [
          ...lines,
          'The stored file is not the file that was frozen, so it was not sent (docs/security.md "Retention").',
          'Deliver the window again with  barcodes backfill ' + id + ' --from … --to …',
        ];
      default:
        return lines;
    }
  }

  /**
   * Emails the operator. Never throws and always logs: an alert is most needed when something else
   * (SMTP, the database) is broken, and a failing alert must not fail the run it is about.
   */
  async function alert(iface: AlertTarget, subject: string, lines: string[]): Promise<void> {
    await alertOperator(deps.alerter, Context.current().log, {
      interfaceId: iface.id,
      interfaceName: iface.name,
      interfaceAlertEmail: iface.alertEmail,
      subject,
      text: lines.join('\n'),
    });
  }

  /** The interface as far as the database still tells it; its id alone (default alert address) when it cannot. */
  async function interfaceForAlert(interfaceId: number): Promise<AlertTarget> {
    const iface = await bestEffort({ interfaceId }, 'could not read the interface for an alert', () =>
      store.find(interfaceId),
    );
    return iface !== NOT_RECORDED && iface
      ? iface
      : { id: interfaceId, name: `interface ${interfaceId}`, alertEmail: null };
  }

  /** Runs a database step the outcome can do without: a failure is logged and gives NOT_RECORDED. */
  async function bestEffort<T>(
    fields: Record<string, unknown>,
    what: string,
    step: () => Promise<T>,
  ): Promise<T | typeof NOT_RECORDED> {
    try {
      return await step();
    } catch (error) {
      Context.current().log.error(what, { ...fields, error: (error as Error).message });
      return NOT_RECORDED;
    }
  }

  return { recordWindowOutcome };
}

/**
 * An interface's watermark moved (a window delivered, or found empty): a run of failures ends.
 * Called by the activity that finished the window, so a successful run needs no activity of its
 * own for it. (The window-lag metric follows the ledger on its own: worker/window-lag-reporter.ts.)
 */
export async function recordProgress(store: InterfaceStore, interfaceId: number): Promise<void> {
  await store.recordSuccess(interfaceId);
}
