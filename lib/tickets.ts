/**
 * One ticket as read from the ticket source (CONTRACT.md §2), joined with its order, product,
 * tariff and contact. This is the only shape the renderer sees; values are kept as PostgreSQL
 * gives them as text where exact rendering matters (price, validity date).
 */
export interface TicketRow {
  /** ticket.id (bigint, as decimal text so it never loses precision) */
  id: string;
  /** ticket.bar_code */
  barCode: string;
  /** ticket.state: PRINTED, NOT_PRINTED, CANCELLED, INVALIDATED or CONTROLLED */
  state: string;
  /** ticket_order.file_number */
  fileNumber: string;
  /** product.code */
  productCode: string;
  /** product.name */
  productName: string;
  /** ticket.validity_date as `YYYY-MM-DD`, null for open-dated tickets */
  validityDate: string | null;
  /** tariff.code */
  tariffCode: string;
  /** tariff.name */
  tariffName: string;
  /** ticket.price as PostgreSQL prints numeric(12,2), e.g. `1234.50` or `-3.00` */
  price: string;
  /** ticket_order.order_date */
  orderDate: Date;
  /** ticket_order.contact_number, null when the order has no contact */
  contactNumber: string | null;
  /** contact.name of the buyer, null when the order has no contact */
  contactName: string | null;
  /** ticket_order.sales_channel_code */
  salesChannelCode: string;
  /** ticket_order.id */
  orderId: string;
  /** ticket.created_at */
  createdAt: Date;
  /**
   * Set only by the state-change window (lib/source/state-changes.ts, CONTRACT.md §1): `NEW` for a
   * ticket created in the window, `STATE_CHANGE` for an earlier one whose state changed. Absent:
   * a plain window, whose rows are all new tickets.
   */
  change?: RowChange;
  /** State-change rows: the state at the window's start; null for NEW rows. */
  previousState?: string | null;
  /** State-change rows: changed_at of the change that gave the state shown; null for NEW rows. */
  changedAt?: Date | null;
}

/** The five ticket states of CONTRACT.md §2. */
export const TICKET_STATES = ['PRINTED', 'NOT_PRINTED', 'CANCELLED', 'INVALIDATED', 'CONTROLLED'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

/** What a row of a state-change window tells its reseller. */
export type RowChange = 'NEW' | 'STATE_CHANGE';

/** The eleven columns of the SecuTix "Barcodes for reseller" file, in their contract order. */
export const DEFAULT_COLUMNS = [
  'BAR_CODE',
  'TICKET_STATE',
  'FILE_NUMBER',
  'PRODUCT_CODE',
  'PRODUCT_NAME',
  'VALIDITY_DATE',
  'TARIFF_CODE',
  'TARIFF_NAME',
  'PRICE',
  'ORDER_DATE',
  'CONTACT_NUMBER',
] as const;
