import type pg from 'pg';

/** What `barcodes doctor` found about the ticket state change log (CONTRACT.md §2). */
interface ChangeLogStatus {
  /** The ticket_state_change table exists in the source schema. */
  table: boolean;
  /** An enabled row trigger on ticket whose function writes ticket_state_change. */
  trigger: string | null;
  /** Whether an update of a ticket's state, rolled back, wrote a change row; null: not tried (why in `untested`). */
  fires: boolean | null;
  untested?: string;
}

/**
 * Looks for the change log and its trigger, and, where the role may update tickets, proves the
 * trigger fires: one ticket's state is changed in a transaction that is always rolled back (a
 * short lock timeout, so a busy ticket makes it say so rather than wait).
 */
export async function checkChangeLog(
  pool: pg.Pool,
  schema: string,
  options: { tryTrigger?: boolean } = {},
): Promise<ChangeLogStatus> {
  const { rows } = await pool.query<{ has_table: boolean; trigger: string | null; may_update: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS has_table,
            (SELECT tg.tgname FROM pg_trigger tg JOIN pg_proc f ON f.oid = tg.tgfoid
              WHERE tg.tgrelid = to_regclass($2) AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
                AND f.prosrc ILIKE '%ticket_state_change%' ORDER BY tg.tgname LIMIT 1) AS trigger,
            coalesce(has_table_privilege(to_regclass($2), 'UPDATE'), false) AS may_update`,
    [`${schema}.ticket_state_change`, `${schema}.ticket`],
  );
  const found = rows[0]!;
  const status: ChangeLogStatus = { table: found.has_table, trigger: found.trigger, fires: null };
  if (!found.has_table || !found.trigger) return status;
  if (options.tryTrigger === false) return { ...status, untested: 'not asked to' };
  if (!found.may_update) return { ...status, untested: 'this role may not update tickets' };
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = '2s'`);
    const { rows: changed } = await client.query<{ id: string }>(
      `UPDATE ${schema}.ticket SET state = CASE WHEN state = 'CANCELLED' THEN 'PRINTED' ELSE 'CANCELLED' END
        WHERE id = (SELECT id FROM ${schema}.ticket ORDER BY id DESC LIMIT 1) RETURNING id::text`,
    );
    if (changed.length === 0) return { ...status, untested: 'no ticket to try it on' };
    const { rows: logged } = await client.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${schema}.ticket_state_change WHERE ticket_id = $1 AND changed_at = now()`,
      [changed[0]!.id],
    );
    return { ...status, fires: logged[0]!.count > 0 };
  } catch (error) {
    return { ...status, untested: `the trial update failed: ${(error as Error).message}` };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}
