import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { InterfaceStore } from '../interfaces/store';
import { connectClient } from '../temporal/connection';
import { applyInterfaceSchedule } from './sync';

/** What the worker's activities may ask of Temporal. */
export interface ScheduleControl {
  /** Makes the interface's schedule match the database (self-pause, a refused run). */
  realign(interfaceId: number): Promise<void>;
  /** Whether a workflow run is still open: a window's claim passes on only from an ended run. */
  isRunOpen(workflowId: string): Promise<boolean>;
  close(): Promise<void>;
}

const IS_RUN_OPEN_TIMEOUT_MILLIS = 10_000;

/** Connects to Temporal on first use only: most runs never need it. */
export function createScheduleControl(
  config: Config,
  store: InterfaceStore,
  deploymentId: () => Promise<string>,
): ScheduleControl {
  let client: Promise<Client> | undefined;
  // A failed connection is forgotten, so the next call tries again instead of failing until restart.
  const connected = () =>
    (client ??= connectClient(config).catch((error: unknown) => {
      client = undefined;
      throw error;
    }));
  return {
    async realign(interfaceId) {
      await applyInterfaceSchedule(
        { client: await connected(), config, deploymentId: await deploymentId() },
        store,
        interfaceId,
      );
    },
    async isRunOpen(workflowId) {
      try {
        // Bounded: it is asked inside the transaction that holds the interface's lock.
        const description = await withDeadline(
          (await connected()).workflow.getHandle(workflowId).describe(),
          IS_RUN_OPEN_TIMEOUT_MILLIS,
          `describing run ${workflowId}`,
        );
        return description.status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },
    async close() {
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}

function withDeadline<T>(promise: Promise<T>, millis: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer from Temporal within ${millis / 1000}s`)),
      millis,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
