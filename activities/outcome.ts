import { Context } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';
import { createWindowMetrics } from '../lib/metrics';
import type { ActivityDeps } from './deps';
import type { ExportInterface, InterfaceStore } from '../lib/interfaces/store';
import { FailureTypes, type WindowOutcomeInput } from './types';

export function createOutcomeActivities(deps: ActivityDeps) {
  const { store, ledger } = deps;

  /**
   * Records how a run ended. A delivered window ends a run of failures. A failed one stays frozen
   * in the ledger for the next run; a permanent failure (bad address, SMTP 5xx, invalid
   * configuration) counts toward pausing the interface, a transient one (an SMTP outage) never does.
   */
  async function recordWindowOutcome(input: WindowOutcomeInput): Promise<{ paused: boolean }> {
    const context = Context.current();
    if (!input.failure) {
      // Only runs started before the SUCCESS_RECORDED_BY_ACTIVITIES patch come here on success.
      if (input.windowEnd) await recordProgress(store, context.metricMeter, input.interfaceId, new Date(input.windowEnd));
      return { paused: false };
    }
    const metrics = createWindowMetrics(context.metricMeter);
    const { failure } = input;
    metrics.failed(input.interfaceId, failure.type, failure.permanent);
    if (input.deliveryId !== null) await ledger.markFailed(input.deliveryId, `${failure.type}: ${failure.message}`.slice(0, 1000));
    const fields = { interfaceId: input.interfaceId, deliveryId: input.deliveryId, failureType: failure.type, permanent: failure.permanent };
    if (!failure.permanent) {
      context.log.warn('window not delivered (transient failure); the next run sends it unchanged', fields);
      return { paused: false };
    }
    const record = await store.recordPermanentFailure(input.interfaceId, `${failure.type}: ${failure.message}`, deps.pauseAfterFailures);
    if (!record) return { paused: false };
    context.log.error('window failed permanently', { ...fields, consecutiveFailures: record.consecutiveFailures, failingSince: record.failingSince.toISOString() });
    if (!record.pausedNow) {
      // A file the format cannot hold needs the operator now (change the policy or the data), not after N windows.
      if (failure.type === FailureTypes.format) {
        await alert(record.iface, 'a window cannot be rendered in its format', [
          `Interface ${input.interfaceId} (${record.iface.name}): ${failure.message}`,
          'Nothing was sent for this window; it is retried unchanged by every run until it can be rendered.',
          'Change the format (e.g. "unmappable": "transliterate") with  barcodes interface update ' + input.interfaceId + ' --format F.json',
        ]);
      }
      return { paused: false };
    }
    const note = record.iface.pausedReason ?? 'paused itself after repeated permanent failures';
    await deps.schedules.realign(input.interfaceId);
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

  /** Emails the operator; an alert that cannot be sent is logged, never fails the run. */
  async function alert(iface: ExportInterface, subject: string, lines: string[]): Promise<void> {
    const log = Context.current().log;
    try {
      const to = await deps.alerter.send({ interfaceId: iface.id, interfaceName: iface.name, interfaceAlertEmail: iface.alertEmail, subject, text: lines.join('\n') });
      if (!to) log.error('no alert address: set --alert-email on the interface or BARCODES_ALERT_EMAIL', { interfaceId: iface.id, alert: subject });
    } catch (error) {
      log.error('could not send an alert', { interfaceId: iface.id, alert: subject, error: (error as Error).message });
    }
  }

  return { recordWindowOutcome };
}

/**
 * An interface's watermark moved (a window delivered, or found empty): a run of failures ends.
 * Called by the activity that finished the window, so a successful run needs no activity of its
 * own for it. The window-lag metric is no longer set here but by the worker, from the ledger
 * (worker/window-lag-reporter.ts); meter and windowEnd stay so the callers need no change.
 */
export async function recordProgress(store: InterfaceStore, meter: MetricMeter, interfaceId: number, windowEnd: Date): Promise<void> {
  await store.recordSuccess(interfaceId);
}
