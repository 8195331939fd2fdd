import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ScenarioRow } from './report';
import { isFailed } from './report';
import type { Scenario, SuiteMode } from './scenario';
import { lateCommits } from './scenarios/late-commits';
import { crashes } from './scenarios/crashes';
import { postgresRestart, smtpOutage, temporalOutage, workerOutage } from './scenarios/outages';
import { twoWorkers } from './scenarios/two-workers';
import { concurrentLoad } from './scenarios/load';
import { operatorPaths } from './scenarios/operator-paths';
import { longBackfill } from './scenarios/long-backfill';
import { ledgerAndPurge } from './scenarios/ledger-and-purge';
import { stateChanges } from './scenarios/state-changes';
import { destinations } from './scenarios/destinations';

/** Every scenario, in the order the suite runs them. */
export const SCENARIOS: readonly Scenario[] = [
  lateCommits,
  crashes,
  smtpOutage,
  workerOutage,
  temporalOutage,
  postgresRestart,
  twoWorkers,
  concurrentLoad,
  operatorPaths,
  ledgerAndPurge,
  longBackfill,
  stateChanges,
  destinations,
];

export interface SuiteOptions {
  mode: SuiteMode;
  /** Only these scenarios (by name); default: all of the mode. */
  only?: string[];
  /** Receives progress lines. */
  log: (line: string) => void;
}

export interface SuiteOutcome {
  rows: ScenarioRow[];
  /** Worker logs, markers and Temporal files; kept when something failed or warned. */
  workDir: string;
}

/** The scenarios a mode runs, or the named ones; rejects an unknown name. */
export function selectScenarios(mode: SuiteMode, only: string[] = []): Scenario[] {
  for (const name of only) {
    if (!SCENARIOS.some((scenario) => scenario.name === name)) {
      throw new Error(
        `unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}`,
      );
    }
  }
  return SCENARIOS.filter((scenario) =>
    only.length > 0 ? only.includes(scenario.name) : mode === 'full' || scenario.quick,
  );
}

/** A fresh folder for one suite run's logs. */
export function createWorkDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'barcodes-faults-'));
}

/**
 * Runs the scenarios one after the other (each on a stack of its own: they would only compete for
 * the cores). A scenario that throws becomes a failed row, and the others still run.
 */
export async function runSuite(options: SuiteOptions): Promise<SuiteOutcome> {
  const workDir = await createWorkDir();
  const rows: ScenarioRow[] = [];
  for (const scenario of selectScenarios(options.mode, options.only)) {
    rows.push(...(await runScenario(scenario, { mode: options.mode, workDir, log: options.log })));
  }
  if (!rows.some((row) => isFailed(row) || row.warnings.length > 0))
    await fs.rm(workDir, { recursive: true, force: true });
  return { rows, workDir };
}

/** Runs one scenario; an exception is reported as a failed row naming it. */
export async function runScenario(
  scenario: Scenario,
  context: { mode: SuiteMode; workDir: string; log: (line: string) => void },
): Promise<ScenarioRow[]> {
  const startedAt = Date.now();
  context.log(`${scenario.name}: starting (${context.mode})`);
  try {
    const rows = await scenario.run(context);
    context.log(`${scenario.name}: done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
    return rows;
  } catch (error) {
    context.log(`${scenario.name}: failed: ${(error as Error).stack ?? error}`);
    return [
      {
        scenario: scenario.name,
        runs: 0,
        expected: 0,
        delivered: 0,
        lost: 0,
        duplicated: 0,
        leaked: 0,
        duplicateEmails: 0,
        problems: [`the scenario did not finish: ${(error as Error).message}`],
        warnings: [],
        notes: [],
        durationMillis: Date.now() - startedAt,
      },
    ];
  }
}
