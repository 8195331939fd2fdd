import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import type { FailureInfo } from './boundary';

/**
 * Classifies what made a run fail. Only non-retryable application failures are permanent; retries
 * that ran out (an SMTP outage, a database restart) are transient and never pause an interface.
 */
export function describeFailure(error: unknown): FailureInfo {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return {
      type: cause.type ?? 'ApplicationFailure',
      message: cause.message,
      permanent: Boolean(cause.nonRetryable),
    };
  }
  if (cause instanceof TimeoutFailure) return { type: 'Timeout', message: cause.message, permanent: false };
  return {
    type: (cause as Error)?.name ?? 'Error',
    message: (cause as Error)?.message ?? String(cause),
    permanent: false,
  };
}
