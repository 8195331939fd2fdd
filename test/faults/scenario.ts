import { randomInt } from 'node:crypto';
import type { Sale } from '../../devstack/sales-simulator';
import { sleep } from '../../devstack/log';
import { FaultStack, type FaultStackOptions, type ScenarioInterface } from './fault-stack';
import { rowFrom, type ScenarioRow } from './report';
import type { SalesRecord } from './sales-writer';

/** `quick`: the CI subset, minutes; `full`: every scenario with long faults (tens of minutes). */
export type SuiteMode = 'quick' | 'full';

export interface ScenarioContext {
  mode: SuiteMode;
  /** Folder for worker logs, markers and Temporal database files (kept after a failed run). */
  workDir: string;
  /** Receives progress lines. */
  log: (line: string) => void;
}

export interface Scenario {
  /** Name used by `--only` and in the table. */
  name: string;
  /** What it proves, one line (`--list`). */
  summary: string;
  /** Whether `--quick` (and CI) runs it. */
  quick: boolean;
  /** Runs the scenario on a stack of its own; one row per case. */
  run(context: ScenarioContext): Promise<ScenarioRow[]>;
}

/** Picks the quick or the full value of a setting. */
export function byMode<T>(mode: SuiteMode, values: { quick: T; full: T }): T {
  return values[mode];
}

/** Starts a fault stack for one scenario and always closes it. */
export async function withFaultStack<T>(
  context: ScenarioContext,
  options: Omit<FaultStackOptions, 'workDir' | 'log'>,
  body: (stack: FaultStack) => Promise<T>,
): Promise<T> {
  const stack = await FaultStack.start({
    ...options,
    workDir: context.workDir,
    log: (line) => context.log(`${options.name}: ${line}`),
  });
  try {
    return await body(stack);
  } finally {
    await stack.close();
  }
}

/** Random orders over these buyers (null: anonymous) and channels, 1..maxTickets tickets each. */
export function randomSaleOver(contacts: (string | null)[], channels: string[], maxTickets = 4): () => Sale {
  return () => ({
    contactNumber: contacts[randomInt(contacts.length)]!,
    salesChannelCode: channels[randomInt(channels.length)]!,
    ticketCount: 1 + randomInt(maxTickets),
  });
}

/** Waits until an interface has this many sent windows with tickets (its schedule is delivering). */
export async function waitForSentWindows(
  stack: FaultStack,
  iface: ScenarioInterface,
  count: number,
  timeoutMillis: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const { rows } = await stack.stack.pool.query<{ sent: number }>(
      `SELECT count(*)::int AS sent FROM ${stack.stack.config.exporterSchema}.delivery
        WHERE interface_id = $1 AND status = 'sent' AND kind IN ('scheduled','run')`,
      [iface.id],
    );
    if (rows[0]!.sent >= count) return;
    if (Date.now() > deadline)
      throw new Error(
        `interface ${iface.id} sent ${rows[0]!.sent} windows in ${timeoutMillis} ms, expected ${count}`,
      );
    await sleep(250);
  }
}

/** Windows whose end an open source transaction held back (the late-commit mechanism at work). */
export async function heldBackWindows(
  stack: FaultStack,
  interfaces: readonly ScenarioInterface[],
): Promise<number> {
  const { rows } = await stack.stack.pool.query<{ held: number }>(
    `SELECT count(*)::int AS held FROM ${stack.stack.config.exporterSchema}.delivery WHERE interface_id = ANY($1) AND held_back IS NOT NULL`,
    [interfaces.map((iface) => iface.id)],
  );
  return rows[0]!.held;
}

/** Chain windows that needed more than one SMTP attempt. */
export async function retriedWindows(
  stack: FaultStack,
  interfaces: readonly ScenarioInterface[],
): Promise<number> {
  const { rows } = await stack.stack.pool.query<{ retried: number }>(
    `SELECT count(*)::int AS retried FROM ${stack.stack.config.exporterSchema}.delivery WHERE interface_id = ANY($1) AND attempts > 1`,
    [interfaces.map((iface) => iface.id)],
  );
  return rows[0]!.retried;
}

/** The longest chain window of these interfaces, in seconds: after an outage, one covers the gap. */
export async function longestWindowSeconds(
  stack: FaultStack,
  interfaces: readonly ScenarioInterface[],
): Promise<number> {
  const { rows } = await stack.stack.pool.query<{ seconds: number | null }>(
    `SELECT max(extract(epoch FROM window_end - window_start))::float AS seconds FROM ${stack.stack.config.exporterSchema}.delivery
      WHERE interface_id = ANY($1) AND kind IN ('scheduled','run')`,
    [interfaces.map((iface) => iface.id)],
  );
  return Math.round(rows[0]!.seconds ?? 0);
}

/** A summary of what the simulator wrote, for the notes. */
export function describeSales(sales: SalesRecord): string {
  const committed = sales.committed.reduce((sum, transaction) => sum + transaction.tickets.length, 0);
  const long = sales.committed.filter((transaction) => transaction.long).length;
  return (
    `simulator: ${committed} tickets committed in ${sales.committed.length} transactions (${long} held open long), ` +
    `${sales.rolledBack.length} rolled back, ${sales.uncertain.length} with an unanswered COMMIT, ${sales.failedTransactions} failed transactions`
  );
}

/** Settles nothing: checks the interfaces as they are and turns the accounting into a table row. */
export async function scenarioRow(
  stack: FaultStack,
  scenario: string,
  interfaces: readonly ScenarioInterface[],
  startedAt: number,
  extra: {
    sales?: SalesRecord;
    problems?: string[];
    warnings?: string[];
    notes?: string[];
    durationMillis?: number;
  } = {},
): Promise<ScenarioRow> {
  const check = await stack.check(interfaces, extra.sales);
  return rowFrom(scenario, await stack.countRuns(interfaces), check, {
    problems: extra.problems,
    warnings: extra.warnings,
    notes: [...(extra.sales ? [describeSales(extra.sales)] : []), ...(extra.notes ?? [])],
    durationMillis: extra.durationMillis ?? Date.now() - startedAt,
  });
}
