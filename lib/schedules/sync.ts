import { Client, ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../config';
import type { ExportInterface } from '../interfaces/store';
import { EXPORT_WINDOW_INPUT_VERSION, type ExportWindowInput } from '../../workflows/export-window-input';
import { ALL_SEARCH_ATTRIBUTES, InterfaceIdKey } from '../../workflows/search-attributes';
import { temporal } from '@temporalio/proto';

export const SCHEDULE_PREFIX = 'barcodes-';
export const WORKFLOW_TYPE = 'exportWindow';
/**
 * After an outage of the Temporal server (or of every worker), one missed run is started at once
 * if it is younger than this; since a run covers everything since the watermark, one is enough.
 */
export const CATCHUP_WINDOW = '7 days';

export function scheduleIdFor(interfaceId: number): string {
  return `${SCHEDULE_PREFIX}${interfaceId}`;
}

export type ScheduleAction = 'created' | 'updated' | 'paused' | 'resumed' | 'deleted';

export interface ScheduleChange {
  scheduleId: string;
  interfaceId: number | null;
  action: ScheduleAction;
  detail: string;
}

export interface SyncReport {
  changes: ScheduleChange[];
  /** Interfaces left without a schedule, and why (not a change: said on every run). */
  unscheduled: { interfaceId: number; reason: string }[];
}

/** Why an interface gets no schedule, or null when it should have one. */
export function unscheduledReason(iface: ExportInterface): string | null {
  if (iface.contacts.length === 0 && iface.channels.length === 0) return 'it has no contact or sales channel mapping';
  return null;
}

/** Where in its interval an interface's schedule fires. */
export interface ScheduleTiming {
  /** Every tick shifted by this much from the epoch-aligned interval boundaries (:00, :15, …). */
  phaseMillis: number;
  /**
   * Each interface fires at its own fixed offset within this span after the tick (derived from
   * its id), so many interfaces do not all start in the same second; 0: all on the tick.
   */
  spreadMillis: number;
}

/**
 * All on the tick. A spread was measured (docs/performance.md) and is not the default: it does
 * not deliver a thousand windows sooner, it only moves load from the tick into the spread.
 */
export const DEFAULT_SCHEDULE_TIMING: ScheduleTiming = { phaseMillis: 0, spreadMillis: 0 };

/** 2^32 / φ: multiplying ids by it scatters consecutive ids evenly over the spread (Fibonacci hashing). */
const FIBONACCI_MULTIPLIER = 0x9e3779b9;

/**
 * The offset of an interface's ticks from the epoch-aligned interval boundaries, in whole seconds
 * (Temporal rounds interval offsets to the second).
 */
export function intervalOffsetMillis(iface: Pick<ExportInterface, 'id' | 'intervalSeconds'>, timing: ScheduleTiming): number {
  const intervalMillis = iface.intervalSeconds * 1000;
  const spreadMillis = Math.min(timing.spreadMillis, intervalMillis);
  const slot = spreadMillis > 0 ? ((Math.imul(iface.id, FIBONACCI_MULTIPLIER) >>> 0) / 2 ** 32) * spreadMillis : 0;
  const offset = (((timing.phaseMillis + slot) % intervalMillis) + intervalMillis) % intervalMillis;
  return (Math.floor(offset / 1000) * 1000) % intervalMillis;
}

function desiredOptions(iface: ExportInterface, config: Config, timing: ScheduleTiming): ScheduleOptions {
  const offset = intervalOffsetMillis(iface, timing);
  return {
    scheduleId: scheduleIdFor(iface.id),
    // Without an offset the spec is exactly what earlier versions wrote, so they stay in sync.
    spec: { intervals: [offset === 0 ? { every: iface.intervalSeconds * 1000 } : { every: iface.intervalSeconds * 1000, offset }] },
    action: {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPE,
      // The server appends the scheduled time, so every run has a unique, sortable id.
      workflowId: scheduleIdFor(iface.id),
      taskQueue: config.taskQueue,
      args: [{ interfaceId: iface.id, version: EXPORT_WINDOW_INPUT_VERSION } satisfies ExportWindowInput],
      typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
      staticSummary: `Barcodes for ${iface.name}`,
    },
    policies: {
      // Never two windows of one interface at once; one run waits behind a long one.
      overlap: ScheduleOverlapPolicy.BUFFER_ONE,
      catchupWindow: CATCHUP_WINDOW,
      pauseOnFailure: false,
    },
    memo: { interfaceName: iface.name },
    typedSearchAttributes: [{ key: InterfaceIdKey, value: String(iface.id) }],
    state: {
      paused: !iface.enabled,
      note: iface.enabled ? undefined : 'interface disabled (barcodes interface enable ID resumes it)',
    },
  };
}

/** What differs between a schedule as it is and as the interface wants it (empty: nothing). */
function differences(current: ScheduleDescription, iface: ExportInterface, config: Config, timing: ScheduleTiming): string[] {
  const found: string[] = [];
  const every = current.spec.intervals?.[0]?.every;
  if (every !== iface.intervalSeconds * 1000 || (current.spec.intervals?.length ?? 0) !== 1) found.push(`interval ${iface.intervalSeconds}s`);
  const offset = intervalOffsetMillis(iface, timing);
  if ((current.spec.intervals?.[0]?.offset ?? 0) !== offset) found.push(`offset ${offset / 1000}s`);
  const action = current.action;
  if (action.taskQueue !== config.taskQueue) found.push(`task queue ${config.taskQueue}`);
  const args = action.args as Partial<ExportWindowInput>[];
  if (action.workflowType !== WORKFLOW_TYPE || args?.[0]?.interfaceId !== iface.id) found.push('workflow');
  else if (args[0].version !== EXPORT_WINDOW_INPUT_VERSION) found.push(`workflow input version ${EXPORT_WINDOW_INPUT_VERSION}`);
  if (current.policies.overlap !== ScheduleOverlapPolicy.BUFFER_ONE) found.push('overlap policy');
  return found;
}

/**
 * Makes one interface's schedule match its configuration. Returns what changed (empty when it
 * already matched), so `schedules sync` is idempotent and says exactly what it did.
 */
export async function syncInterfaceSchedule(
  client: Client,
  iface: ExportInterface,
  config: Config,
  timing: ScheduleTiming = DEFAULT_SCHEDULE_TIMING,
): Promise<ScheduleChange[]> {
  const scheduleId = scheduleIdFor(iface.id);
  const handle = client.schedule.getHandle(scheduleId);
  const current = await describeOrUndefined(client, scheduleId);
  const reason = unscheduledReason(iface);
  if (reason) {
    if (!current) return [];
    await handle.delete();
    return [{ scheduleId, interfaceId: iface.id, action: 'deleted', detail: reason }];
  }
  if (!current) {
    await client.schedule.create(desiredOptions(iface, config, timing));
    return [{ scheduleId, interfaceId: iface.id, action: 'created', detail: `every ${iface.intervalSeconds}s${iface.enabled ? '' : ', paused'}` }];
  }
  const changes: ScheduleChange[] = [];
  const differing = differences(current, iface, config, timing);
  if (differing.length > 0) {
    const desired = desiredOptions(iface, config, timing);
    await handle.update((previous) => ({ ...previous, spec: desired.spec, action: desired.action, policies: { ...previous.policies, ...desired.policies } }));
    changes.push({ scheduleId, interfaceId: iface.id, action: 'updated', detail: differing.join(', ') });
  }
  if (current.state.paused && iface.enabled) {
    await handle.unpause('interface enabled');
    changes.push({ scheduleId, interfaceId: iface.id, action: 'resumed', detail: 'interface enabled' });
  } else if (!current.state.paused && !iface.enabled) {
    await handle.pause('interface disabled (barcodes interface enable ID resumes it)');
    changes.push({ scheduleId, interfaceId: iface.id, action: 'paused', detail: 'interface disabled' });
  }
  return changes;
}

/** Deletes the schedule of an interface that no longer exists. */
export async function deleteInterfaceSchedule(client: Client, interfaceId: number): Promise<ScheduleChange[]> {
  const scheduleId = scheduleIdFor(interfaceId);
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return [{ scheduleId, interfaceId, action: 'deleted', detail: 'interface deleted' }];
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return [];
    throw error;
  }
}

