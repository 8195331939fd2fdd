/**
 * The Temporal server's own count of actions: its `action` counter (Prometheus), which Temporal
 * publishes for estimating Temporal Cloud actions from a self-hosted service. The dev server serves
 * its metrics on a port of its own choosing and names it in its log ("Temporal Metrics: <url>").
 */
import { readFileSync } from 'node:fs';

export interface MetricsServer {
  /** Where the dev server writes its startup banner. */
  logFile: string;
  namespace: string;
}

/** The dev server's metrics endpoint, from its log; null when the log does not name one. */
export function metricsUrlOf(server: MetricsServer): string | null {
  const match = /Temporal Metrics:\s+(http:\/\/\S+)/.exec(readFileSync(server.logFile, 'utf8'));
  return match ? match[1]! : null;
}

/** The server's `action` counter for the namespace, by action_type (summed over other labels); null when unreadable. */
export async function readServerActions(server: MetricsServer): Promise<Map<string, number> | null> {
  const url = metricsUrlOf(server);
  if (url === null) return null;
  let text: string;
  try {
    const response = await fetch(url);
    if (!response.ok) return null;
    text = await response.text();
  } catch {
    return null;
  }
  const actions = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^action\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = new Map(
      [...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1]!, label[2]!]),
    );
    if (labels.get('namespace') !== server.namespace) continue;
    const type = labels.get('action_type') ?? labels.get('operation') ?? '?';
    actions.set(type, (actions.get(type) ?? 0) + Number(match[2]));
  }
  return actions;
}

/** after − before, by action type, without the types that did not move. */
export function actionsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [type, value] of after) {
    const moved = value - (before.get(type) ?? 0);
    if (moved > 0) delta.set(type, moved);
  }
  return delta;
}

/**
 * readServerActions until two reads a second apart agree (the server publishes its counters on
 * an interval, so a read just after the work may miss the last of it), or until `maxMillis`.
 */
export async function readSettledServerActions(
  server: MetricsServer,
  maxMillis: number,
): Promise<Map<string, number> | null> {
  const deadline = Date.now() + maxMillis;
  let last = await readServerActions(server);
  while (last !== null && Date.now() + 1_000 <= deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const next = await readServerActions(server);
    if (next === null) return last;
    if (sameCounts(last, next)) return next;
    last = next;
  }
  return last;
}

function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([type, value]) => b.get(type) === value);
}
