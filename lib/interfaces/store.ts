import pg from 'pg';
import { NotFoundError, InputError } from '../errors';
import { inTransaction } from '../db/pool';
import { readRecipientKey } from '../security/openpgp';
import type { TicketState } from '../tickets';
import type { RemoteDestinationKind } from '../destinations/types';

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
  /**
   * The reseller's OpenPGP public key (armored): files are encrypted to it. Null or absent: plain
   * files. The store reads it again and refuses a key files cannot be encrypted to.
   */
  pgpPublicKey?: string | null;
  /**
   * State-change rows (CONTRACT.md §1): null or absent: off; an empty list: every change; else
   * only changes whose end state is listed.
   */
  stateChanges?: readonly TicketState[] | null;
  /**
   * SFTP and HTTPS destinations to set (a value) or remove (null); absent kinds stay as they are.
   * Their secrets arrive sealed (lib/destinations/secret-box.ts): the store never sees them plain.
   */
  setDestinations?: Partial<Record<RemoteDestinationKind, SealedDestination | null>>;
}

/** A remote destination as stored: its secret sealed, with a fingerprint for display and audit. */
export interface SealedDestination {
  url: string;
  /** SFTP only: the pinned host key. */
  hostKeyFingerprint: string | null;
  secretSealed: string;
  secretFingerprint: string;
}

/** What `show`, `list --json` and the audit trail say about a remote destination: never its secret. */
interface DestinationSummary {
  kind: RemoteDestinationKind;
  url: string;
  hostKeyFingerprint: string | null;
  secretFingerprint: string;
}

/** What was read from an interface's OpenPGP key when it was set, for display. */
interface PgpKeySummary {
  /** Upper-case hex fingerprint of the primary key. */
  fingerprint: string;
  userIds: string[];
  /** When it stops being usable for encryption; null: never. */
  expiresAt: Date | null;
}

/** An interface as stored: its fields, its mappings and its health. */
export interface ExportInterface extends InterfaceFields {
  id: number;
  pgpPublicKey: string | null;
  stateChanges: readonly TicketState[] | null;
  /** Null when the interface sends plain files. */
  pgpKey: PgpKeySummary | null;
  /** SFTP and HTTPS destinations (email is `recipients`). */
  destinations: DestinationSummary[];
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
  /**
   * Bumped by every committed change (fields, mappings, enable/disable, self-pause). A schedule
   * carries the version it was written from; the worker refuses a run made from another one.
   */
  configVersion: number;
  /** The last run the worker refused to export (disabled, no mapping, stale schedule), if any. */
  refusedRun: { at: Date; reason: string } | null;
}

/** What recording a permanent failure led to. */
export interface FailureRecord {
  consecutiveFailures: number;
  failingSince: Date;
  /** True when this failure reached the threshold and the interface paused itself now. */
  pausedNow: boolean;
  iface: ExportInterface;
}

interface InterfaceRow extends PgpKeyColumns {
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
  config_version: string;
  refused_run_at: Date | null;
  refused_run_reason: string | null;
  state_changes: TicketState[] | null;
  destinations: DestinationSummary[] | null;
}

/** The key's columns, and what the audit trail records of it (its fingerprint, never the key). */
interface PgpKeyColumns {
  pgp_public_key: string | null;
  pgp_key_fingerprint: string | null;
  pgp_key_user_ids: string[] | null;
  pgp_key_expires_at: Date | null;
}

const UNIQUE_VIOLATION = '23505';
/** The one way a committed change marks the interface's configuration as new. */
const BUMP_VERSION = 'config_version = config_version + 1, updated_at = now()';

/**
 * Interfaces and their mappings in the exporter's schema. Every change is recorded in
 * config_change with its actor, in the same transaction as the change.
 */
