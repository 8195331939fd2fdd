import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { connectClient } from '../temporal/connection';
import { scheduleIdFor } from './sync';

/** What the activities may do to a schedule: pause it when its interface pauses itself. */
export interface ScheduleControl {
  pause(interfaceId: number, note: string): Promise<void>;
  close(): Promise<void>;
}

/** Connects to Temporal on first use only: most runs never pause anything. */
export function createScheduleControl(config: Config): ScheduleControl {
  let client: Promise<Client> | undefined;
  return {
    async pause(interfaceId, note) {
      client ??= connectClient(config);
      await (await client).schedule.getHandle(scheduleIdFor(interfaceId)).pause(note);
    },
    async close() {
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}
