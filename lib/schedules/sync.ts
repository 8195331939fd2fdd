import {
  Client,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributePair } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Config } from '../config';
import { UnavailableError } from '../errors';
import { unscheduledReason } from '../interfaces/schedulability';
import { interfaceTitle } from '../interfaces/title';
import { formatDuration } from '../duration';
import type { ExportInterface, InterfaceStore } from '../interfaces/store';
import {
  ALL_SEARCH_ATTRIBUTES,
  EXPORT_WINDOW_INPUT_VERSION,
  InterfaceIdKey,
  InterfaceNameKey,
  type BarcodesWorkflows,
  type ExportWindowInput,
  type WorkflowName,
} from '../../workflows/boundary';
import { interfaceIdOf, scheduleIdFor } from './schedule-id';

export { unscheduledReason } from '../interfaces/schedulability';

const WORKFLOW_TYPE = 'exportWindow' satisfies WorkflowName;
/**
 * After an outage of the Temporal server (or of every worker), one missed run is started at once
 * if it is younger than this; since a run covers everything since the watermark, one is enough.
 */
const CATCHUP_WINDOW = '7 days';
const DISABLED_NOTE = 'interface disabled (barcodes interface enable ID resumes it)';

/** Where one deployment's schedules live: its Temporal client and namespace, task queue, id. */
export interface ScheduleScope {
  client: Client;
  config: Pick<Config, 'taskQueue' | 'temporalNamespace'>;
  /** This deployment's id (lib/deployment.ts): part of every schedule id and memo. */
  deploymentId: string;
  timing?: ScheduleTiming;
}

/** What a schedule's memo says about whose it is (written at creation). */
interface ScheduleMemo {
  deploymentId: string;
  interfaceId: number;
  interfaceName: string;
}

type ScheduleAction = 'created' | 'updated' | 'paused' | 'resumed' | 'deleted';

export interface ScheduleChange {
  scheduleId: string;
  interfaceId: number | null;
  action: ScheduleAction;
  detail: string;
}