/** The starter: makes Temporal's schedules match the interfaces (create, update, pause, delete). */
export async function syncSchedules(
  client: Client,
  interfaces: ExportInterface[],
  config: Config,
  timing: ScheduleTiming = DEFAULT_SCHEDULE_TIMING,
): Promise<SyncReport> {
  await ensureSearchAttributes(client, config.temporalNamespace);
  const changes: ScheduleChange[] = [];
  const unscheduled: SyncReport['unscheduled'] = [];
  for (const iface of interfaces) {
    changes.push(...(await syncInterfaceSchedule(client, iface, config, timing)));
    const reason = unscheduledReason(iface);
    if (reason) unscheduled.push({ interfaceId: iface.id, reason });
  }
  const known = new Set(interfaces.map((iface) => scheduleIdFor(iface.id)));
  for await (const summary of client.schedule.list()) {
    if (!summary.scheduleId.startsWith(SCHEDULE_PREFIX) || known.has(summary.scheduleId)) continue;
    const id = Number(summary.scheduleId.slice(SCHEDULE_PREFIX.length));
    if (!Number.isInteger(id)) continue;
    changes.push(...(await deleteInterfaceSchedule(client, id)));
  }
  return { changes, unscheduled };
}

export async function describeOrUndefined(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

/**
 * Registers the custom search attributes when they are missing. Works on a dev server and a
 * self-hosted cluster; on Temporal Cloud they are added in the Cloud UI (the error says so).
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<void> {
  const operator = client.connection.operatorService;
  const existing = await operator.listSearchAttributes({ namespace });
  const missing = ALL_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  try {
    await operator.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]!])),
    });
  } catch (error) {
    throw new Error(
      `cannot register search attributes ${missing.map((key) => key.name).join(', ')} in namespace ${namespace} (add them with \`temporal operator search-attribute create\` or the Cloud UI): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
