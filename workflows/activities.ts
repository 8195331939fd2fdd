import { proxyActivities } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';

/**
 * How anything that sends is retried: transient SMTP or destination faults with backoff for about
 * an hour (16 attempts, 5 s doubling to 5 minutes); after that the run fails and the window stays
 * frozen in the ledger for the next run.
 */
const SENDING_RETRY: RetryPolicy = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  maximumAttempts: 16,
};

// Freezing streams a whole window (up to millions of rows) into the ledger: generous time, but the
// activities heartbeat every 5 s, so a dead worker is noticed within 20 s, not at the timeout.
export const { freezeWindow, freezeBackfillWindow, prepareResend } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 10,
  },
});

// Sending retries transient SMTP faults with backoff for about an hour; after that the run fails,
// the window stays frozen in the ledger, and the next scheduled run sends it unchanged.
export const { sendDelivery } = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '20 seconds',
  retry: SENDING_RETRY,
});

// A whole run in one activity (input version 4 on): freezing and sending, each heartbeating.
// Retried like sending (transient SMTP faults for about an hour); a retry finds the frozen window
// in the ledger and sends it unchanged.
export const { exportWindows } = proxyActivities<Activities>({
  startToCloseTimeout: '45 minutes',
  heartbeatTimeout: '20 seconds',
  retry: SENDING_RETRY,
});

export const { recordWindowOutcome } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 20,
  },
});
