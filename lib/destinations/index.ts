import { deliverBySftp } from './sftp';
import type { HttpsSender } from './https';
import type { DeliveredPart, DeliveryHooks, OutgoingPart, RemoteDestination } from './types';

export * from './types';

/** Sends one part to one remote destination (email goes through the Mailer, with its recipients' answers). */
export type DeliverPart = (
  part: OutgoingPart,
  destination: RemoteDestination,
  hooks?: DeliveryHooks,
) => Promise<DeliveredPart>;

export function createDeliver(https: HttpsSender): DeliverPart {
  return (part, destination, hooks) =>
    destination.kind === 'sftp' ? deliverBySftp(part, destination, hooks) : https.deliver(part, destination);
}
