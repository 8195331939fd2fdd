/**
 * Everything that crosses the Temporal boundary, in one module: workflow inputs and results, the
 * activities' inputs and results, failure type names, search attribute keys, queries and the
 * workflows' names with their signatures. Types and plain constants only, so the workflow sandbox,
 * activities/, lib/, client/ and worker/ all import it (and nothing else across the fence).
 *
 * All of it is serialized into workflow histories, schedules or search attributes: change a shape
 * or a name only with a new input version, and only with test/replay.test.ts green.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';

// ---------------------------------------------------------------------------------------------
// Workflows, by the type name a start or a schedule gives.

/**
 * Each workflow the worker registers, under its name: a start by name is typed by this
 * (lib/temporal/start.ts), and workflows/index.ts checks at compile time that the code matches.
 */
export interface BarcodesWorkflows {
  exportWindow: (input: ExportWindowInput) => Promise<ExportWindowResult>;
  backfill: (input: BackfillInput) => Promise<BackfillResult | LegacyBackfillResult>;
  resend: (input: ResendInput) => Promise<DeliveredWindowSummary>;
}

export type WorkflowName = keyof BarcodesWorkflows;

// ---------------------------------------------------------------------------------------------
// Search attributes.

/**
 * Custom search attributes, so operators find every run of one interface in the Temporal UI and
 * see its window, ticket count and status without opening payloads. Shared by the workflow (which
 * upserts them) and the client (which registers them and sets the interface id on the schedule).
 */
export const InterfaceIdKey = defineSearchAttributeKey('BarcodesInterfaceId', SearchAttributeType.KEYWORD);
/**
 * The interface's name, set by its schedule on the schedule and on every run it starts, so the
 * UI's Schedules and Workflows lists name the reseller. A search attribute, not a memo or summary:
 * those are payloads, unreadable in the UI without a codec server once payload encryption is on.
 */
export const InterfaceNameKey = defineSearchAttributeKey(
  'BarcodesInterfaceName',
  SearchAttributeType.KEYWORD,
);
export const WindowStartKey = defineSearchAttributeKey('BarcodesWindowStart', SearchAttributeType.DATETIME);
export const WindowEndKey = defineSearchAttributeKey('BarcodesWindowEnd', SearchAttributeType.DATETIME);
export const TicketCountKey = defineSearchAttributeKey('BarcodesTicketCount', SearchAttributeType.INT);
export const DeliveryStatusKey = defineSearchAttributeKey(
  'BarcodesDeliveryStatus',
  SearchAttributeType.KEYWORD,
);

export const ALL_SEARCH_ATTRIBUTES = [
  InterfaceIdKey,
  InterfaceNameKey,
  WindowStartKey,
  WindowEndKey,
  TicketCountKey,
  DeliveryStatusKey,
];

/** The schedule's own attribute: when this run was meant to happen. */
export const ScheduledStartTimeKey = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

// ---------------------------------------------------------------------------------------------
// exportWindow: one scheduled run of an interface.

/**
 * Version of the input that schedules written by this release give (lib/schedules/sync.ts). From
 * version 2 on, freezeWindow and sendDelivery record a delivered or empty window themselves
 * (watermark metric, end of a run of failures), so a successful run needs no recordWindowOutcome:
 * one activity less per run, about a quarter of the Temporal server's work for a small window
 * (docs/performance.md, fan-out). A run without it (an older schedule, a run in flight across an
 * upgrade, a recorded history) keeps the version 1 steps. The input versions the workflow instead
 * of patched(), whose marker and TemporalChangeVersion search attribute would cost every run a
 * history event and a visibility update, and whose marker the payload codec cannot encrypt.
 * From version 3 on, the input names the deployment and configuration version it was written
 * from (the worker refuses a run made from another), and a run that fails marks itself failed in
 * the UI's search attributes even before it reached a window. From version 4 on, the run is one
 * activity (exportWindows: freeze then send) and one search-attribute update at its end: 12 history
 * events for an ordinary window instead of 19 (docs/performance.md, "A cheaper run"). From version
 * 5 on, a failed run records its outcome first and then shows the window it held (found by its
 * claim) with its status in the UI, still in one search-attribute update: the same events.
 */
export const EXPORT_WINDOW_INPUT_VERSION = 5;

/** The input of exportWindow, written by schedules (lib/schedules/sync.ts). */
export interface ExportWindowInput {
  interfaceId: number;
  /** Absent: version 1. */
  version?: number;
  /** The deployment whose schedule made the run (version 3 on). */
  deploymentId?: string;
  /** The interface's configuration version the schedule was written from (version 3 on). */
  configVersion?: number;
}

/** What a run returns; the next run of the schedule reads it as workflowInfo().lastResult. */
export interface ExportWindowResult {
  interfaceId: number;
  /** Windows finished by this run, oldest first (a resumed frozen one, then the new one). */
  windows: WindowSummary[];
  /** The interface's watermark after this run: the end of its last finished window. */
  windowEnd: string | null;
  /** Input version 4 on: another run holds the interface's window, and why (this run sent nothing). */
  busy?: string;
}

// ---------------------------------------------------------------------------------------------
// Activities: only ids, bounds, counts and statuses, never a barcode, a ticket row or file
// content (they would land in Temporal's history and UI).

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

