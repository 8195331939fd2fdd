import { WorkflowFailedError } from '@temporalio/client';
import { BarcodesError } from '../errors';

/**
 * What a failed workflow says, as one typed error: the deepest cause's message (an activity's
 * ApplicationFailure under its ActivityFailure), the original kept as the cause. One place for
 * `barcodes run`, backfill and resend.
 */
export function workflowFailure(error: unknown, what: string): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  const cause = (error.cause?.cause ?? error.cause) as Error | undefined;
  return new BarcodesError(`${what} failed: ${cause?.message ?? error.message}`, 'RUN_FAILED', {
    cause: error,
  });
}