interface SyncReport {
  changes: ScheduleChange[];
  /** Interfaces left without a schedule, and why (not a change: said on every run). */
  unscheduled: { interfaceId: number; reason: string }[];
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
const DEFAULT_SCHEDULE_TIMING: ScheduleTiming = { phaseMillis: 0, spreadMillis: 0 };

/** 2^32 / φ: multiplying ids by it scatters consecutive ids evenly over the spread (Fibonacci hashing). */
const FIBONACCI_MULTIPLIER = 0x9e3779b9;

/**
 * The offset of an interface's ticks from the epoch-aligned interval boundaries, in whole seconds
 * (Temporal rounds interval offsets to the second).
 */
export function intervalOffsetMillis(
  iface: Pick<ExportInterface, 'id' | 'intervalSeconds'>,
  timing: ScheduleTiming,
): number {
  const intervalMillis = iface.intervalSeconds * 1000;
  const spreadMillis = Math.min(timing.spreadMillis, intervalMillis);
  const slot =
    spreadMillis > 0 ? ((Math.imul(iface.id, FIBONACCI_MULTIPLIER) >>> 0) / 2 ** 32) * spreadMillis : 0;
  const offset = (((timing.phaseMillis + slot) % intervalMillis) + intervalMillis) % intervalMillis;
  return (Math.floor(offset / 1000) * 1000) % intervalMillis;
}

/** The schedule an interface wants; its action's arguments are checked as exportWindow's input. */
function desiredOptions(
  scope: ScheduleScope,
  iface: ExportInterface,
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<BarcodesWorkflows['exportWindow']>> {
  const offset = intervalOffsetMillis(iface, scope.timing ?? DEFAULT_SCHEDULE_TIMING);
  const scheduleId = scheduleIdFor(scope.deploymentId, iface.id);
  return {
    scheduleId,
    // Without an offset the spec is exactly what earlier versions wrote, so they stay in sync.
    spec: {
      intervals: [
        offset === 0
          ? { every: iface.intervalSeconds * 1000 }
          : { every: iface.intervalSeconds * 1000, offset },
      ],
    },
    action: {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPE,
      // The server appends the scheduled time, so every run has a unique, sortable id.
      workflowId: scheduleId,
      taskQueue: scope.config.taskQueue,
      args: [inputFor(scope, iface)],
      // Every run starts with them, so even one that fails at once names its interface in the UI.
      typedSearchAttributes: interfaceSearchAttributes(iface),
      // The run's summary (its page's User Metadata and first history event), not in its history's count.
      staticSummary: runSummary(iface),
      staticDetails: runDetails(scope, iface),
    },
    policies: {
      // Never two windows of one interface at once; one run waits behind a long one.
      overlap: ScheduleOverlapPolicy.BUFFER_ONE,
      catchupWindow: CATCHUP_WINDOW,
      pauseOnFailure: false,
    },
    memo: {
      deploymentId: scope.deploymentId,
      interfaceId: iface.id,
      interfaceName: iface.name,
    } satisfies ScheduleMemo,
    // Columns of the UI's Schedules list; unlike the memo they can be updated, so a rename shows.
    typedSearchAttributes: interfaceSearchAttributes(iface),
    state: { paused: !iface.enabled, note: iface.enabled ? undefined : pauseNote(iface) },
  };
}

/** Interface id and name, on a schedule and on each of its runs: what the UI's lists can show and filter by. */
export function interfaceSearchAttributes(iface: Pick<ExportInterface, 'id' | 'name'>) {
  return [
    { key: InterfaceIdKey, value: String(iface.id) },
    { key: InterfaceNameKey, value: iface.name },
  ];
}

/** One line naming the reseller and the interface id, e.g. "Barcodes for Acme (interface 5)". */
export function runSummary(iface: Pick<ExportInterface, 'id' | 'name'>): string {
  return `${interfaceTitle(iface.name)} (interface ${iface.id})`;
}

/** Where to look further, shown under the summary (Markdown); the same for every run of the interface. */
function runDetails(scope: Pick<ScheduleScope, 'deploymentId'>, iface: Pick<ExportInterface, 'id'>): string {
  return (
    `Interface ${iface.id} of deployment ${scope.deploymentId}. All its runs: \`BarcodesInterfaceId = "${iface.id}"\`; ` +
    `its deliveries: \`barcodes deliveries ${iface.id}\`; its configuration: \`barcodes interface show ${iface.id}\`.`
  );
}

/** The workflow input a schedule gives its runs: who they are for, and from which configuration. */
function inputFor(scope: ScheduleScope, iface: ExportInterface): ExportWindowInput {
  return {
    interfaceId: iface.id,
    version: EXPORT_WINDOW_INPUT_VERSION,
    deploymentId: scope.deploymentId,
    configVersion: iface.configVersion,
  };
}

function pauseNote(iface: ExportInterface): string {
  return iface.pausedReason ?? DISABLED_NOTE;
}

/** What differs between a schedule as it is and as the interface wants it (empty: nothing). */
export function scheduleDrift(
  scope: ScheduleScope,
  current: ScheduleDescription,
  iface: ExportInterface,
): string[] {
  const found: string[] = [];
  const every = current.spec.intervals?.[0]?.every;
  if (every !== iface.intervalSeconds * 1000 || (current.spec.intervals?.length ?? 0) !== 1)
    found.push(`interval ${formatDuration(iface.intervalSeconds * 1000)}`);
  const offset = intervalOffsetMillis(iface, scope.timing ?? DEFAULT_SCHEDULE_TIMING);
  if ((current.spec.intervals?.[0]?.offset ?? 0) !== offset) found.push(`offset ${offset / 1000}s`);
  if (current.spec.timezone && current.spec.timezone !== 'UTC') found.push('time zone UTC');
  const action = current.action;
  if (action.taskQueue !== scope.config.taskQueue) found.push(`task queue ${scope.config.taskQueue}`);
  const args = action.args as Partial<ExportWindowInput>[];
  const wanted = inputFor(scope, iface);
  if (action.workflowType !== WORKFLOW_TYPE || args?.[0]?.interfaceId !== iface.id) found.push('workflow');
  else if (args[0].version !== wanted.version) found.push(`workflow input version ${wanted.version}`);
  else if (args[0].deploymentId !== wanted.deploymentId) found.push(`deployment ${wanted.deploymentId}`);
  else if (args[0].configVersion !== wanted.configVersion)
    found.push(`configuration version ${wanted.configVersion}`);
  if (current.policies.overlap !== ScheduleOverlapPolicy.BUFFER_ONE) found.push('overlap policy');
  // A schedule written before names were shown. Judged by the action alone: the schedule's own
  // search attributes are applied by the server after an update returns, so a describe right
  // after one may still show the old ones; every update writes them with the action.
  if (
    action.staticSummary !== runSummary(iface) ||
    action.staticDetails !== runDetails(scope, iface) ||
    nameIn(action.typedSearchAttributes) !== iface.name
  ) {
    found.push(`name ${JSON.stringify(iface.name)} in the UI`);
  }
  return found;
}

function nameIn(attributes: TypedSearchAttributes | SearchAttributePair[] | undefined): string | undefined {
  if (attributes instanceof TypedSearchAttributes) return attributes.get(InterfaceNameKey);
  return attributes?.find((pair) => pair.key.name === InterfaceNameKey.name)?.value as string | undefined;
}

/** Whether the schedule's paused state differs from the interface's enabled state. */
export function pauseDrift(current: ScheduleDescription, iface: ExportInterface): string | null {
  if (current.state.paused && iface.enabled) return 'schedule paused, interface enabled';
  if (!current.state.paused && !iface.enabled) return 'schedule active, interface disabled';
  return null;
}

/**
 * Makes one interface's schedule match the given snapshot of it. Returns what changed (empty when
 * it already matched), so `schedules sync` is idempotent and says exactly what it did. Callers
 * that may race with configuration changes use applyInterfaceSchedule, which reads the snapshot
 * fresh under a lock.
 */
export async function syncInterfaceSchedule(
  scope: ScheduleScope,
  iface: ExportInterface,
): Promise<ScheduleChange[]> {
  const { client } = scope;
  const scheduleId = scheduleIdFor(scope.deploymentId, iface.id);
  const handle = client.schedule.getHandle(scheduleId);
  const current = await describeOrUndefined(client, scheduleId);
  const reason = unscheduledReason(iface);
  if (reason) {
    if (!current) return [];
    await handle.delete();
    return [{ scheduleId, interfaceId: iface.id, action: 'deleted', detail: reason }];
  }
  if (!current) {
    await client.schedule.create(desiredOptions(scope, iface));
    return [
      {
        scheduleId,
        interfaceId: iface.id,
        action: 'created',
        detail: `every ${formatDuration(iface.intervalSeconds * 1000)}${iface.enabled ? '' : ', paused'}`,
      },
    ];
  }
  const changes: ScheduleChange[] = [];
  const differing = scheduleDrift(scope, current, iface);
  if (differing.length > 0) {
    const desired = desiredOptions(scope, iface);
    await handle.update((previous) => ({
      ...previous,
      spec: desired.spec,
      action: desired.action,
      policies: { ...previous.policies, ...desired.policies },
      // The schedule's own attributes are rewritten whole: the name may have changed.
      searchAttributes: undefined,
      typedSearchAttributes: desired.typedSearchAttributes,
    }));
    changes.push({ scheduleId, interfaceId: iface.id, action: 'updated', detail: differing.join(', ') });
  }
  if (current.state.paused && iface.enabled) {
    await handle.unpause('interface enabled');
    changes.push({ scheduleId, interfaceId: iface.id, action: 'resumed', detail: 'interface enabled' });
  } else if (!current.state.paused && !iface.enabled) {
    await handle.pause(pauseNote(iface));
    changes.push({
      scheduleId,
      interfaceId: iface.id,
      action: 'paused',
      detail: iface.pausedReason ? 'interface paused itself' : 'interface disabled',
    });
  }
  return changes;
}

/**
 * Applies the interface as it is committed now to its schedule. Applies of one interface are
 * serialised by a database lock and each reads the interface afresh under it, so concurrent
 * `interface update/enable/disable` commands (or a worker realigning a schedule) end with the
 * schedule equal to the last committed configuration, never an older snapshot.
 */
export async function applyInterfaceSchedule(
  scope: ScheduleScope,
  store: InterfaceStore,
  interfaceId: number,
): Promise<ScheduleChange[]> {
  return store.withScheduleLock(interfaceId, async (iface) => {
    const changes = iface
      ? await syncInterfaceSchedule(scope, iface)
      : await deleteInterfaceSchedule(scope, interfaceId);
    return [...changes, ...(await retireLegacySchedule(scope, interfaceId))];
  });
}

/** Deletes the schedule of an interface that no longer exists. */
async function deleteInterfaceSchedule(scope: ScheduleScope, interfaceId: number): Promise<ScheduleChange[]> {
  return deleteSchedule(
    scope.client,
    scheduleIdFor(scope.deploymentId, interfaceId),
    interfaceId,
    'interface deleted',
  );
}

async function deleteSchedule(
  client: Client,
  scheduleId: string,
  interfaceId: number,
  detail: string,
): Promise<ScheduleChange[]> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return [{ scheduleId, interfaceId, action: 'deleted', detail }];
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return [];
    throw error;
  }
}

