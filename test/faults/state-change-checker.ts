/**
 * The exactly-once accounting of an interface with state changes on, computed independently of
 * the exporter: from the change log, the tickets and the delivered windows' bounds it derives, per
 * chain window, the rows CONTRACT.md §1 says it holds (its new tickets with their state at its end;
 * each earlier ticket of the interface whose state at its end differs from its state at its
 * start), and compares them with the rows that arrived over SMTP, per window (from the
 * Message-ID). Times are compared in exact microseconds, never through a JS Date.
 */
import { filesFor } from '../support/mail';
import { ledgerProblems, type CheckInput, type CheckedInterface, type InterfaceAccount } from './checker';

export interface StateChangeInterface extends CheckedInterface {
  /** The interface's option: end states shown ([] every state). */
  states: readonly string[];
}

/** Message-ID of a chain window: interface, window bounds, part. */
const CHAIN_MESSAGE_ID = /^<barcodes\.i(\d+)\.(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)\.p(\d+)of(\d+)@/;

interface Change {
  id: bigint;
  oldState: string;
  newState: string;
  /** Microseconds since the epoch. */
  at: number;
}

interface Ticket {
  barCode: string;
  state: string;
  createdAt: number;
  changes: Change[];
}

/** The contract's definition: by id, the new_state of the last change before T, else the first's old_state, else ticket.state. */
export function stateAt(ticket: Pick<Ticket, 'state' | 'changes'>, at: number): string {
  let last: Change | undefined;
  for (const change of ticket.changes) if (change.at < at) last = change;
  if (last) return last.newState;
  return ticket.changes[0]?.oldState ?? ticket.state;
}

/** `BAR_CODE|STATE|CHANGE` delivered in the window starting at `start` (compact UTC). */
function rowKey(start: string, barCode: string, state: string, change: string): string {
  return `${start} ${barCode} ${state} ${change}`;
}

export async function checkStateChangeInterface(
  input: CheckInput,
  iface: StateChangeInterface,
): Promise<InterfaceAccount> {
  const s = input.ticketingSchema;
  const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;
  const { rows: ticketRows } = await input.pool.query<{
    id: string;
    bar_code: string;
    state: string;
    created_at: string;
  }>(
    `SELECT t.id::text, t.bar_code, t.state, ${micros('t.created_at')} AS created_at
       FROM ${s}.ticket t JOIN ${s}.ticket_order o ON o.id = t.order_id
      WHERE o.contact_number = ANY($1::text[]) OR o.sales_channel_code = ANY($2::text[])`,
    [iface.contacts, iface.channels],
  );
  const tickets = new Map<string, Ticket>(
    ticketRows.map((row) => [
      row.id,
      { barCode: row.bar_code, state: row.state, createdAt: Number(row.created_at), changes: [] },
    ]),
  );
  const { rows: changeRows } = await input.pool.query<{
    id: string;
    ticket_id: string;
    old_state: string;
    new_state: string;
    changed_at: string;
  }>(
    `SELECT c.id::text, c.ticket_id::text, c.old_state, c.new_state, ${micros('c.changed_at')} AS changed_at FROM ${s}.ticket_state_change c ORDER BY c.id`, // by the bigint, not its text
  );
  for (const row of changeRows) {
    tickets.get(row.ticket_id)?.changes.push({
      id: BigInt(row.id),
      oldState: row.old_state,
      newState: row.new_state,
      at: Number(row.changed_at),
    });
  }
  const { rows: windows } = await input.pool.query<{ start: string; end: string; start_compact: string }>(
    `SELECT ${micros('window_start')} AS start, ${micros('window_end')} AS "end", to_char(window_start AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"') AS start_compact
       FROM ${input.exporterSchema}.delivery WHERE interface_id = $1 AND kind IN ('scheduled','run') ORDER BY window_start`,
    [iface.id],
  );
  const since = iface.startAt.getTime() * 1000;
  const expected = new Set<string>();
  for (const window of windows) {
    const [start, end] = [Number(window.start), Number(window.end)];
    for (const ticket of tickets.values()) {
      if (ticket.createdAt >= start && ticket.createdAt < end) {
        expected.add(rowKey(window.start_compact, ticket.barCode, stateAt(ticket, end), 'NEW'));
      } else if (ticket.createdAt >= since && ticket.createdAt < start) {
        const [before, after] = [stateAt(ticket, start), stateAt(ticket, end)];
        if (before !== after && (iface.states.length === 0 || iface.states.includes(after))) {
          expected.add(rowKey(window.start_compact, ticket.barCode, after, 'STATE_CHANGE'));
        }
      }
    }
  }

  // What arrived: each email once per Message-ID (a repeat with the same bytes is the known SMTP
  // duplicate, counted apart), each row under its window.
  const occurrences = new Map<string, number>();
  const seen = new Map<string, Buffer>();
  let duplicateEmails = 0;
  let conflictingFiles = 0;
  for (const file of filesFor(input.sink, iface.recipient)) {
    const messageId = file.mail.parsed.messageId ?? '(none)';
    const earlier = seen.get(messageId);
    if (earlier) {
      if (earlier.equals(file.content)) duplicateEmails++;
      else conflictingFiles++;
      continue;
    }
    seen.set(messageId, file.content);
    const start = CHAIN_MESSAGE_ID.exec(messageId)?.[2] ?? '(not a chain window)';
    for (const record of file.records) {
      const key = rowKey(start, record.BAR_CODE!, record.TICKET_STATE!, record.CHANGE!);
      occurrences.set(key, (occurrences.get(key) ?? 0) + 1);
    }
  }
  let duplicated = 0;
  for (const count of occurrences.values()) duplicated += count - 1;
  const lost = [...expected].filter((key) => !occurrences.has(key));
  // A lost row names the ticket's history, so a failure can be understood from the report alone.
  const byBarCode = new Map([...tickets.values()].map((ticket) => [ticket.barCode, ticket]));
  const explained = lost.map((key, index) => {
    if (index >= 3) return key;
    const ticket = byBarCode.get(key.split(' ')[1]!)!;
    const iso = (micros: number) =>
      `${new Date(Math.floor(micros / 1000)).toISOString().slice(11, 23)}${String(micros % 1000).padStart(3, '0')}`;
    return `${key} [created ${iso(ticket.createdAt)}, changes ${ticket.changes.map((change) => `#${change.id} ${change.oldState}>${change.newState}@${iso(change.at)}`).join(' ') || 'none'}]`;
  });
  return {
    interfaceId: iface.id,
    expected: expected.size,
    delivered: [...expected].filter((key) => occurrences.has(key)).length,
    lost: explained,
    duplicated,
    leaked: [...occurrences.keys()].filter((key) => !expected.has(key)),
    duplicateEmails,
    conflictingFiles,
    outOfOrder: 0,
    ledgerProblems: await ledgerProblems(input, iface, expected.size),
  };
}
