/**
 * Fake activities for the workflow tests: each answers from a script the test writes and records
 * what the workflow asked, so a test states the activities' answers and checks the workflow's
 * questions. No PostgreSQL, no SMTP: the workflow's branches alone.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Activities } from '../../../activities';
import { createExportWindowsActivities } from '../../../activities/export-windows';
import type {
  DeliveredWindowSummary,
  FreezeWindowInput,
  PrepareResendInput,
  SendDeliveryInput,
  WindowOutcomeInput,
  WindowSummary,
} from '../../../workflows/boundary';

/** A run without a window: nothing due, refused or busy. */
type NoWindowSummary = Exclude<WindowSummary, DeliveredWindowSummary>;

/** The activities exportWindow and resend call (the backfill's are not faked here). */
export type WorkflowActivities = Pick<
  Activities,
  'freezeWindow' | 'sendDelivery' | 'exportWindows' | 'recordWindowOutcome' | 'prepareResend'
>;

/** One scripted answer: a summary to return, or a failure to throw. */
export type Answer<T> = T | Error;

export interface ActivityScript {
  /** freezeWindow's answers, in call order. */
  freezes?: Answer<WindowSummary>[];
  /** sendDelivery's answers, in call order; default: every send succeeds. */
  sends?: Answer<'sent'>[];
  /** prepareResend's answer (always a window in the ledger). */
  prepared?: Answer<DeliveredWindowSummary>;
}

export interface ActivityCalls {
  /** Input version 4 on: the run's one activity (which calls the scripted freeze and send). */
  exportWindows: FreezeWindowInput[];
  freezeWindow: FreezeWindowInput[];
  sendDelivery: SendDeliveryInput[];
  recordWindowOutcome: WindowOutcomeInput[];
  prepareResend: PrepareResendInput[];
}

export function scriptedActivities(script: ActivityScript): {
  activities: WorkflowActivities;
  calls: ActivityCalls;
} {
  const calls: ActivityCalls = {
    exportWindows: [],
    freezeWindow: [],
    sendDelivery: [],
    recordWindowOutcome: [],
    prepareResend: [],
  };
  const freezes = [...(script.freezes ?? [])];
  const sends = [...(script.sends ?? [])];
  const steps: Pick<WorkflowActivities, 'freezeWindow' | 'sendDelivery'> = {
    async freezeWindow(input) {
      calls.freezeWindow.push(input);
      return answer(freezes.shift(), 'freezeWindow');
    },
    async sendDelivery(input) {
      calls.sendDelivery.push(input);
      answer(sends.shift() ?? 'sent', 'sendDelivery');
      return { deliveryId: input.deliveryId, status: 'sent', refusedRecipients: 0 };
    },
  };
  // The real composition of the two steps, over the scripted ones.
  const { exportWindows } = createExportWindowsActivities(steps);
  const activities: WorkflowActivities = {
    ...steps,
    async exportWindows(input) {
      calls.exportWindows.push(input);
      return exportWindows(input);
    },
    async recordWindowOutcome(input) {
      calls.recordWindowOutcome.push(input);
      return { paused: false };
    },
    async prepareResend(input) {
      calls.prepareResend.push(input);
      return answer(script.prepared, 'prepareResend');
    },
  };
  return { activities, calls };
}

function answer<T>(scripted: Answer<T> | undefined, activity: string): T {
  // Non-retryable: an unscripted call fails the run at once instead of retrying for minutes.
  if (scripted === undefined)
    throw ApplicationFailure.nonRetryable(
      `${activity} called more often than the test scripted`,
      'UnscriptedCall',
    );
  if (scripted instanceof Error) throw scripted;
  return scripted;
}

/** A window summary as freezeWindow returns it; `overrides` set what the test is about. */
export function windowSummary(
  overrides: Partial<DeliveredWindowSummary> & Pick<DeliveredWindowSummary, 'status'>,
): DeliveredWindowSummary;
export function windowSummary(
  overrides: Partial<NoWindowSummary> & Pick<NoWindowSummary, 'status' | 'deliveryId'>,
): NoWindowSummary;
export function windowSummary(
  overrides: Partial<WindowSummary> & Pick<WindowSummary, 'status'>,
): WindowSummary {
  // The test states the status and, for a run without a window, deliveryId: null.
  return <WindowSummary>{
    interfaceId: 42,
    deliveryId: 7,
    kind: 'scheduled',
    windowStart: '2026-05-01T10:00:00.000Z',
    windowEnd: '2026-05-01T10:15:00.000Z',
    ticketCount: 3,
    partCount: 1,
    resumed: false,
    ...overrides,
  };
}

/** What a non-retryable activity failure looks like (SMTP 5xx, invalid configuration). */
export function permanentFailure(type: string, message = `${type} in a test`): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}
