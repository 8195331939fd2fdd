/**
 * describeFailure (workflows/failures.ts) decides whether a failed run counts toward pausing an
 * interface. The workflow tests show the permanent case; the transient cases need an activity to
 * exhaust its retries (about an hour of backoff), so they are checked here on the failures the
 * workflow would receive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ActivityFailure,
  ApplicationFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import { FailureTypes } from '../../workflows/boundary';
import { describeFailure } from '../../workflows/failures';

function afterRetries(cause: Error): ActivityFailure {
  return new ActivityFailure(
    'Activity task failed',
    'sendDelivery',
    '1',
    RetryState.MAXIMUM_ATTEMPTS_REACHED,
    'worker',
    cause,
  );
}

test('a non-retryable activity failure is permanent and keeps its type and message', () => {
  const failure = afterRetries(
    ApplicationFailure.nonRetryable('SMTP refused: 550 no such user', FailureTypes.smtpPermanent),
  );
  assert.deepEqual(describeFailure(failure), {
    type: FailureTypes.smtpPermanent,
    message: 'SMTP refused: 550 no such user',
    permanent: true,
  });
});

test('retries that ran out (an SMTP outage) are transient: they must never pause an interface', () => {
  const failure = afterRetries(
    ApplicationFailure.retryable('SMTP failed: connect ECONNREFUSED', 'SmtpError'),
  );
  assert.deepEqual(describeFailure(failure), {
    type: 'SmtpError',
    message: 'SMTP failed: connect ECONNREFUSED',
    permanent: false,
  });
});

test('a timed-out activity (a dead worker, a hung server) is transient', () => {
  const failure = afterRetries(new TimeoutFailure('activity timeout', undefined, TimeoutType.HEARTBEAT));
  assert.deepEqual(describeFailure(failure), {
    type: 'Timeout',
    message: 'activity timeout',
    permanent: false,
  });
});
