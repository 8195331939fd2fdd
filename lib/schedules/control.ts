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

/** Connects to Temporal on first use only: most runs never need it. */
export function createScheduleControl(config: Config, store: InterfaceStore, deploymentId: () => Promise<string>): ScheduleControl {
  let client: Promise<Client> | undefined;
  const connected = () => (client ??= connectClient(config));
  return {
    async realign(interfaceId) {
      await applyInterfaceSchedule({ client: await connected(), config, deploymentId: await deploymentId() }, store, interfaceId);
    },
    async isRunOpen(workflowId) {
      try {
        const description = await (await connected()).workflow.getHandle(workflowId).describe();
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
