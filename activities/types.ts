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
}

export type WindowStatus = 'pending' | 'sent' | 'empty' | 'failed' | 'nothing-due';

export interface WindowSummary {
  interfaceId: number;
  /** Null when nothing was due (no new window opened). */
  deliveryId: number | null;
  kind: 'scheduled' | 'run' | 'backfill' | 'resend';
  windowStart: string;
  windowEnd: string;
  ticketCount: number;
  partCount: number;
  status: WindowStatus;
  /** True when this run finished a window frozen by an earlier run. */
  resumed: boolean;
}

export interface SendDeliveryInput {
  deliveryId: number;
}

export interface SendDeliveryResult {
  deliveryId: number;
  status: 'sent';
  /** Recipients whose server refused permanently while others accepted (recorded and alerted). */
  refusedRecipients: number;
}

export interface FreezeRangeInput {
  interfaceId: number;
  from: string;
  to: string;
  kind: 'backfill';
  workflowId: string;
}

/** Names of the non-retryable failure types, as shown in the Temporal UI. */
export const FailureTypes = {
  invalidConfiguration: 'InvalidConfiguration',
  format: 'FormatError',
  smtpPermanent: 'SmtpPermanentFailure',
  interfaceGone: 'InterfaceNotFound',
} as const;
