import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import pg from 'pg';
import type { FilePart, PartSink } from '../format';

export type DeliveryKind = 'scheduled' | 'run' | 'backfill' | 'resend';
/** `pending`: file frozen, not (completely) sent yet. The others are final (CONTRACT.md §6). */
type DeliveryStatus = 'pending' | 'sent' | 'empty' | 'failed';

export interface Delivery {
  id: number;
  interfaceId: number;
  kind: DeliveryKind;
  windowStart: Date;
  windowEnd: Date;
  status: DeliveryStatus;
  ticketCount: number;
  partCount: number;
  byteCount: number;
  fileName: string | null;
  sha256: string | null;
  recipients: string[];
  originalDeliveryId: number | null;
  workflowId: string | null;
  /** The run that may send this chain window (run claims: never two runs on one window). */
  claimedBy: string | null;
  attempts: number;
  lastError: string | null;
  heldBack: Record<string, unknown> | null;
  createdAt: Date;
  sentAt: Date | null;
  purgedAt: Date | null;
  /** The destinations this delivery goes to (`resend --to`); null: every one the interface has. */
  destinations: string[] | null;
}

/** What one SFTP or HTTPS destination (or email, when it failed for good) made of one part. */
export interface DestinationPartResult {
  part: number;
  destination: 'email' | 'sftp' | 'https';
  status: 'delivered' | 'failed';
  detail: string | null;
  at: Date;
}

export interface StoredPart extends FilePart {
  messageId: string;
  sentAt: Date | null;
  /** Fingerprint of the OpenPGP key the part is encrypted to; null: a plain file. */
  encryptedTo: string | null;
}

export interface RecipientResult {
  address: string;
  status: 'accepted' | 'refused';
  response: string | null;
}

interface NewDelivery {
  interfaceId: number;
  kind: DeliveryKind;
  windowStart: Date;
  windowEnd: Date;
  recipients: string[];
  originalDeliveryId?: number | null;
  workflowId?: string | null;
  claimedBy?: string | null;
  heldBack?: Record<string, unknown> | null;
  destinations?: string[] | null;
}

/** Where an interface stands: its chain watermark and the database clock's distance past it. */
interface InterfaceWatermark {
  interfaceId: number;
  enabled: boolean;
  watermark: Date;
  lagSeconds: number;
}

/** Chunks of a stored part are about this size: large enough to keep round trips few. */
const CHUNK_BYTES = 1024 * 1024;
const CHAIN_KINDS = `('scheduled','run')`;

/** A pool, or one client inside a transaction. */
export type Queryable = pg.Pool | pg.ClientBase;

/**
 * The delivery ledger: the durable record of every window, its stored file and what each
 * recipient's server answered. It is the source of truth for the watermark.
 */
export class DeliveryLedger {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  /** The interface's latest chain window, whatever its status. */
  async lastChainDelivery(client: Queryable, interfaceId: number): Promise<Delivery | undefined> {
    const { rows } = await client.query(
      `SELECT * FROM ${this.schema}.delivery
        WHERE interface_id = $1 AND kind IN ${CHAIN_KINDS} ORDER BY window_end DESC LIMIT 1`,
      [interfaceId],
    );
    return rows[0] && toDelivery(rows[0]);
  }

  /** End of the interface's last chain window (the watermark), or null before its first window. */
  async chainWatermark(client: Queryable, interfaceId: number): Promise<Date | null> {
    return (await this.lastChainDelivery(client, interfaceId))?.windowEnd ?? null;
  }

  /**
   * Every interface's chain watermark (end of its last scheduled or run window, else its start)
   * and how far the database's clock is past it. One query for all interfaces, one probe of the
   * delivery_chain_end index each: cheap enough to run every few seconds.
   */
  async interfaceWatermarks(): Promise<InterfaceWatermark[]> {
    const { rows } = await this.pool.query<{
      id: string;
      enabled: boolean;
      watermark: Date;
      lag_seconds: number;
    }>(
      `SELECT i.id, i.enabled, COALESCE(last.window_end, i.start_at) AS watermark,
              GREATEST(0, extract(epoch FROM now() - COALESCE(last.window_end, i.start_at)))::float8 AS lag_seconds
         FROM ${this.schema}.interface i
         LEFT JOIN LATERAL (
           SELECT d.window_end FROM ${this.schema}.delivery d
            WHERE d.interface_id = i.id AND d.kind IN ${CHAIN_KINDS} ORDER BY d.window_end DESC LIMIT 1
         ) last ON true
        ORDER BY i.id`,
    );
    return rows.map((row) => ({
      interfaceId: Number(row.id),
      enabled: row.enabled,
      watermark: row.watermark,
      lagSeconds: row.lag_seconds,
    }));
  }

