import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';

/**
 * Reference data and ticket sales for the demo, the tests and the benchmark: the kind of rows a
 * ticketing system writes into the CONTRACT.md §2 tables.
 */
export const DEMO_CONTACTS = [
  { number: 'C-1001', name: 'Demo Reseller AG' },
  { number: 'C-1002', name: 'Partner Agency Sàrl' },
  { number: 'C-2001', name: 'Jane Private' },
];
export const DEMO_CHANNELS = [
  { code: 'WEB', name: 'Web shop' },
  { code: 'BOX', name: 'Box office' },
  { code: 'RESELLER-WEB', name: 'Reseller web shop' },
  { code: 'AGENCY', name: 'Travel agency desk' },
];
export const DEMO_PRODUCTS = [
  { code: 'P-OPERA', name: 'La Traviata; Grand Théâtre' },
  { code: 'P-CONCERT', name: 'Symphony "Ode" Night' },
  { code: 'P-MUSEUM', name: 'Museum day pass' },
];
export const DEMO_TARIFFS = [
  { code: 'T-FULL', name: 'Full price' },
  { code: 'T-CHILD', name: 'Child (6–16)' },
  { code: 'T-SENIOR', name: 'Senior' },
];
const STATES = ['PRINTED', 'NOT_PRINTED', 'NOT_PRINTED', 'PRINTED', 'CONTROLLED'];

/** Inserts the reference rows; safe to run again. */
export async function seedReferenceData(pool: pg.Pool | pg.PoolClient, schema: string): Promise<void> {
  for (const contact of DEMO_CONTACTS) {
    await pool.query(
      `INSERT INTO ${schema}.contact (contact_number, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [contact.number, contact.name],
    );
  }
  for (const channel of DEMO_CHANNELS) {
    await pool.query(
      `INSERT INTO ${schema}.sales_channel (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      [channel.code, channel.name],
    );
  }
  for (const product of DEMO_PRODUCTS) {
    await pool.query(`INSERT INTO ${schema}.product (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      product.code,
      product.name,
    ]);
  }
  for (const tariff of DEMO_TARIFFS) {
    await pool.query(`INSERT INTO ${schema}.tariff (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      tariff.code,
      tariff.name,
    ]);
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
  const contact = randomInt(4) === 0 ? null : DEMO_CONTACTS[randomInt(DEMO_CONTACTS.length)]!.number;
  return {
    contactNumber: contact,
    salesChannelCode: DEMO_CHANNELS[randomInt(DEMO_CHANNELS.length)]!.code,
    ticketCount: 1 + randomInt(4),
  };
}

export function newBarCode(): string {
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
      DEMO_PRODUCTS[randomInt(DEMO_PRODUCTS.length)]!.code,
      DEMO_TARIFFS[randomInt(DEMO_TARIFFS.length)]!.code,
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
export interface AfterSale {
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
