import pg from 'pg';
import { NotFoundError, InputError } from '../errors';
import { inTransaction } from '../db/pool';

export type MappingKind = 'contact' | 'channel';

/** What an operator sets on an interface (CONTRACT.md §1), mappings aside. */
export interface InterfaceFields {
  name: string;
  recipients: string[];
  intervalSeconds: number;
  lagSeconds: number;
  /** IANA time zone of the file's dates. */
  timeZone: string;
  /** The stored format specification, null for the CONTRACT.md §3 default. */
  format: Record<string, unknown> | null;
  /** Where the first window starts. */
  startAt: Date;
  enabled: boolean;
  /** Who hears about a self-pause or a refused recipient (else BARCODES_ALERT_EMAIL). */
  alertEmail: string | null;
}

/** An interface as stored: its fields, its mappings and its health. */
export interface ExportInterface extends InterfaceFields {
  id: number;
  contacts: string[];
  channels: string[];
  createdAt: Date;
  updatedAt: Date;
  /** Windows failed in a row for a permanent reason (bad address, SMTP 5xx, bad configuration). */
  consecutiveFailures: number;
  failingSince: Date | null;
  lastFailure: string | null;
  /** Why the interface paused itself, until an operator enables it again. */
  pausedReason: string | null;
}

/** What recording a permanent failure led to. */
export interface FailureRecord {
  consecutiveFailures: number;
  failingSince: Date;
  /** True when this failure reached the threshold and the interface paused itself now. */
  pausedNow: boolean;
  iface: ExportInterface;
}

interface InterfaceRow {
  id: string;
  name: string;
  recipients: string[];
  interval_seconds: number;
  lag_seconds: number;
  time_zone: string;
  format: Record<string, unknown> | null;
  start_at: Date;
  enabled: boolean;
  alert_email: string | null;
  created_at: Date;
  updated_at: Date;
  contacts: string[] | null;
  channels: string[] | null;
  consecutive_failures: number;
  failing_since: Date | null;
  last_failure: string | null;
  paused_reason: string | null;
}

const UNIQUE_VIOLATION = '23505';

/**
 * Interfaces and their mappings in the exporter's schema. Every change is recorded in
 * config_change with its actor, in the same transaction as the change.
 */