interface WindowSummaryFields {
  interfaceId: number;
  kind: 'scheduled' | 'run' | 'backfill' | 'resend';
  windowStart: string;
  windowEnd: string;
  ticketCount: number;
  partCount: number;
  /** True when this run finished a window frozen by an earlier run. */
  resumed: boolean;
}

/** A window in the ledger: frozen (pending, failed) or finished (sent, empty). */
export interface DeliveredWindowSummary extends WindowSummaryFields {
  deliveryId: number;
  status: 'pending' | 'sent' | 'empty' | 'failed';
}

/** A run that opened no window because none was due (its bounds are both the watermark). */
export interface NothingDueSummary extends WindowSummaryFields {
  deliveryId: null;
  status: 'nothing-due';
}

/** A run that opened no window because it may not: refused, or another run holds the window. */
export interface StoppedWindowSummary extends WindowSummaryFields {
  deliveryId: null;
  status: 'refused' | 'busy';
  /** Why nothing was exported. */
  reason: string;
}

/** What a step reports about a window; `status` tells which kind, so `deliveryId` needs no `!`. */
export type WindowSummary = DeliveredWindowSummary | NothingDueSummary | StoppedWindowSummary;

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

/** What made a run fail, as the workflow classifies it (workflows/failures.ts). */
export interface FailureInfo {
  type: string;
  message: string;
  /** SMTP 5xx, bad address, invalid configuration: retrying cannot help. */
  permanent: boolean;
}

export interface WindowOutcomeInput {
  interfaceId: number;
  /** The delivery the run was working on, if it got that far. */
  deliveryId: number | null;
  /** The interface's watermark after the run, for the window-lag metric. */
  windowEnd: string | null;
  /** Absent when the run delivered. */
  failure?: FailureInfo;
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

/** What one run's export did (input version 4 on: the whole run is one activity). */
export interface ExportWindowsResult {
  /** Windows finished by the run, oldest first (a resumed frozen one, then the new one). */
  windows: WindowSummary[];
  /** The interface's watermark after the run. */
  windowEnd: string | null;
  /** Why the run stopped without a window: refused or busy (absent otherwise). */
  stopped?: StoppedWindowSummary;
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
  /** A backfill whose range or window size cannot be delivered. */
  invalidBackfillRange: 'InvalidBackfillRange',
} as const;

// ---------------------------------------------------------------------------------------------
// backfill and resend: deliveries made again on purpose, beside the chain.

/**
 * Version of the backfill input the CLI writes. Version 2: windows are computed one by one (never
 * as a list), the run continues as new every `windowsPerRun` windows, and the result is a bounded
 * summary (the deliveries are in the ledger). An input without it (a backfill started by an
 * earlier release, a recorded history) keeps the version 1 steps: one run, every summary returned.
 * The input versions the workflow, as ExportWindowInput does, instead of patched().
 */
export const BACKFILL_INPUT_VERSION = 2;

/**
 * Windows one workflow run delivers before it continues as new. A window costs at most 13 history
 * events (freeze and send activities, their workflow tasks, the search attribute upsert), so 300
 * stay below Temporal's suggestion to continue (4 Ki events) and far below its hard limit (51,200
 * events, which ended an 8,000-window backfill after 7,314 windows before runs continued as new).
 */
export const DEFAULT_BACKFILL_WINDOWS_PER_RUN = 300;

export interface BackfillInput {
  interfaceId: number;
  /** ISO start of the range (inclusive). */
  from: string;
  /** ISO end of the range (exclusive). */
  to: string;
  /** Size of each delivered window: the interface's interval. */
  windowMillis: number;
  /** Absent: version 1. */
  version?: number;
  /** Version 2: windows per run before continuing as new (default DEFAULT_BACKFILL_WINDOWS_PER_RUN). */
  windowsPerRun?: number;
  /** Version 2: what the earlier runs of this backfill did; absent in the first run. */
  carried?: BackfillTally;
}

/** What a backfill has done so far, over all its runs. Small and fixed in size: it crosses runs. */
export interface BackfillTally {
  /** Windows finished; also the index of the next window to deliver. */
  windowsDone: number;
  ticketsDelivered: number;
  /** Windows that sent an email (the others held no tickets). */
  windowsSent: number;
  /** Runs before this one (continue-as-new). */
  runs: number;
}

export interface BackfillProgress {
  windowsDone: number;
  windowsTotal: number;
  ticketsDelivered: number;
}

/** The result of a version 2 backfill: bounded, whatever the number of windows. */
export interface BackfillResult extends BackfillProgress {
  interfaceId: number;
  windowsSent: number;
  /** Workflow runs the backfill took (1 + its continue-as-new count). */
  runs: number;
}

/** The result of a version 1 backfill: every window's summary (`deliveries` tells it apart). */
export interface LegacyBackfillResult extends BackfillProgress {
  interfaceId: number;
  deliveries: WindowSummary[];
}

/** Answers for the whole backfill, across its continue-as-new runs (the CLI's progress bar). */
export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

export interface ResendInput {
  deliveryId: number;
  /** `resend --to`: only these destinations (email, sftp, https); absent: all the interface has. */
  to?: string[];
}
