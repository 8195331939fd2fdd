import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';

/**
 * Reference data and ticket sales for the demo, the tests and the benchmark: the kind of rows a
 * ticketing system writes into the CONTRACT.md §2 tables. The reference rows by table: its key
 * column, and each code's name.
 */
const REFERENCE_DATA = {
  contact: {
    key: 'contact_number',
    rows: { 'C-1001': 'Demo Reseller AG', 'C-1002': 'Partner Agency Sàrl', 'C-2001': 'Jane Private' },
  },
  sales_channel: {
    key: 'code',
    rows: {
      WEB: 'Web shop',
      BOX: 'Box office',
      'RESELLER-WEB': 'Reseller web shop',
      AGENCY: 'Travel agency desk',
    },
  },
  product: {
    key: 'code',
    rows: {
      'P-OPERA': 'La Traviata; Grand Théâtre',
      'P-CONCERT': 'Symphony "Ode" Night',
      'P-MUSEUM': 'Museum day pass',
    },
  },
  tariff: { key: 'code', rows: { 'T-FULL': 'Full price', 'T-CHILD': 'Child (6–16)', 'T-SENIOR': 'Senior' } },
} as const;

/** A random code of one reference table. */
function randomCode(table: keyof typeof REFERENCE_DATA): string {
  const codes = Object.keys(REFERENCE_DATA[table].rows);
  return codes[randomInt(codes.length)]!;
}

const STATES = ['PRINTED', 'NOT_PRINTED', 'NOT_PRINTED', 'PRINTED', 'CONTROLLED'];

/** Inserts the reference rows; safe to run again. */
export async function seedReferenceData(pool: pg.Pool | pg.PoolClient, schema: string): Promise<void> {
  for (const [table, { key, rows }] of Object.entries(REFERENCE_DATA)) {
    for (const [code, name] of Object.entries(rows)) {
      await pool.query(
        `INSERT INTO ${schema}.${table} (${key}, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [code, name],
      );
    }
  }
}

export interface Sale {
  contactNumber: string | null;
  salesChannelCode: string;
  ticketCount: number;
}

export interface SoldTicket {
  id: string;
  barCode: string;
  contactNumber: string | null;
  salesChannelCode: string;
}

/** A random sale over the demo reference data. */
export function randomSale(): Sale {
  const contact = randomInt(4) === 0 ? null : randomCode('contact');
  return {
    contactNumber: contact,
    salesChannelCode: randomCode('sales_channel'),
    ticketCount: 1 + randomInt(4),
  };
}

function newBarCode(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/**
 * Writes one order with its tickets on the given client, inside whatever transaction the caller
 * holds (tests keep it open to commit late), and returns the tickets.
 */
export async function insertSale(
  client: pg.Pool | pg.PoolClient,
  schema: string,
  sale: Sale,
): Promise<SoldTicket[]> {
  const order = await client.query<{ id: string }>(
    `INSERT INTO ${schema}.ticket_order (file_number, contact_number, sales_channel_code, order_date)
     VALUES ($1, $2, $3, now()) RETURNING id`,
    [
      `F${Date.now().toString(36).toUpperCase()}${randomInt(1000)}`,
      sale.contactNumber,
      sale.salesChannelCode,
    ],
  );
  const orderId = order.rows[0]!.id;
  const barCodes = Array.from({ length: sale.ticketCount }, newBarCode);
  const { rows } = await client.query<{ id: string; bar_code: string }>(
    `INSERT INTO ${schema}.ticket (bar_code, order_id, product_code, tariff_code, price, validity_date, state)
     SELECT bar_code, $2, $3, $4, $5, $6, $7 FROM unnest($1::text[]) AS bar_code
     RETURNING id::text, bar_code`,
    [
      barCodes,
      orderId,
      randomCode('product'),
      randomCode('tariff'),
      (randomInt(1000, 20000) / 100).toFixed(2),
      randomInt(3) === 0
        ? null
        : new Date(Date.now() + randomInt(90) * 86_400_000).toISOString().slice(0, 10),
      STATES[randomInt(STATES.length)],
    ],
  );
  return rows.map((row) => ({
    id: row.id,
    barCode: row.bar_code,
    contactNumber: sale.contactNumber,
    salesChannelCode: sale.salesChannelCode,
  }));
}

/** What happened to a ticket after its sale (the demo's and the tests' state changes). */
interface AfterSale {
  action: 'cancel' | 'reprint';
  /** The ticket whose state changed. */
  barCode: string;
  /** A reprint's new ticket (the old barcode is invalidated). */
  reprint?: SoldTicket;
}

/**
 * Cancels or reprints one of the last `recent` tickets still valid, as a box office does after a
 * sale: a cancellation sets it CANCELLED; a reprint sets it INVALIDATED and sells the same seat
 * again under a new barcode, in one transaction. The state-change log records both (CONTRACT.md
 * §2's trigger), so interfaces with state changes on tell their resellers. Null: nothing to change.
 */
export async function cancelOrReprint(
  pool: pg.Pool,
  schema: string,
  recent = 200,
): Promise<AfterSale | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{
      id: string;
      bar_code: string;
      contact_number: string | null;
      sales_channel_code: string;
    }>(
      `SELECT t.id::text, t.bar_code, o.contact_number, o.sales_channel_code
         FROM (SELECT * FROM ${schema}.ticket ORDER BY id DESC LIMIT $1) t JOIN ${schema}.ticket_order o ON o.id = t.order_id
        WHERE t.state NOT IN ('CANCELLED', 'INVALIDATED')
        ORDER BY random() LIMIT 1 FOR UPDATE OF t SKIP LOCKED`,
      [recent],
    );
    const ticket = rows[0];
    if (!ticket) {
      await client.query('ROLLBACK');
      return null;
    }
    const action = randomInt(3) === 0 ? 'reprint' : 'cancel';
    await client.query(`UPDATE ${schema}.ticket SET state = $2, updated_at = now() WHERE id = $1`, [
      ticket.id,
      action === 'cancel' ? 'CANCELLED' : 'INVALIDATED',
    ]);
    const reprint =
      action === 'reprint'
        ? (
            await insertSale(client, schema, {
              contactNumber: ticket.contact_number,
              salesChannelCode: ticket.sales_channel_code,
              ticketCount: 1,
            })
          )[0]
        : undefined;
    await client.query('COMMIT');
    return { action, barCode: ticket.bar_code, reprint };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
