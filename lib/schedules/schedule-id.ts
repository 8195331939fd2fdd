/**
 * Schedule ids. Each deployment (one exporter database) names its schedules
 * `barcodes-<deployment id>-<interface id>`, so two deployments sharing one Temporal namespace
 * never touch each other's schedules; names people read go into memos and summaries, not ids.
 * Releases before deployment ids wrote `barcodes-<interface id>`: `schedules sync` moves those.
 */
const SCHEDULE_PREFIX = 'barcodes-';

export function scheduleIdFor(deploymentId: string, interfaceId: number): string {
  return `${SCHEDULE_PREFIX}${deploymentId}-${interfaceId}`;
}

/**
 * The deployment a workflow of this product belongs to, read off its id (runs of schedules and
 * backfills and resends are all named `barcodes-<deployment>-<interface>-…`); null for ids of
 * earlier releases and of anything else.
 */
export function deploymentOfWorkflow(workflowId: string): string | null {
  return /^barcodes-([a-z][a-z0-9]{3,15})-\d/.exec(workflowId)?.[1] ?? null;
}

/** The interface id of one of this deployment's schedule ids, or null for any other id. */
export function interfaceIdOf(scheduleId: string, deploymentId: string): number | null {
  const own = `${SCHEDULE_PREFIX}${deploymentId}-`;
  if (!scheduleId.startsWith(own)) return null;
  const rest = scheduleId.slice(own.length);
  return /^\d{1,15}$/.test(rest) ? Number(rest) : null;
}
