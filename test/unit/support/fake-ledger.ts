/**
 * The delivery ledger in memory: frozen deliveries and their stored parts, and what the activities
 * recorded about them. Only the methods the send and outcome activities call (Pick<>).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type {
  Delivery,
  DeliveryLedger,
  DestinationPartResult,
  FailedWindow,
  RecipientResult,
  StoredPart,
} from '../../../lib/ledger/ledger';

/** The ledger methods the send and outcome activities call. */
export type LedgerPart = Pick<
  DeliveryLedger,
  | 'get'
  | 'parts'
  | 'readPart'
  | 'recordAttempt'
  | 'proveCanRecordPartSent'
  | 'markPartSent'
  | 'markPartSentWithoutAnswers'
  | 'markSent'
  | 'chainMessageIds'
  | 'markFailed'
  | 'markClaimedFailed'
  | 'takeClaim'
  | 'claimOf'
  | 'destinationResults'
  | 'markDestinationPart'
  | 'proveCanRecordDestinations'
  | 'clearFailedDestinations'
>;

/** One frozen delivery as the ledger holds it; `overrides` set what the test is about. */
export function frozenDelivery(overrides: Partial<Delivery> = {}): Delivery {
  return {
    id: 7,
    interfaceId: 42,
    kind: 'scheduled',
    windowStart: new Date('2026-05-01T10:00:00Z'),
    windowEnd: new Date('2026-05-01T10:15:00Z'),
    status: 'pending',
    ticketCount: 3,
    partCount: 1,
    byteCount: 0,
    fileName: null,
    sha256: null,
    recipients: ['files@acme.test'],
    originalDeliveryId: null,
    workflowId: 'run-1',
    claimedBy: 'run-1',
    attempts: 0,
    lastError: null,
    heldBack: null,
    createdAt: new Date('2026-05-01T10:15:31Z'),
    sentAt: null,
    purgedAt: null,
    destinations: null,
    ...overrides,
  };
}

/** A stored part and its bytes. */
export function storedPart(
  index: number,
  text: string,
  overrides: Partial<StoredPart> = {},
): { part: StoredPart; bytes: Buffer } {
  const bytes = Buffer.from(text);
  const part: StoredPart = {
    index,
    fileName: `barcodes_acme_part${index}.csv`,
    contentType: 'text/csv; charset=utf-8',
    byteCount: bytes.length,
    rowCount: 1,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    messageId: `<barcodes.i42.w7.p${index}@exporter.test>`,
    sentAt: null,
    encryptedTo: null,
    ...overrides,
  };
  return { part, bytes };
}

/** Deliveries and their stored parts in memory, with what was recorded about them. */
export class FakeLedger implements LedgerPart {
  readonly deliveries = new Map<number, Delivery>();
  readonly storedParts = new Map<number, { part: StoredPart; bytes: Buffer }[]>();
  readonly failed: { deliveryId: number; reason: string }[] = [];
  readonly answers: { deliveryId: number; part: number; recipients: RecipientResult[] }[] = [];

  /** Adds a frozen delivery with its parts. */
  freeze(delivery: Delivery, parts: { part: StoredPart; bytes: Buffer }[]): void {
    this.deliveries.set(delivery.id, { ...delivery, partCount: parts.length });
    this.storedParts.set(delivery.id, parts);
  }

  async get(id: number): Promise<Delivery | undefined> {
    const delivery = this.deliveries.get(id);
    return delivery && { ...delivery };
  }
  async parts(deliveryId: number): Promise<StoredPart[]> {
    return (this.storedParts.get(deliveryId) ?? []).map(({ part }) => ({ ...part }));
  }
  readPart(deliveryId: number, index: number): Readable {
    const stored = this.storedParts.get(deliveryId)?.find(({ part }) => part.index === index);
    if (!stored) throw new Error(`no part ${index} of delivery ${deliveryId}`);
    return Readable.from([stored.bytes]);
  }
  async recordAttempt(deliveryId: number): Promise<void> {
    this.update(deliveryId, (delivery) => ({ ...delivery, attempts: delivery.attempts + 1 }));
  }
  async markPartSent(deliveryId: number, index: number, recipients: RecipientResult[]): Promise<void> {
    this.answers.push({ deliveryId, part: index, recipients });
    for (const stored of this.storedParts.get(deliveryId) ?? [])
      if (stored.part.index === index) stored.part = { ...stored.part, sentAt: new Date() };
  }
  /** The real one rehearses the writes in a rolled-back transaction; in memory they cannot fail. */
  async proveCanRecordPartSent(): Promise<void> {}
  async proveCanRecordDestinations(): Promise<void> {}
  /** Each destination's status per part, by delivery id. */
  readonly destinationParts = new Map<number, DestinationPartResult[]>();
  async destinationResults(deliveryId: number): Promise<DestinationPartResult[]> {
    return [...(this.destinationParts.get(deliveryId) ?? [])];
  }
  async markDestinationPart(
    deliveryId: number,
    part: number,
    destination: DestinationPartResult['destination'],
    status: DestinationPartResult['status'],
    detail: string,
  ): Promise<void> {
    const results = (this.destinationParts.get(deliveryId) ?? []).filter(
      (result) => result.part !== part || result.destination !== destination,
    );
    this.destinationParts.set(deliveryId, [
      ...results,
      { part, destination, status, detail, at: new Date() } as DestinationPartResult,
    ]);
  }
  async clearFailedDestinations(deliveryId: number): Promise<void> {
    this.destinationParts.set(
      deliveryId,
      (this.destinationParts.get(deliveryId) ?? []).filter((result) => result.status !== 'failed'),
    );
  }
  async takeClaim(deliveryId: number, from: string | null, workflowId: string): Promise<boolean> {
    const delivery = this.deliveries.get(deliveryId);
    if (!delivery || delivery.claimedBy !== from) return false;
    this.update(deliveryId, (current) => ({ ...current, claimedBy: workflowId }));
    return true;
  }
  async claimOf(deliveryId: number): Promise<string | null> {
    return this.deliveries.get(deliveryId)?.claimedBy ?? null;
  }
  async markPartSentWithoutAnswers(deliveryId: number, index: number): Promise<void> {
    await this.markPartSent(deliveryId, index, []);
  }
  async markSent(deliveryId: number): Promise<void> {
    this.update(deliveryId, (delivery) => ({
      ...delivery,
      status: 'sent',
      sentAt: new Date(),
      lastError: null,
    }));
  }
  async chainMessageIds(): Promise<string[]> {
    return [];
  }
  async markFailed(deliveryId: number, reason: string): Promise<void> {
    this.failed.push({ deliveryId, reason });
  }
  async markClaimedFailed(
    interfaceId: number,
    workflowId: string,
    reason: string,
  ): Promise<FailedWindow | null> {
    let latest: FailedWindow | null = null;
    for (const delivery of this.deliveries.values()) {
      if (
        delivery.interfaceId === interfaceId &&
        delivery.claimedBy === workflowId &&
        (delivery.status === 'pending' || delivery.status === 'failed')
      ) {
        this.failed.push({ deliveryId: delivery.id, reason });
        latest = {
          windowStart: delivery.windowStart.toISOString(),
          windowEnd: delivery.windowEnd.toISOString(),
          ticketCount: delivery.ticketCount,
        };
      }
    }
    return latest;
  }

  private update(id: number, change: (delivery: Delivery) => Delivery): void {
    const delivery = this.deliveries.get(id);
    if (delivery) this.deliveries.set(id, change(delivery));
  }
}
