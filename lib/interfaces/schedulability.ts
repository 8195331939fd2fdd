import type { ExportInterface } from './store';

/**
 * The rules that decide whether an interface may export a window. One place, used by
 * `schedules sync` (which schedule exists and is active), `barcodes run` (refuses up front) and the
 * worker (the last line of defence: it refuses whatever run reaches it against these rules).
 */

/** Why an interface gets no schedule at all, or null when it should have one. */
export function unscheduledReason(iface: Pick<ExportInterface, 'contacts' | 'channels'>): string | null {
  if (iface.contacts.length === 0 && iface.channels.length === 0)
    return 'it has no contact or sales channel mapping';
  return null;
}

/** What a run says about where it came from (the schedule's workflow input). */
interface RunOrigin {
  /** The interface's configuration version the schedule was written from; absent likewise. */
  configVersion?: number;
}

/**
 * Why a run must not export a window of this interface, as it is now in the database, or null
 * when it may. A disabled interface exports nothing, whoever started the run (a schedule unpaused
 * by hand in the Temporal UI, `temporal schedule trigger`, a schedule left active while Temporal
 * was unreachable); so does a run made from another configuration than the committed one.
 */
export function refusalReason(iface: ExportInterface, origin: RunOrigin): string | null {
  if (!iface.enabled)
    return iface.pausedReason
      ? `interface ${iface.id} is paused: ${iface.pausedReason}`
      : `interface ${iface.id} is disabled`;
  const unscheduled = unscheduledReason(iface);
  if (unscheduled) return `interface ${iface.id} cannot run: ${unscheduled}`;
  if (origin.configVersion !== undefined && origin.configVersion !== iface.configVersion) {
    return `the run was made from configuration version ${origin.configVersion} of interface ${iface.id}, which is now at version ${iface.configVersion} (stale schedule)`;
  }
  return null;
}