/**
 * Deletes the `barcodes-<id>` schedule an earlier release wrote for this interface, once its
 * successor exists: the ledger keeps the interface's progress, so the new schedule carries on
 * with no gap, and a run of the old one still in flight cannot send a window twice (run claims).
 * Only a schedule that is provably this deployment's is touched: same interface id in its input,
 * same task queue, and no other deployment's id in its memo.
 */
async function retireLegacySchedule(scope: ScheduleScope, interfaceId: number): Promise<ScheduleChange[]> {
  const legacyId = `barcodes-${interfaceId}`;
  const legacy = await describeOrUndefined(scope.client, legacyId);
  if (!legacy || !isOurLegacySchedule(scope, legacy, interfaceId)) return [];
  return deleteSchedule(
    scope.client,
    legacyId,
    interfaceId,
    `moved to ${scheduleIdFor(scope.deploymentId, interfaceId)}`,
  );
}

function isOurLegacySchedule(
  scope: ScheduleScope,
  description: ScheduleDescription,
  interfaceId: number,
): boolean {
  const args = description.action.args as Partial<ExportWindowInput>[] | undefined;
  const memo = (description.memo ?? {}) as Partial<ScheduleMemo>;
  return (
    description.action.workflowType === WORKFLOW_TYPE &&
    args?.[0]?.interfaceId === interfaceId &&
    description.action.taskQueue === scope.config.taskQueue &&
    (memo.deploymentId === undefined || memo.deploymentId === scope.deploymentId)
  );
}

