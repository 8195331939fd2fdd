import type { ExportInterface } from '../interfaces/store';
import type { StateChangeSelection, StateChangeSource } from './state-changes';
import type { TicketBatch, TicketSource } from './ticket-source';

/** The two readers a window may need. */
interface WindowSources {
  source: TicketSource;
  stateChangeSource: StateChangeSource;
}

/**
 * The rows of one window of an interface: its new tickets, plus its state-change rows when the
 * interface has state changes on (CONTRACT.md §1). One place decides, so the freeze, the preview
 * and the tests read the same rows. `asOf`: see StateChangeSelection (backfills show states now).
 */
export function windowRows(
  sources: WindowSources,
  iface: Pick<ExportInterface, 'contacts' | 'channels' | 'startAt' | 'stateChanges'>,
  range: { from: Date; to: Date },
  asOf: StateChangeSelection['asOf'] = 'window-end',
): AsyncIterable<TicketBatch> {
  const selection = { contacts: iface.contacts, channels: iface.channels, from: range.from, to: range.to };
  if (!iface.stateChanges) return sources.source.streamWindow(selection);
  return sources.stateChangeSource.streamWindow({
    ...selection,
    since: iface.startAt,
    states: iface.stateChanges,
    asOf,
  });
}
