import type { ExportInterface } from './interfaces/store';
import type { Delivery, DeliveryLedger, Queryable } from './ledger/ledger';
import type { SourceHorizon, TicketSource } from './source/ticket-source';
import { planWindow, type WindowPlan } from './window';

interface NextWindowDeps {
  ledger: Pick<DeliveryLedger, 'pendingChainDelivery' | 'chainWatermark'>;
  source: Pick<TicketSource, 'horizon'>;
  /** Bound on holding a window back for an open source transaction. */
  maxHoldbackMillis: number;
}

/** What an interface's next run would find: its frozen window, nothing yet, or a window to open. */
type NextWindow =
  | { kind: 'frozen'; delivery: Delivery }
  | { kind: 'nothing-due'; start: Date; horizon: SourceHorizon }
  | { kind: 'due'; plan: WindowPlan; horizon: SourceHorizon };

/**
 * The interface's next window as a run would see it now: a window frozen by an earlier run and
 * not yet sent (it goes out unchanged, first), else the range from the ledger's watermark (the
 * interface's start before its first window) to where the late-commit horizon lets it end. One
 * rule for the worker (freezeWindow) and `barcodes preview`, which shows "the file that would be
 * sent". `scheduledAt` null: a run asked for now (`barcodes run`, preview), up to the database's
 * clock.
 */
export async function nextWindow(
  deps: NextWindowDeps,
  db: Queryable,
  iface: Pick<ExportInterface, 'id' | 'startAt' | 'lagSeconds'>,
  scheduledAt: Date | null,
): Promise<NextWindow> {
  const frozen = await deps.ledger.pendingChainDelivery(db, iface.id);
  if (frozen) return { kind: 'frozen', delivery: frozen };
  const start = (await deps.ledger.chainWatermark(db, iface.id)) ?? iface.startAt;
  const horizon = await deps.source.horizon();
  const plan = planWindow({
    start,
    scheduledAt: scheduledAt ?? horizon.dbNow,
    lagMillis: iface.lagSeconds * 1000,
    horizon,
    maxHoldbackMillis: deps.maxHoldbackMillis,
  });
  return plan ? { kind: 'due', plan, horizon } : { kind: 'nothing-due', start, horizon };
}
