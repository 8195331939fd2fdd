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

/**
 * Whether the workflow that made an unsent backfill or resend may still send it: `open` (running),
 * `closed` (finished, failed, cancelled, or unknown to Temporal: nothing sends it any more), or
 * `unknown` (Temporal could not be asked).
 */
export type WorkflowState = 'open' | 'closed' | 'unknown';
export type WorkflowStateLookup = (workflowId: string) => Promise<WorkflowState>;

interface PurgeOptions {
  /** Files of deliveries older than this (by the database clock) are purged. */
  olderThanMillis: number;
  /** Asks Temporal about the workflow of an unsent backfill or resend before its file is purged. */
  workflowState: WorkflowStateLookup;
  /** Deliveries per transaction. */
  batchSize?: number;
}

interface PurgeReport {
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
  /**
   * Unsent backfills and resends older than the cutoff kept because their workflow is still open
   * (it may send the file any moment) or Temporal could not say: a later purge takes them.
   */
  keptInFlight: number;
}

/** The retention configured by BARCODES_FILE_RETENTION (default 30d), in milliseconds. */
export function fileRetentionMillis(env: NodeJS.ProcessEnv = process.env): number {
  return parseDuration(env[FILE_RETENTION_VARIABLE] || DEFAULT_FILE_RETENTION, FILE_RETENTION_VARIABLE);
}

/**
 * Purges the stored files past retention: a sent delivery's once it was sent before the cutoff; an
 * unsent backfill's or resend's once created before it and its workflow is closed (nothing can
 * send it any more). An unsent delivery whose workflow is open, or may be (Temporal unreachable),
 * is kept and counted: purging it would make that workflow send an empty or broken file. An unsent
 * scheduled or run window is never purged. Idempotent; concurrent purges skip each other's rows.
 */
export async function purgeStoredFiles(
  pool: pg.Pool,
  schema: string,
  options: PurgeOptions,
): Promise<PurgeReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const { rows } = await pool.query<{ cutoff: Date }>(
    `SELECT now() - make_interval(secs => $1::float8 / 1000) AS cutoff`,
    [options.olderThanMillis],
  );
  const cutoff = rows[0]!.cutoff;
  const report: PurgeReport = { cutoff, deliveries: 0, chunks: 0, bytes: 0, keptUnsent: 0, keptInFlight: 0 };
  const abandoned = await abandonedDeliveries(pool, schema, cutoff, options.workflowState);
  report.keptInFlight = abandoned.kept;
  for (;;) {
    const batch = await pool.query<{ deliveries: number; chunks: number; bytes: string }>(
      `WITH due AS (
         SELECT id FROM ${schema}.delivery
          WHERE purged_at IS NULL
            AND ((status = 'sent' AND sent_at < $1)
              OR (status IN ('pending','failed') AND kind IN ('backfill','resend') AND id = ANY($3::bigint[])))
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
      [cutoff, batchSize, abandoned.ids],
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

/**
 * The unsent backfills and resends older than the cutoff whose workflow is closed (their ids), and
 * how many were kept because it is open or unknown. A delivery without a workflow id has no
 * workflow that could send it.
 */
async function abandonedDeliveries(
  pool: pg.Pool,
  schema: string,
  cutoff: Date,
  workflowState: WorkflowStateLookup,
): Promise<{ ids: string[]; kept: number }> {
  const { rows } = await pool.query<{ id: string; workflow_id: string | null }>(
    `SELECT id, workflow_id FROM ${schema}.delivery
      WHERE purged_at IS NULL AND status IN ('pending','failed') AND kind IN ('backfill','resend') AND created_at < $1
      ORDER BY id`,
    [cutoff],
  );
  const ids: string[] = [];
  let kept = 0;
  const states = new Map<string, WorkflowState>();
  for (const row of rows) {
    let state: WorkflowState = 'closed';
    if (row.workflow_id !== null) {
      state = states.get(row.workflow_id) ?? (await workflowState(row.workflow_id));
      states.set(row.workflow_id, state);
    }
    if (state === 'closed') ids.push(row.id);
    else kept++;
  }
  return { ids, kept };
}