  /** The chain window frozen but not yet sent, which must be finished before a new one opens. */
  async pendingChainDelivery(client: Queryable, interfaceId: number): Promise<Delivery | undefined> {
    const { rows } = await client.query(
      `SELECT * FROM ${this.schema}.delivery
        WHERE interface_id = $1 AND kind IN ${CHAIN_KINDS} AND status IN ('pending','failed')`,
      [interfaceId],
    );
    return rows[0] && toDelivery(rows[0]);
  }

  async insert(client: pg.ClientBase, delivery: NewDelivery): Promise<number> {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ${this.schema}.delivery
         (interface_id, kind, window_start, window_end, status, recipients, original_delivery_id, workflow_id, held_back, claimed_by, destinations)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10) RETURNING id`,
      [
        delivery.interfaceId,
        delivery.kind,
        delivery.windowStart,
        delivery.windowEnd,
        delivery.recipients,
        delivery.originalDeliveryId ?? null,
        delivery.workflowId ?? null,
        delivery.heldBack ? JSON.stringify(delivery.heldBack) : null,
        delivery.claimedBy ?? null,
        delivery.destinations ?? null,
      ],
    );
    return Number(rows[0]!.id);
  }

  /** Gives a frozen window to the run that will send it (its previous holder has ended). */
  async claim(client: pg.ClientBase, deliveryId: number, workflowId: string): Promise<void> {
    await client.query(`UPDATE ${this.schema}.delivery SET claimed_by = $2 WHERE id = $1`, [
      deliveryId,
      workflowId,
    ]);
  }

  /**
   * Takes a window's claim over from a holder that has ended, only if that holder still has it
   * (another run may have taken it first): true when this run now holds it.
   */
  async takeClaim(deliveryId: number, from: string | null, workflowId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.schema}.delivery SET claimed_by = $3 WHERE id = $1 AND claimed_by IS NOT DISTINCT FROM $2`,
      [deliveryId, from, workflowId],
    );
    return rowCount === 1;
  }

  /** Who holds the window now (read again before each part is sent). */
  async claimOf(deliveryId: number): Promise<string | null> {
    const { rows } = await this.pool.query<{ claimed_by: string | null }>(
      `SELECT claimed_by FROM ${this.schema}.delivery WHERE id = $1`,
      [deliveryId],
    );
    return rows[0]?.claimed_by ?? null;
  }

  /**
   * A sink that stores the rendered parts in delivery_part/delivery_chunk on the given client (in
   * the freezing transaction), and hashes all parts' bytes in order for the delivery's checksum.
   */
  partSink(client: pg.ClientBase, deliveryId: number): PartSink & { sha256(): string } {
    const schema = this.schema;
    const whole: Hash = createHash('sha256');
    let part = 0;
    let seq = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // One chunk is stored while the next is rendered, so the server writes and the renderer works at
    // the same time; its failure surfaces at the next flush or endPart (the window fails as a whole).
    let storing: Promise<unknown> | null = null;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await storing;
      const stored = client.query(
        `INSERT INTO ${schema}.delivery_chunk (delivery_id, part, seq, data) VALUES ($1, $2, $3, $4)`,
        [deliveryId, part, seq++, data],
      );
      stored.catch(() => {});
      storing = stored;
    };
    return {
      async beginPart(index: number) {
        part = index;
        seq = 0;
        await client.query(`INSERT INTO ${schema}.delivery_part (delivery_id, part) VALUES ($1, $2)`, [
          deliveryId,
          index,
        ]);
      },
      async write(chunk: Buffer) {
        whole.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= CHUNK_BYTES) await flush();
      },
      async endPart() {
        await flush();
        await storing;
        storing = null;
      },
      sha256: () => whole.digest('hex'),
    };
  }

  /** Records the frozen window's file: from here on its bounds, bytes and Message-IDs never change. */
  async completeFreeze(
    client: pg.ClientBase,
    deliveryId: number,
    summary: {
      ticketCount: number;
      parts: (FilePart & { messageId: string; encryptedTo?: string | null })[];
      sha256: string | null;
    },
  ): Promise<void> {
    for (const part of summary.parts) {
      await client.query(
        `UPDATE ${this.schema}.delivery_part
            SET file_name = $3, content_type = $4, byte_count = $5, row_count = $6, sha256 = $7, message_id = $8, encrypted_to = $9
          WHERE delivery_id = $1 AND part = $2`,
        [
          deliveryId,
          part.index,
          part.fileName,
          part.contentType,
          part.byteCount,
          part.rowCount,
          part.sha256,
          part.messageId,
          part.encryptedTo ?? null,
        ],
      );
    }
    const empty = summary.parts.length === 0;
    await client.query(
      `UPDATE ${this.schema}.delivery
          SET status = $2, ticket_count = $3, part_count = $4, byte_count = $5, file_name = $6, sha256 = $7,
              sent_at = CASE WHEN $2 = 'empty' THEN now() END
        WHERE id = $1`,
      [
        deliveryId,
        empty ? 'empty' : 'pending',
        summary.ticketCount,
        summary.parts.length,
        summary.parts.reduce((sum, part) => sum + part.byteCount, 0),
        summary.parts[0]?.fileName ?? null,
        empty ? null : summary.sha256,
      ],
    );
  }

  /** The backfill or resend delivery a workflow already made for this window, if any (retries). */
  async findOwn(client: Queryable, workflowId: string, windowStart: Date): Promise<Delivery | undefined> {
    const { rows } = await client.query(
      `SELECT * FROM ${this.schema}.delivery WHERE workflow_id = $1 AND window_start = $2 AND kind IN ('backfill','resend')`,
      [workflowId, windowStart],
    );
    return rows[0] && toDelivery(rows[0]);
  }

  /**
   * Copies a delivery's stored parts (bytes, names, types, checksums) under a new delivery, with
   * new Message-IDs: a resend is the same file as a new message.
   */
  async copyParts(
    client: Queryable,
    fromDeliveryId: number,
    toDeliveryId: number,
    messageIdOf: (part: number, parts: number) => string,
  ): Promise<void> {
    const { rows } = await client.query<{ part: number }>(
      `INSERT INTO ${this.schema}.delivery_part (delivery_id, part, file_name, content_type, byte_count, row_count, sha256, encrypted_to)
       SELECT $2, part, file_name, content_type, byte_count, row_count, sha256, encrypted_to FROM ${this.schema}.delivery_part WHERE delivery_id = $1
       RETURNING part`,
      [fromDeliveryId, toDeliveryId],
    );
    for (const { part } of rows) {
      await client.query(
        `UPDATE ${this.schema}.delivery_part SET message_id = $3 WHERE delivery_id = $1 AND part = $2`,
        [toDeliveryId, part, messageIdOf(part, rows.length)],
      );
    }
    await client.query(
      `INSERT INTO ${this.schema}.delivery_chunk (delivery_id, part, seq, data)
       SELECT $2, part, seq, data FROM ${this.schema}.delivery_chunk WHERE delivery_id = $1`,
      [fromDeliveryId, toDeliveryId],
    );
    await client.query(
      `UPDATE ${this.schema}.delivery d SET status = 'pending', ticket_count = o.ticket_count, part_count = o.part_count,
              byte_count = o.byte_count, file_name = o.file_name, sha256 = o.sha256
         FROM ${this.schema}.delivery o WHERE d.id = $2 AND o.id = $1`,
      [fromDeliveryId, toDeliveryId],
    );
  }

  /** Message-IDs of the chain windows that overlap a range: what a backfill of it refers to. */
  async chainMessageIds(interfaceId: number, from: Date, to: Date): Promise<string[]> {
    const { rows } = await this.pool.query<{ message_id: string }>(
      `SELECT p.message_id FROM ${this.schema}.delivery d JOIN ${this.schema}.delivery_part p ON p.delivery_id = d.id
        WHERE d.interface_id = $1 AND d.kind IN ${CHAIN_KINDS} AND d.window_start < $3 AND d.window_end > $2
        ORDER BY d.window_start, p.part`,
      [interfaceId, from, to],
    );
    return rows.map((row) => row.message_id);
  }

  /** Reads a delivery, on the given client when inside a transaction that just wrote it. */
  async get(id: number, client: Queryable = this.pool): Promise<Delivery | undefined> {
    const { rows } = await client.query(`SELECT * FROM ${this.schema}.delivery WHERE id = $1`, [id]);
    return rows[0] && toDelivery(rows[0]);
  }

  /**
   * The deliveries a backfill or resend workflow made, oldest window first, over all its runs
   * (continue-as-new keeps the workflow id). The workflow's result only counts them.
   */
  async byWorkflow(workflowId: string): Promise<Delivery[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.schema}.delivery WHERE workflow_id = $1 AND kind IN ('backfill','resend') ORDER BY window_start, id`,
      [workflowId],
    );
    return rows.map(toDelivery);
  }

  async list(interfaceId: number, limit = 100): Promise<Delivery[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.schema}.delivery WHERE interface_id = $1 ORDER BY window_start DESC, id DESC LIMIT $2`,
      [interfaceId, limit],
    );
    return rows.map(toDelivery);
  }

  async parts(deliveryId: number): Promise<StoredPart[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.schema}.delivery_part WHERE delivery_id = $1 ORDER BY part`,
      [deliveryId],
    );
    return rows.map((row) => ({
      index: row.part,
      fileName: row.file_name,
      contentType: row.content_type,
      byteCount: Number(row.byte_count),
      rowCount: row.row_count,
      sha256: row.sha256,
      messageId: row.message_id,
      sentAt: row.sent_at,
      encryptedTo: row.encrypted_to ?? null,
    }));
  }

  /** Streams a stored part chunk by chunk, so a large attachment is never whole in memory. */
  readPart(deliveryId: number, part: number): Readable {
    const { pool, schema } = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let seq = 0; ; seq++) {
        const { rows } = await pool.query<{ data: Buffer }>(
          `SELECT data FROM ${schema}.delivery_chunk WHERE delivery_id = $1 AND part = $2 AND seq = $3`,
          [deliveryId, part, seq],
        );
        if (!rows[0]) return;
        yield rows[0].data;
      }
    }
    // Pulled one chunk at a time as the consumer reads; a failed query destroys the stream.
    return Readable.from(chunks(), { objectMode: false });
  }

  async recipientResults(deliveryId: number): Promise<(RecipientResult & { part: number })[]> {
    const { rows } = await this.pool.query(
      `SELECT part, address, status, response FROM ${this.schema}.delivery_recipient WHERE delivery_id = $1 ORDER BY part, address`,
      [deliveryId],
    );
    return rows;
  }

  async recordAttempt(deliveryId: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.schema}.delivery SET attempts = attempts + 1 WHERE id = $1`, [
      deliveryId,
    ]);
  }

  /** Records one part as handed to SMTP, with each recipient's answer, atomically. */
  async markPartSent(deliveryId: number, part: number, recipients: RecipientResult[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await this.writePartSent(client, deliveryId, part, recipients);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Proves, before an email goes out, that markPartSent could record it: the same statements for
   * the same recipients, rolled back. A dropped table or column (or a revoked privilege) fails here,
   * before SMTP, instead of after the server accepted a message the ledger then cannot remember.
   */
  async proveCanRecordPartSent(deliveryId: number, part: number, addresses: string[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await this.writePartSent(
        client,
        deliveryId,
        part,
        addresses.map((address) => ({ address, status: 'accepted' as const, response: null })),
      );
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  }

  /**
   * The last resort when the recipients' answers cannot be recorded: the part alone is marked as
   * handed to SMTP, so no retry sends it again (the answers are lost, the email is not repeated).
   */
  async markPartSentWithoutAnswers(deliveryId: number, part: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.delivery_part SET sent_at = now() WHERE delivery_id = $1 AND part = $2 AND sent_at IS NULL`,
      [deliveryId, part],
    );
  }

  private async writePartSent(
    client: pg.ClientBase,
    deliveryId: number,
    part: number,
    recipients: RecipientResult[],
  ): Promise<void> {
    for (const recipient of recipients) {
      await client.query(
        `INSERT INTO ${this.schema}.delivery_recipient (delivery_id, part, address, status, response)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (delivery_id, part, address) DO UPDATE SET status = EXCLUDED.status, response = EXCLUDED.response, at = now()`,
        [deliveryId, part, recipient.address, recipient.status, recipient.response],
      );
    }
    await client.query(
      `UPDATE ${this.schema}.delivery_part SET sent_at = now() WHERE delivery_id = $1 AND part = $2`,
      [deliveryId, part],
    );
  }

  /** Every destination's result per part of a delivery (email's acceptance is in delivery_part). */
  async destinationResults(deliveryId: number): Promise<DestinationPartResult[]> {
    const { rows } = await this.pool.query(
      `SELECT part, destination, status, detail, at FROM ${this.schema}.delivery_part_destination WHERE delivery_id = $1 ORDER BY part, destination`,
      [deliveryId],
    );
    return rows;
  }

  /** Records what a destination made of a part. A delivered part stays delivered. */
  async markDestinationPart(
    deliveryId: number,
    part: number,
    destination: DestinationPartResult['destination'],
    status: DestinationPartResult['status'],
    detail: string,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.delivery_part_destination (delivery_id, part, destination, status, detail)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (delivery_id, part, destination) DO UPDATE SET status = EXCLUDED.status, detail = EXCLUDED.detail, at = now()
        WHERE ${this.schema}.delivery_part_destination.status <> 'delivered'`,
      [deliveryId, part, destination, status, detail.slice(0, 1000)],
    );
  }

  /** Like proveCanRecordPartSent, for the destinations about to be tried: rolled back. */
  async proveCanRecordDestinations(
    deliveryId: number,
    part: number,
    destinations: DestinationPartResult['destination'][],
  ): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const destination of destinations) {
        await client.query(
          `INSERT INTO ${this.schema}.delivery_part_destination (delivery_id, part, destination, status, detail) VALUES ($1, $2, $3, 'delivered', 'probe')
           ON CONFLICT (delivery_id, part, destination) DO UPDATE SET detail = EXCLUDED.detail`,
          [deliveryId, part, destination],
        );
      }
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  }

  /**
   * Forgets the permanent failures of a delivery that reached no destination at all: it stays the
   * interface's pending window, and the next run (after the operator's fix) tries them again.
   */
  async clearFailedDestinations(deliveryId: number): Promise<void> {
    await this.pool.query(
      `DELETE FROM ${this.schema}.delivery_part_destination WHERE delivery_id = $1 AND status = 'failed'`,
      [deliveryId],
    );
  }

  async markSent(deliveryId: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.delivery SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1 AND status <> 'sent'`,
      [deliveryId],
    );
  }

  /**
   * Marks failed the unfinished chain window a run holds (a run that failed without naming it);
   * returns it (the latest, should there be two), or null when it holds none.
   */
  async markClaimedFailed(
    interfaceId: number,
    workflowId: string,
    reason: string,
  ): Promise<FailedWindow | null> {
    const { rows } = await this.pool.query(
      `UPDATE ${this.schema}.delivery SET status = 'failed', last_error = $3
        WHERE interface_id = $1 AND claimed_by = $2 AND kind IN ${CHAIN_KINDS} AND status IN ('pending','failed')
        RETURNING window_start, window_end, ticket_count`,
      [interfaceId, workflowId, reason],
    );
    const latest = rows.sort((a, b) => b.window_end.getTime() - a.window_end.getTime())[0];
    return latest
      ? {
          windowStart: latest.window_start.toISOString(),
          windowEnd: latest.window_end.toISOString(),
          ticketCount: Number(latest.ticket_count ?? 0),
        }
      : null;
  }

  /** A failed delivery stays the interface's pending window: the next run sends it unchanged. */
  async markFailed(deliveryId: number, reason: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.delivery SET status = 'failed', last_error = $2 WHERE id = $1 AND status IN ('pending','failed')`,
      [deliveryId, reason],
    );
  }
}

/** The window a failed run held, for the Temporal UI's search attributes. */
export interface FailedWindow {
  windowStart: string;
  windowEnd: string;
  ticketCount: number;
}

function toDelivery(row: Record<string, any>): Delivery {
  return {
    id: Number(row.id),
    interfaceId: Number(row.interface_id),
    kind: row.kind,
    windowStart: row.window_start,
    windowEnd: row.window_end,
    status: row.status,
    ticketCount: row.ticket_count,
    partCount: row.part_count,
    byteCount: Number(row.byte_count),
    fileName: row.file_name,
    sha256: row.sha256,
    recipients: row.recipients,
    originalDeliveryId: row.original_delivery_id === null ? null : Number(row.original_delivery_id),
    workflowId: row.workflow_id,
    claimedBy: row.claimed_by ?? null,
    attempts: row.attempts,
    lastError: row.last_error,
    heldBack: row.held_back,
    createdAt: row.created_at,
    sentAt: row.sent_at,
    purgedAt: row.purged_at,
    destinations: row.destinations ?? null,
  };
}
