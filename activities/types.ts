/**
 * What crosses the workflow/activity boundary. Only ids, bounds, counts and statuses: never a
 * barcode, a ticket row or file content (they would land in Temporal's history and UI).
 */
export interface FreezeWindowInput {
  interfaceId: number;
  /** ISO time the schedule meant this run for. */
  scheduledAt: string;
  /** Window end the previous run returned (workflowInfo().lastResult), if any: checked against the ledger. */
  lastWindowEnd: string | null;
  workflowId: string;
  /** The deployment the run's schedule belongs to (absent in runs of older schedules). */
  deploymentId?: string;
  /** The configuration version the run's schedule was written from (absent likewise). */
  configVersion?: number;
}

/**
 * `refused`: the worker exported nothing because the interface may not run (disabled, no mapping,
 * stale schedule). `busy`: another run holds the interface's frozen window; this one sent nothing.
 */
export type WindowStatus = 'pending' | 'sent' | 'empty' | 'failed' | 'nothing-due' | 'refused' | 'busy';

interface WindowSummaryFields {
  interfaceId: number;
  kind: 'scheduled' | 'run' | 'backfill' | 'resend';
  windowStart: string;
  windowEnd: string;
  ticketCount: number;
  partCount: number;
  /** True when this run finished a window frozen by an earlier run. */
  resumed: boolean;
  /** Why nothing was exported, for `refused` and `busy`. */
  reason?: string;
}

/** A window in the ledger: frozen (pending, failed) or finished (sent, empty). */
export interface DeliveredWindowSummary extends WindowSummaryFields {
  deliveryId: number;
  status: 'pending' | 'sent' | 'empty' | 'failed';
}

/** A run that opened no window: nothing was due, it was refused, or another run holds the window. */
export interface NoWindowSummary extends WindowSummaryFields {
  deliveryId: null;
  status: 'nothing-due' | 'refused' | 'busy';
}

/** What a step reports about a window; `status` tells which kind, so `deliveryId` needs no `!`. */
export type WindowSummary = DeliveredWindowSummary | NoWindowSummary;

export interface SendDeliveryInput {
  deliveryId: number;
  /** The run sending it: a chain window is sent only by the run that holds its claim. */
  workflowId?: string;
}

export interface SendDeliveryResult {
  deliveryId: number;
  status: 'sent';
  /** Recipients whose server refused permanently while others accepted (recorded and alerted). */
  refusedRecipients: number;
}

export interface FreezeBackfillInput {
  interfaceId: number;
  /** ISO start of this backfill window (inclusive). */
  from: string;
  /** ISO end of this backfill window (exclusive). */
  to: string;
  /** The backfill workflow: with `from`, the key that makes a retried freeze find its own delivery. */
  workflowId: string;
}

export interface PrepareResendInput {
  deliveryId: number;
  workflowId: string;
  /** Only these destinations (`resend --to`); absent: every destination the interface has. */
  to?: string[];
}

export interface WindowOutcomeInput {
  interfaceId: number;
  /** The delivery the run was working on, if it got that far. */
  deliveryId: number | null;
  /** The interface's watermark after the run, for the window-lag metric. */
  windowEnd: string | null;
  /** Absent when the run delivered. */
  failure?: { type: string; message: string; permanent: boolean };
  /** The failed run (input version 4 on): finds the window it held when deliveryId is null. */
  workflowId?: string;
}

/** What recordWindowOutcome did. */
export interface WindowOutcome {
  /** Whether the interface paused itself now. */
  paused: boolean;
  /** The window a failed run held (input version 4 on, found by its claim), so the run can show it. */
  failedWindow?: { windowStart: string; windowEnd: string; ticketCount: number };
}

/** Names of the non-retryable failure types, as shown in the Temporal UI. */
export const FailureTypes = {
  invalidConfiguration: 'InvalidConfiguration',
  format: 'FormatError',
  smtpPermanent: 'SmtpPermanentFailure',
  notFound: 'NotFound',
  /** The worker refused the run: nothing was exported (docs/exactly-once.md). */
  runRefused: 'RunRefused',
  /** Another run took the window over (its holder had ended); this one must not send it. */
  claimLost: 'WindowClaimedByAnotherRun',
  /** A run of another deployment reached this worker (shared task queue): retried elsewhere. */
  wrongDeployment: 'WrongDeployment',
  /** A ticket source row breaks CONTRACT.md §2 (a NULL bar code, an unknown state, a NaN price). */
  sourceRow: 'SourceRowError',
  /** The delivery ledger cannot record (a table or column missing): sending would repeat emails. */
  ledger: 'LedgerError',
  /** A stored file is not the file that was frozen (purged, or its size or SHA-256 differs). */
  storedFile: 'StoredFileError',
  /** An SFTP or HTTPS destination failed for good (changed host key, a different file under the name, HTTP 4xx). */
  destinationPermanent: 'DestinationPermanentFailure',
  /** A destination is unreachable for now (server down, timeout, HTTP 5xx/429): retried, never counted. */
  destinationUnavailable: 'DestinationUnavailable',
} as const;

/** What one run's export did (input version 4 on: the whole run is one activity). */
export interface ExportWindowsResult {
  /** Windows finished by the run, oldest first (a resumed frozen one, then the new one). */
  windows: WindowSummary[];
  /** The interface's watermark after the run. */
  windowEnd: string | null;
  /** Why the run stopped without a window: refused or busy (absent otherwise). */
  stopped?: WindowSummary;
}
