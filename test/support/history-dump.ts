import type { Client } from '@temporalio/client';

/**
 * Everything Temporal stores about a task queue's runs, as one searchable text: the complete
 * history of every workflow (inputs, results, activity inputs and results, heartbeats, memos,
 * search attributes, failures) and the schedules' raw descriptions. Payload bytes are shown as
 * UTF-8 text, the way anyone reading the server's database or the UI without a codec sees them.
 */
export interface TemporalDump {
  /** The serialised histories and schedules, one field per line. */
  text: string;
  /** Ids of the workflow runs dumped. */
  workflowIds: string[];
}

export async function dumpTemporal(
  client: Client,
  options: { taskQueue: string; scheduleIds: string[] },
): Promise<TemporalDump> {
  const parts: string[] = [];
  const workflowIds: string[] = [];
  for await (const execution of client.workflow.list()) {
    if (execution.taskQueue !== options.taskQueue) continue;
    workflowIds.push(execution.workflowId);
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    parts.push(serialise(history));
    // The raw visibility record too (memo and search attributes as stored).
    parts.push(serialise(execution.raw));
  }
  for (const scheduleId of options.scheduleIds) {
    const raw = await client.workflowService
      .describeSchedule({ namespace: client.options.namespace, scheduleId })
      .catch(() => undefined);
    if (raw) parts.push(serialise(raw));
  }
  return { text: parts.join('\n'), workflowIds };
}

/**
 * A protobuf message as text, one `path: value` line per field, with every byte string decoded as
 * UTF-8 and no escaping (a CSV line with quotes must be found as written). Walks the fields
 * itself: JSON.stringify would call protobufjs' toJSON, which turns bytes into base64 and would
 * hide a barcode inside a payload from any search.
 */
export function serialise(message: unknown): string {
  const lines: string[] = [];
  walk(message, '', lines);
  return lines.join('\n');
}

function walk(value: unknown, path: string, lines: string[]): void {
  if (value === null || value === undefined) return;
  if (value instanceof Uint8Array) lines.push(`${path}: ${Buffer.from(value).toString('utf8')}`);
  else if (value instanceof Date) lines.push(`${path}: ${value.toISOString()}`);
  else if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${path}[${index}]`, lines));
  else if (typeof value === 'object')
    for (const [key, field] of Object.entries(value)) walk(field, path ? `${path}.${key}` : key, lines);
  else lines.push(`${path}: ${String(value)}`);
}

/** The needles found in the text (empty when none): for an assertion message that shows no dump. */
export function occurrences(text: string, needles: Iterable<string>): string[] {
  return [...new Set(needles)].filter((needle) => needle.length > 0 && text.includes(needle));
}
