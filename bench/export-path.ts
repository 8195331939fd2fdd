/**
 * The export path of freezeWindow, run in this process with the real pieces: the source's
 * streamWindow, renderWindow of lib/format and the ledger's partSink inside one transaction, as
 * activities/index.ts renderAndStore does, minus Temporal (no heartbeats, no activity context).
 */
import pg from 'pg';
import { inTransaction } from '../lib/db/pool';
import { DEFAULT_FORMAT_SPEC, renderWindow, type FormatSpec } from '../lib/format';
import { renderWindowInDatabase } from '../lib/source/copy-window';
import type { DeliveryLedger } from '../lib/ledger/ledger';
import { partMessageId } from '../lib/mail/message';
import type { PostgresTicketSource, WindowSelection } from '../lib/source/ticket-source';

export interface ExportPathResult {
  ticketCount: number;
  parts: number;
  bytes: number;
  /** SHA-256 over all parts' bytes in order (the delivery's checksum). */
  sha256: string;
  millis: number;
  /** The stored delivery, deleted again by `discard`. */
  deliveryId: number;
}

export interface ExportPathInput {
  exporterPool: pg.Pool;
  ledger: DeliveryLedger;
  source: PostgresTicketSource;
  /** `database`: PostgreSQL writes the lines (copy-window.ts, what freezeWindow picks for the default format); `javascript`: the renderer of lib/format. */
  renderer: 'database' | 'javascript';
  interfaceId: number;
  interfaceName: string;
  window: WindowSelection;
  /** The file format; the default (CSV) when absent. */
  spec?: FormatSpec;
}

/** Selects, renders and stores the window in one transaction, and times it. */
export async function runExportPath(input: ExportPathInput): Promise<ExportPathResult> {
  const { ledger, source, window } = input;
  const started = process.hrtime.bigint();
  const result = await inTransaction(input.exporterPool, async (client) => {
    // kind backfill: outside the interface's chain, so the same window can be stored again.
    const delivery = {
      interfaceId: input.interfaceId,
      kind: 'backfill' as const,
      windowStart: window.from,
      windowEnd: window.to,
    };
    const deliveryId = await ledger.insert(client, { ...delivery, recipients: ['reseller@bench.test'] });
    const sink = ledger.partSink(client, deliveryId);
    const ctx = {
      interfaceName: input.interfaceName,
      timeZone: 'UTC',
      windowStart: window.from,
      windowEnd: window.to,
    };
    const spec = input.spec ?? DEFAULT_FORMAT_SPEC;
    const rendered =
      input.renderer === 'database'
        ? await renderWindowInDatabase(source, window, spec, ctx, sink)
        : await renderWindow(source.streamWindow(window), spec, ctx, sink);
    const parts = rendered.parts.map((part) => ({
      ...part,
      messageId: partMessageId(
        { ...delivery, id: deliveryId },
        part.index,
        rendered.parts.length,
        'bench.test',
      ),
    }));
    const sha256 = sink.sha256();
    await ledger.completeFreeze(client, deliveryId, { ticketCount: rendered.ticketCount, parts, sha256 });
    return {
      deliveryId,
      ticketCount: rendered.ticketCount,
      parts: parts.length,
      bytes: parts.reduce((sum, part) => sum + part.byteCount, 0),
      sha256,
    };
  });
  return { ...result, millis: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** Deletes a stored benchmark delivery (its parts and chunks go with it). */
export async function discardDelivery(pool: pg.Pool, schema: string, deliveryId: number): Promise<void> {
  await pool.query(`DELETE FROM ${schema}.delivery WHERE id = $1`, [deliveryId]);
}