export class InterfaceStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  async create(fields: InterfaceFields, mappings: { contacts: string[]; channels: string[] }, actor: string): Promise<ExportInterface> {
    const id = await inTransaction(this.pool, async (client) => {
      let inserted: pg.QueryResult<{ id: string }>;
      try {
        inserted = await client.query<{ id: string }>(
          `INSERT INTO ${this.schema}.interface
             (name, recipients, interval_seconds, lag_seconds, time_zone, format, start_at, enabled, alert_email)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
          [
            fields.name,
            fields.recipients,
            fields.intervalSeconds,
            fields.lagSeconds,
            fields.timeZone,
            fields.format,
            fields.startAt,
            fields.enabled,
            fields.alertEmail,
          ],
        );
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
          throw new InputError(`--name: an interface named ${JSON.stringify(fields.name)} already exists`);
        }
        throw error;
      }
      const newId = Number(inserted.rows[0]!.id);
      for (const code of mappings.contacts) await this.insertMapping(client, newId, 'contact', code);
      for (const code of mappings.channels) await this.insertMapping(client, newId, 'channel', code);
      await this.audit(client, newId, actor, 'create', { ...fields, ...mappings });
      return newId;
    });
    return this.get(id);
  }

  async get(id: number): Promise<ExportInterface> {
    const found = await this.find(id);
    if (!found) throw new NotFoundError(`interface ${id} does not exist`);
    return found;
  }

  async find(id: number): Promise<ExportInterface | undefined> {
    const { rows } = await this.pool.query<InterfaceRow>(`${this.selectSql()} WHERE i.id = $1`, [id]);
    return rows[0] && toInterface(rows[0]);
  }

  async list(): Promise<ExportInterface[]> {
    const { rows } = await this.pool.query<InterfaceRow>(`${this.selectSql()} ORDER BY i.id`);
    return rows.map(toInterface);
  }

  /** Applies the given fields; returns the interface as it is now. */
  async update(id: number, changes: Partial<InterfaceFields>, actor: string, action = 'update'): Promise<ExportInterface> {
    const columns: Record<keyof InterfaceFields, string> = {
      name: 'name',
      recipients: 'recipients',
      intervalSeconds: 'interval_seconds',
      lagSeconds: 'lag_seconds',
      timeZone: 'time_zone',
      format: 'format',
      startAt: 'start_at',
      enabled: 'enabled',
      alertEmail: 'alert_email',
    };
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined) as [keyof InterfaceFields, unknown][];
    await inTransaction(this.pool, async (client) => {
      await this.lock(client, id);
      if (entries.length > 0) {
        const assignments = entries.map(([key], index) => `${columns[key]} = $${index + 2}`);
        // An operator enabling the interface takes it out of its self-pause and starts counting anew.
        if (changes.enabled === true) assignments.push('paused_reason = NULL', 'consecutive_failures = 0', 'failing_since = NULL');
        try {
          await client.query(
            `UPDATE ${this.schema}.interface SET ${assignments.join(', ')}, updated_at = now() WHERE id = $1`,
            [id, ...entries.map(([, value]) => value)],
          );
        } catch (error) {
          if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
            throw new InputError(`--name: an interface named ${JSON.stringify(changes.name)} already exists`);
          }
          throw error;
        }
      }
      await this.audit(client, id, actor, action, Object.fromEntries(entries));
    });
    return this.get(id);
  }

  async delete(id: number, actor: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await this.lock(client, id);
      await client.query(`DELETE FROM ${this.schema}.interface WHERE id = $1`, [id]);
      await this.audit(client, id, actor, 'delete', {});
    });
  }

  async addMapping(id: number, kind: MappingKind, code: string, actor: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await this.lock(client, id);
      const added = await this.insertMapping(client, id, kind, code);
      if (!added) throw new InputError(`--${kind}: ${JSON.stringify(code)} is already mapped to interface ${id}`);
      await this.audit(client, id, actor, 'mapping add', { kind, code });
    });
  }

  async removeMapping(id: number, kind: MappingKind, code: string, actor: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await this.lock(client, id);
      const removed = await client.query(
        `DELETE FROM ${this.schema}.mapping WHERE interface_id = $1 AND kind = $2 AND code = $3`,
        [id, kind, code],
      );
      if (removed.rowCount === 0) throw new InputError(`--${kind}: ${JSON.stringify(code)} is not mapped to interface ${id}`);
      await this.audit(client, id, actor, 'mapping remove', { kind, code });
    });
  }

  /**
   * Locks the interface row for the caller's transaction (windows of one interface are frozen one
   * at a time, and configuration changes wait for a freeze in progress) and reads it, with whether
   * `barcodes run` asked for the next window.
   */
  async lockForWindow(client: pg.PoolClient, id: number): Promise<(ExportInterface & { runRequested: boolean }) | undefined> {
    const locked = await client.query<{ run_requested_at: Date | null }>(
      `SELECT run_requested_at FROM ${this.schema}.interface WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (locked.rowCount === 0) return undefined;
    const { rows } = await client.query<InterfaceRow>(`${this.selectSql()} WHERE i.id = $1`, [id]);
    return { ...toInterface(rows[0]!), runRequested: locked.rows[0]!.run_requested_at !== null };
  }

  /** The window opened for a `barcodes run` request answers it. */
  async consumeRunRequest(client: pg.PoolClient, id: number): Promise<void> {
    await client.query(`UPDATE ${this.schema}.interface SET run_requested_at = NULL WHERE id = $1`, [id]);
  }

  /**
   * Counts a window that failed for a permanent reason. At `pauseThreshold` consecutive failures
   * the interface disables itself (so `schedules sync` keeps its schedule paused) and the caller
   * pauses the schedule and alerts the operator, once.
   */
  async recordPermanentFailure(id: number, reason: string, pauseThreshold: number): Promise<FailureRecord | undefined> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ consecutive_failures: number; failing_since: Date; enabled: boolean }>(
        `UPDATE ${this.schema}.interface
            SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, now()), last_failure = $2
          WHERE id = $1 RETURNING consecutive_failures, failing_since, enabled`,
        [id, reason],
      );
      const row = rows[0];
      if (!row) return undefined;
      const pausedNow = row.enabled && row.consecutive_failures >= pauseThreshold;
      if (pausedNow) {
        const pausedReason = `paused itself after ${row.consecutive_failures} consecutive failed windows since ${row.failing_since.toISOString()}: ${reason}`;
        await client.query(`UPDATE ${this.schema}.interface SET enabled = false, paused_reason = $2, updated_at = now() WHERE id = $1`, [id, pausedReason]);
        await this.audit(client, id, 'barcodes', 'auto-pause', { reason: pausedReason });
      }
      const { rows: current } = await client.query<InterfaceRow>(`${this.selectSql()} WHERE i.id = $1`, [id]);
      return { consecutiveFailures: row.consecutive_failures, failingSince: row.failing_since, pausedNow, iface: toInterface(current[0]!) };
    });
  }

  /** A delivered window ends a run of failures. */
  async recordSuccess(id: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.interface SET consecutive_failures = 0, failing_since = NULL, last_failure = NULL
        WHERE id = $1 AND consecutive_failures > 0`,
      [id],
    );
  }

  /** Marks that the next window of this interface was asked for by `barcodes run`. */
  async requestRun(id: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.schema}.interface SET run_requested_at = now() WHERE id = $1`, [id]);
  }

  async history(id: number): Promise<{ at: Date; actor: string; action: string; details: Record<string, unknown> }[]> {
    const { rows } = await this.pool.query(
      `SELECT at, actor, action, details FROM ${this.schema}.config_change WHERE interface_id = $1 ORDER BY id`,
      [id],
    );
    return rows;
  }

  private async lock(client: pg.PoolClient, id: number): Promise<void> {
    const { rowCount } = await client.query(`SELECT 1 FROM ${this.schema}.interface WHERE id = $1 FOR UPDATE`, [id]);
    if (rowCount === 0) throw new NotFoundError(`interface ${id} does not exist`);
  }

  private async insertMapping(client: pg.PoolClient, id: number, kind: MappingKind, code: string): Promise<boolean> {
    const { rowCount } = await client.query(
      `INSERT INTO ${this.schema}.mapping (interface_id, kind, code) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [id, kind, code],
    );
    return rowCount === 1;
  }

  private async audit(client: pg.PoolClient, id: number, actor: string, action: string, details: Record<string, unknown>) {
    await client.query(
      `INSERT INTO ${this.schema}.config_change (interface_id, actor, action, details) VALUES ($1, $2, $3, $4)`,
      [id, actor, action, JSON.stringify(details)],
    );
  }

  private selectSql(): string {
    return `SELECT i.*,
        (SELECT array_agg(code ORDER BY code) FROM ${this.schema}.mapping m WHERE m.interface_id = i.id AND m.kind = 'contact') AS contacts,
        (SELECT array_agg(code ORDER BY code) FROM ${this.schema}.mapping m WHERE m.interface_id = i.id AND m.kind = 'channel') AS channels
      FROM ${this.schema}.interface i`;
  }
}

function toInterface(row: InterfaceRow): ExportInterface {
  return {
    id: Number(row.id),
    name: row.name,
    recipients: row.recipients,
    intervalSeconds: row.interval_seconds,
    lagSeconds: row.lag_seconds,
    timeZone: row.time_zone,
    format: row.format,
    startAt: row.start_at,
    enabled: row.enabled,
    alertEmail: row.alert_email,
    contacts: row.contacts ?? [],
    channels: row.channels ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    consecutiveFailures: row.consecutive_failures,
    failingSince: row.failing_since,
    lastFailure: row.last_failure,
    pausedReason: row.paused_reason,
  };
}
