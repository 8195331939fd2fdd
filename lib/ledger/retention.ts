import pg from 'pg';
import { parseDuration } from '../duration';

/**
 * Stored files hold barcodes, which are admission rights: they are kept only as long as a resend
 * may need them. Purging deletes a delivery's file bytes (delivery_chunk) and sets
 * delivery.purged_at; the record of what was delivered stays: window, ticket count, checksum,
 * parts (names, sizes, checksums, Message-IDs) and each recipient's answer.
 */

/** Environment variable of the retention, a duration like `30d`. */
export const FILE_RETENTION_VARIABLE = 'BARCODES_FILE_RETENTION';
export const DEFAULT_FILE_RETENTION = '30d';
/** Deliveries purged per transaction: keeps locks and WAL bursts small on a large backlog. */
const DEFAULT_BATCH_SIZE = 200;

export interface PurgeOptions {
  /** Files of deliveries older than this (by the database clock) are purged. */
  olderThanMillis: number;
  /** Deliveries per transaction. */
  batchSize?: number;
}

export interface PurgeReport {
  /** Deliveries sent (or abandoned) before this moment were purged. */
  cutoff: Date;
  /** Deliveries whose stored file was purged by this run. */
  deliveries: number;
  /** Stored chunks deleted. */
  chunks: number;
  /** File bytes deleted. */
  bytes: number;
  /**
   * Scheduled/run windows older than the cutoff that are still unsent: kept, because the next run
   * must send exactly these bytes (exactly-once). Non-zero means an interface has been failing.
   */
  keptUnsent: number;
}

/** The retention configured by BARCODES_FILE_RETENTION (default 30d), in milliseconds. */
export function fileRetentionMillis(env: NodeJS.ProcessEnv = process.env): number {
  return parseDuration(env[FILE_RETENTION_VARIABLE] || DEFAULT_FILE_RETENTION, FILE_RETENTION_VARIABLE);
}

/**
 * Purges the stored files past retention: a sent delivery's once it was sent before the cutoff;
 * an unsent backfill's or resend's once created before it (nothing sends it any more). An unsent
 * scheduled or run window is never purged. Idempotent; concurrent purges skip each other's rows.
 */
export async function purgeStoredFiles(pool: pg.Pool, schema: string, options: PurgeOptions): Promise<PurgeReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const { rows } = await pool.query<{ cutoff: Date }>(`SELECT now() - make_interval(secs => $1::float8 / 1000) AS cutoff`, [
    options.olderThanMillis,
  ]);
  const cutoff = rows[0]!.cutoff;
  const report: PurgeReport = { cutoff, deliveries: 0, chunks: 0, bytes: 0, keptUnsent: 0 };
  for (;;) {
    const batch = await pool.query<{ deliveries: number; chunks: number; bytes: string }>(
      `WITH due AS (
         SELECT id FROM ${schema}.delivery
          WHERE purged_at IS NULL
            AND ((status = 'sent' AND sent_at < $1)
              OR (status IN ('pending','failed') AND kind IN ('backfill','resend') AND created_at < $1))
          ORDER BY id
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), deleted AS (
         DELETE FROM ${schema}.delivery_chunk chunk USING due WHERE chunk.delivery_id = due.id
         RETURNING octet_length(chunk.data) AS bytes
       ), marked AS (
         UPDATE ${schema}.delivery delivery SET purged_at = now() FROM due WHERE delivery.id = due.id RETURNING delivery.id
       )
       SELECT (SELECT count(*)::int FROM marked) AS deliveries,
              (SELECT count(*)::int FROM deleted) AS chunks,
              (SELECT coalesce(sum(bytes), 0)::text FROM deleted) AS bytes`,
      [cutoff, batchSize],
    );
    const { deliveries, chunks, bytes } = batch.rows[0]!;
    report.deliveries += deliveries;
    report.chunks += chunks;
    report.bytes += Number(bytes);
    if (deliveries < batchSize) break;
  }
  const kept = await pool.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM ${schema}.delivery
      WHERE purged_at IS NULL AND status IN ('pending','failed') AND kind IN ('scheduled','run') AND created_at < $1`,
    [cutoff],
  );
  report.keptUnsent = kept.rows[0]!.count;
  return report;
}