export class InterfaceStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  async create(
    fields: InterfaceFields,
    mappings: { contacts: string[]; channels: string[] },
    actor: string,
  ): Promise<ExportInterface> {
    const key = await pgpKeyColumns(fields.pgpPublicKey ?? null);
    const id = await inTransaction(this.pool, async (client) => {
      let inserted: pg.QueryResult<{ id: string }>;
      try {
        inserted = await client.query<{ id: string }>(
          `INSERT INTO ${this.schema}.interface
             (name, recipients, interval_seconds, lag_seconds, time_zone, format, start_at, enabled, alert_email,
              pgp_public_key, pgp_key_fingerprint, pgp_key_user_ids, pgp_key_expires_at, state_changes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
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
            key.pgp_public_key,
            key.pgp_key_fingerprint,
            key.pgp_key_user_ids,
            key.pgp_key_expires_at,
            fields.stateChanges ?? null,
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
      const { pgpPublicKey: _key, setDestinations, ...audited } = fields;
      const destinationAudit = await this.writeDestinations(client, newId, setDestinations ?? {});
      await this.checkHasDestination(client, newId);
      await this.audit(client, newId, actor, 'create', {
        ...audited,
        stateChanges: fields.stateChanges ?? null,
        ...mappings,
        pgpKeyFingerprint: key.pgp_key_fingerprint,
        ...destinationAudit,
      });
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
  async update(
    id: number,
    changes: Partial<InterfaceFields>,
    actor: string,
    action = 'update',
  ): Promise<ExportInterface> {
    const columns: Record<Exclude<keyof InterfaceFields, 'pgpPublicKey' | 'setDestinations'>, string> = {
      name: 'name',
      recipients: 'recipients',
      intervalSeconds: 'interval_seconds',
      lagSeconds: 'lag_seconds',
      timeZone: 'time_zone',
      format: 'format',
      startAt: 'start_at',
      enabled: 'enabled',
      alertEmail: 'alert_email',
      stateChanges: 'state_changes',
    };
    const { pgpPublicKey, setDestinations, ...plainChanges } = changes;
    const key = pgpPublicKey === undefined ? undefined : await pgpKeyColumns(pgpPublicKey);
    const entries = Object.entries(plainChanges).filter(([, value]) => value !== undefined) as [
      keyof typeof columns,
      unknown,
    ][];
    const assigned: [string, unknown][] = [
      ...entries.map(([name, value]): [string, unknown] => [columns[name], value]),
      ...Object.entries(key ?? {}),
    ];
    const audited: Record<string, unknown> = Object.fromEntries(entries);
    await inTransaction(this.pool, async (client) => {
      const previous = await this.lock(client, id);
      if (key !== undefined) {
        audited.pgpKeyFingerprint = key.pgp_key_fingerprint;
        audited.previousPgpKeyFingerprint = previous.pgp_key_fingerprint;
      }
      const destinationAudit = await this.writeDestinations(client, id, setDestinations ?? {});
      Object.assign(audited, destinationAudit);
      if (Object.keys(destinationAudit).length > 0 && assigned.length === 0)
        await this.bumpVersion(client, id);
      if (assigned.length > 0) {
        const assignments = assigned.map(([column], index) => `${column} = $${index + 2}`);
        // An operator enabling the interface takes it out of its self-pause and starts counting anew.
        if (changes.enabled === true)
          assignments.push('paused_reason = NULL', 'consecutive_failures = 0', 'failing_since = NULL');
        assignments.push(BUMP_VERSION);
        try {
          await client.query(`UPDATE ${this.schema}.interface SET ${assignments.join(', ')} WHERE id = $1`, [
            id,
            ...assigned.map(([, value]) => value),
          ]);
        } catch (error) {
          if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
            throw new InputError(`--name: an interface named ${JSON.stringify(changes.name)} already exists`);
          }
          throw error;
        }
      }
      await this.checkHasDestination(client, id);
      await this.audit(client, id, actor, action, audited);
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
      if (!added)
        throw new InputError(`--${kind}: ${JSON.stringify(code)} is already mapped to interface ${id}`);
      await this.bumpVersion(client, id);
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
      if (removed.rowCount === 0)
        throw new InputError(`--${kind}: ${JSON.stringify(code)} is not mapped to interface ${id}`);
      await this.bumpVersion(client, id);
      await this.audit(client, id, actor, 'mapping remove', { kind, code });
    });
  }

  /**
   * Locks the interface row for the caller's transaction (windows of one interface are frozen one
   * at a time, and configuration changes wait for a freeze in progress) and reads it, with whether
   * `barcodes run` asked for the next window.
   */
  async lockForWindow(
    client: pg.PoolClient,
    id: number,
  ): Promise<(ExportInterface & { runRequested: boolean }) | undefined> {
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
  async recordPermanentFailure(
    id: number,
    reason: string,
    pauseThreshold: number,
  ): Promise<FailureRecord | undefined> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{
        consecutive_failures: number;
        failing_since: Date;
        enabled: boolean;
      }>(
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
        await client.query(
          `UPDATE ${this.schema}.interface SET enabled = false, paused_reason = $2, ${BUMP_VERSION} WHERE id = $1`,
          [id, pausedReason],
        );
        await this.audit(client, id, 'barcodes', 'auto-pause', { reason: pausedReason });
      }
      const { rows: current } = await client.query<InterfaceRow>(`${this.selectSql()} WHERE i.id = $1`, [id]);
      return {
        consecutiveFailures: row.consecutive_failures,
        failingSince: row.failing_since,
        pausedNow,
        iface: toInterface(current[0]!),
      };
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

  /**
   * Runs `apply` with the interface as committed now (undefined once deleted), holding a lock that
   * serialises every apply of this interface's schedule. Each apply thus pushes a configuration at
   * least as new as any apply before it, and the last one pushes the latest. An advisory lock, not
   * the row lock: a window being frozen never waits for Temporal.
   */
  async withScheduleLock<T>(
    id: number,
    apply: (iface: ExportInterface | undefined) => Promise<T>,
  ): Promise<T> {
    const client = await this.pool.connect();
    const key = `${this.schema}:schedule:${id}`;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      try {
        const { rows } = await client.query<InterfaceRow>(`${this.selectSql()} WHERE i.id = $1`, [id]);
        return await apply(rows[0] && toInterface(rows[0]));
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      }
    } finally {
      client.release();
    }
  }

  /**
   * Records a run the worker refused to export, so `interface show` and `list` say why nothing
   * was delivered (the run also ends visibly in the Temporal UI).
   */
  async recordRefusedRun(id: number, reason: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.interface SET refused_run_at = now(), refused_run_reason = $2 WHERE id = $1`,
      [id, reason],
    );
  }

  /** Marks that the next window of this interface was asked for by `barcodes run`. */
  async requestRun(id: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.schema}.interface SET run_requested_at = now() WHERE id = $1`, [id]);
  }

  async history(
    id: number,
  ): Promise<{ at: Date; actor: string; action: string; details: Record<string, unknown> }[]> {
    const { rows } = await this.pool.query(
      `SELECT at, actor, action, details FROM ${this.schema}.config_change WHERE interface_id = $1 ORDER BY id`,
      [id],
    );
    return rows;
  }

  /** Locks the interface's row for the transaction; returns its key's fingerprint (for the audit trail). */
  private async lock(client: pg.PoolClient, id: number): Promise<{ pgp_key_fingerprint: string | null }> {
    const { rows } = await client.query<{ pgp_key_fingerprint: string | null }>(
      `SELECT pgp_key_fingerprint FROM ${this.schema}.interface WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (rows.length === 0) throw new NotFoundError(`interface ${id} does not exist`);
    return rows[0]!;
  }

  /**
   * The sealed secrets of an interface's remote destinations, for the worker that sends (and
   * `doctor`), which open them with BARCODES_SECRETS_KEY.
   */
  async sealedDestinations(id: number): Promise<(SealedDestination & { kind: RemoteDestinationKind })[]> {
    const { rows } = await this.pool.query(
      `SELECT kind, url, host_key_fingerprint, secret_sealed, secret_fingerprint FROM ${this.schema}.destination WHERE interface_id = $1 ORDER BY kind`,
      [id],
    );
    return rows.map((row) => ({
      kind: row.kind,
      url: row.url,
      hostKeyFingerprint: row.host_key_fingerprint,
      secretSealed: row.secret_sealed,
      secretFingerprint: row.secret_fingerprint,
    }));
  }

  /** Writes the given destinations; returns what the audit trail records of them (fingerprints only). */
  private async writeDestinations(
    client: pg.PoolClient,
    id: number,
    changes: Partial<Record<RemoteDestinationKind, SealedDestination | null>>,
  ): Promise<Record<string, unknown>> {
    const audited: Record<string, unknown> = {};
    for (const [kind, destination] of Object.entries(changes) as [
      RemoteDestinationKind,
      SealedDestination | null | undefined,
    ][]) {
      if (destination === undefined) continue;
      if (destination === null) {
        await client.query(`DELETE FROM ${this.schema}.destination WHERE interface_id = $1 AND kind = $2`, [
          id,
          kind,
        ]);
        audited[kind] = null;
        continue;
      }
      await client.query(
        `INSERT INTO ${this.schema}.destination (interface_id, kind, url, host_key_fingerprint, secret_sealed, secret_fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (interface_id, kind) DO UPDATE SET url = EXCLUDED.url, host_key_fingerprint = EXCLUDED.host_key_fingerprint,
           secret_sealed = EXCLUDED.secret_sealed, secret_fingerprint = EXCLUDED.secret_fingerprint, updated_at = now()`,
        [
          id,
          kind,
          destination.url,
          destination.hostKeyFingerprint,
          destination.secretSealed,
          destination.secretFingerprint,
        ],
      );
      audited[kind] = {
        url: destination.url,
        hostKeyFingerprint: destination.hostKeyFingerprint ?? undefined,
        secretFingerprint: destination.secretFingerprint,
      };
    }
    return audited;
  }

  /** An interface must deliver somewhere: a recipient, or an SFTP or HTTPS destination. */
  private async checkHasDestination(client: pg.PoolClient, id: number): Promise<void> {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT cardinality(i.recipients) > 0 OR EXISTS (SELECT 1 FROM ${this.schema}.destination d WHERE d.interface_id = i.id) AS ok
         FROM ${this.schema}.interface i WHERE i.id = $1`,
      [id],
    );
    if (rows[0] && !rows[0].ok)
      throw new InputError('an interface needs at least one destination: --email, --sftp or --https');
  }

  private async bumpVersion(client: pg.PoolClient, id: number): Promise<void> {
    await client.query(`UPDATE ${this.schema}.interface SET ${BUMP_VERSION} WHERE id = $1`, [id]);
  }

  private async insertMapping(
    client: pg.PoolClient,
    id: number,
    kind: MappingKind,
    code: string,
  ): Promise<boolean> {
    const { rowCount } = await client.query(
      `INSERT INTO ${this.schema}.mapping (interface_id, kind, code) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [id, kind, code],
    );
    return rowCount === 1;
  }

  private async audit(
    client: pg.PoolClient,
    id: number,
    actor: string,
    action: string,
    details: Record<string, unknown>,
  ) {
    await client.query(
      `INSERT INTO ${this.schema}.config_change (interface_id, actor, action, details) VALUES ($1, $2, $3, $4)`,
      [id, actor, action, JSON.stringify(details)],
    );
  }

  private selectSql(): string {
    return `SELECT i.*,
        (SELECT array_agg(code ORDER BY code) FROM ${this.schema}.mapping m WHERE m.interface_id = i.id AND m.kind = 'contact') AS contacts,
        (SELECT array_agg(code ORDER BY code) FROM ${this.schema}.mapping m WHERE m.interface_id = i.id AND m.kind = 'channel') AS channels,
        (SELECT json_agg(json_build_object('kind', d.kind, 'url', d.url, 'hostKeyFingerprint', d.host_key_fingerprint,
                                           'secretFingerprint', d.secret_fingerprint) ORDER BY d.kind)
           FROM ${this.schema}.destination d WHERE d.interface_id = i.id) AS destinations
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
    destinations: row.destinations ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    consecutiveFailures: row.consecutive_failures,
    failingSince: row.failing_since,
    lastFailure: row.last_failure,
    pausedReason: row.paused_reason,
    configVersion: Number(row.config_version),
    refusedRun: row.refused_run_at && { at: row.refused_run_at, reason: row.refused_run_reason ?? '' },
    stateChanges: row.state_changes,
    pgpPublicKey: row.pgp_public_key,
    pgpKey:
      row.pgp_key_fingerprint === null
        ? null
        : {
            fingerprint: row.pgp_key_fingerprint,
            userIds: row.pgp_key_user_ids ?? [],
            expiresAt: row.pgp_key_expires_at,
          },
  };
}

/** Reads the key (refusing one files cannot be encrypted to) into its columns; null clears them. */
async function pgpKeyColumns(armored: string | null): Promise<PgpKeyColumns> {
  if (armored === null)
    return {
      pgp_public_key: null,
      pgp_key_fingerprint: null,
      pgp_key_user_ids: null,
      pgp_key_expires_at: null,
    };
  const key = await readRecipientKey(armored, 'pgpPublicKey');
  return {
    pgp_public_key: key.armored,
    pgp_key_fingerprint: key.fingerprint,
    pgp_key_user_ids: key.userIds,
    pgp_key_expires_at: key.expiresAt,
  };
}