/**
 * The starter: makes this deployment's schedules match its interfaces (create, update, pause,
 * delete) and moves schedules of earlier releases to the current ids. Schedules of other
 * deployments on the same namespace are never touched.
 */
export async function syncSchedules(scope: ScheduleScope, store: InterfaceStore): Promise<SyncReport> {
  await ensureSearchAttributes(scope.client, scope.config.temporalNamespace);
  const changes: ScheduleChange[] = [];
  const unscheduled: SyncReport['unscheduled'] = [];
  const interfaces = await store.list();
  for (const iface of interfaces) {
    changes.push(...(await applyInterfaceSchedule(scope, store, iface.id)));
    const reason = unscheduledReason(iface);
    if (reason) unscheduled.push({ interfaceId: iface.id, reason });
  }
  const known = new Set(interfaces.map((iface) => iface.id));
  for await (const summary of scope.client.schedule.list()) {
    const own = interfaceIdOf(summary.scheduleId, scope.deploymentId);
    // Another id (another deployment's, or an earlier release's for an interface this database
    // does not have) is not provably ours: it is left alone.
    if (own !== null && !known.has(own)) changes.push(...(await applyInterfaceSchedule(scope, store, own)));
  }
  return { changes, unscheduled };
}

export async function describeOrUndefined(
  client: Client,
  scheduleId: string,
): Promise<ScheduleDescription | undefined> {
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
 * Registers the custom search attributes when they are missing; returns the names it registered.
 * Works on a dev server and a self-hosted cluster; on Temporal Cloud they are added with its own
 * tools (the error says so).
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const operator = client.connection.operatorService;
  const existing = await operator.listSearchAttributes({ namespace });
  const missing = ALL_SEARCH_ATTRIBUTES.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return [];
  try {
    await operator.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPE[key.type]!])),
    });
  } catch (error) {
    const list = missing.map((key) => `${key.name} (${key.type})`).join(', ');
    throw new UnavailableError(
      `namespace ${namespace} lacks search attributes ${list} and this role cannot add them: add them with \`temporal operator search-attribute create\` (self-hosted) or \`tcld namespace search-attributes add\` / the Cloud UI (Temporal Cloud), then run \`barcodes schedules sync\` (${(error as Error).message})`,
      { cause: error },
    );
  }
  return missing.map((key) => key.name);
}
