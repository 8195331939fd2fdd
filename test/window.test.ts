import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planWindow } from '../lib/window';
import type { SourceHorizon } from '../lib/source/ticket-source';

const at = (time: string) => new Date(`2026-11-29T${time}Z`);
const quiet = (dbNow = at('10:20:00')): SourceHorizon => ({ dbNow, oldestOpen: null, hiddenSessions: 0 });
const MINUTE = 60_000;

test('a window runs from the watermark to the scheduled time minus the lag', () => {
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('10:15:00'),
    lagMillis: MINUTE,
    horizon: quiet(),
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.deepEqual(plan, { start: at('10:00:00'), end: at('10:14:00'), heldBack: null });
});

test('the database clock bounds the end when Temporal runs ahead of it', () => {
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('10:15:00'),
    lagMillis: 0,
    horizon: quiet(at('10:10:00')),
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.equal(plan?.end.toISOString(), at('10:10:00').toISOString());
});

test('an open transaction holds the end at its start, so its tickets fall in a later window', () => {
  const horizon: SourceHorizon = {
    dbNow: at('10:20:00'),
    oldestOpen: { pid: 42, xactStart: at('10:07:30'), applicationName: 'pos' },
    hiddenSessions: 0,
  };
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('10:15:00'),
    lagMillis: 0,
    horizon,
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.equal(plan?.end.toISOString(), at('10:07:30').toISOString());
  assert.equal(plan?.heldBack?.pid, 42);
  assert.equal(plan?.heldBack?.beyondBound, false);
});

test('a transaction older than the bound holds the end back by the bound only, and is flagged', () => {
  const horizon: SourceHorizon = {
    dbNow: at('12:00:00'),
    oldestOpen: { pid: 7, xactStart: at('09:00:00'), applicationName: 'forgotten' },
    hiddenSessions: 0,
  };
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('11:30:00'),
    lagMillis: 0,
    horizon,
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.equal(plan?.end.toISOString(), at('10:30:00').toISOString());
  assert.equal(plan?.heldBack?.beyondBound, true);
});

test('nothing is due while the end would not pass the watermark', () => {
  const horizon: SourceHorizon = {
    dbNow: at('10:20:00'),
    oldestOpen: { pid: 1, xactStart: at('09:59:00'), applicationName: '' },
    hiddenSessions: 0,
  };
  assert.equal(
    planWindow({
      start: at('10:00:00'),
      scheduledAt: at('10:15:00'),
      lagMillis: 0,
      horizon,
      maxHoldbackMillis: 60 * MINUTE,
    }),
    null,
  );
  assert.equal(
    planWindow({
      start: at('10:00:00'),
      scheduledAt: at('10:00:30'),
      lagMillis: MINUTE,
      horizon: quiet(),
      maxHoldbackMillis: 60 * MINUTE,
    }),
    null,
  );
});

test('a transaction that started after the target end does not hold anything back', () => {
  const horizon: SourceHorizon = {
    dbNow: at('10:20:00'),
    oldestOpen: { pid: 3, xactStart: at('10:16:00'), applicationName: '' },
    hiddenSessions: 0,
  };
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('10:15:00'),
    lagMillis: 0,
    horizon,
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.equal(plan?.end.toISOString(), at('10:15:00').toISOString());
  assert.equal(plan?.heldBack, null);
});

test('window ends fall on whole seconds, so two windows never share a file name or Message-ID', () => {
  const horizon: SourceHorizon = {
    dbNow: at('10:20:00'),
    oldestOpen: { pid: 9, xactStart: new Date('2026-11-29T10:07:30.456Z'), applicationName: '' },
    hiddenSessions: 0,
  };
  const plan = planWindow({
    start: at('10:00:00'),
    scheduledAt: at('10:15:00'),
    lagMillis: 0,
    horizon,
    maxHoldbackMillis: 60 * MINUTE,
  });
  assert.equal(plan?.end.toISOString(), '2026-11-29T10:07:30.000Z');
  const sameSecond: SourceHorizon = {
    ...horizon,
    oldestOpen: { ...horizon.oldestOpen!, xactStart: new Date('2026-11-29T10:07:30.900Z') },
  };
  assert.equal(
    planWindow({
      start: plan!.end,
      scheduledAt: at('10:15:00'),
      lagMillis: 0,
      horizon: sameSecond,
      maxHoldbackMillis: 60 * MINUTE,
    }),
    null,
    'nothing due within the same second',
  );
});
