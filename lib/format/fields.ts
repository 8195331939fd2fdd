import { DEFAULT_COLUMNS, type TicketRow } from '../tickets';

/**
 * The ticket fields a column can show: the eleven of CONTRACT.md §3 in their contract order, then
 * the extras resellers commonly ask for.
 */
export const FIELD_NAMES = [
  ...DEFAULT_COLUMNS,
  'TICKET_ID',
  'ORDER_ID',
  'SALES_CHANNEL_CODE',
  'CONTACT_NAME',
  'CREATED_AT',
  // State-change rows (CONTRACT.md §1, docs/state-changes.md).
  'CHANGE',
  'PREVIOUS_STATE',
  'CHANGED_AT',
] as const;

export type FieldName = (typeof FIELD_NAMES)[number];

/**
 * How a field is rendered: `text` as is (empty when null), `date` with the spec's dateFormat,
 * `datetime` with its dateTimeFormat in the interface's time zone, `price` with its decimal rules.
 */
export type FieldKind = 'text' | 'date' | 'datetime' | 'price';

export interface FieldDefinition {
  readonly kind: FieldKind;
  /** The TicketRow property holding the value. */
  readonly property: keyof TicketRow;
  /** Text shown when the value is null or absent (default: empty). */
  readonly whenAbsent?: string;
}

export const FIELDS: Readonly<Record<FieldName, FieldDefinition>> = {
  BAR_CODE: { kind: 'text', property: 'barCode' },
  TICKET_STATE: { kind: 'text', property: 'state' },
  FILE_NUMBER: { kind: 'text', property: 'fileNumber' },
  PRODUCT_CODE: { kind: 'text', property: 'productCode' },
  PRODUCT_NAME: { kind: 'text', property: 'productName' },
  VALIDITY_DATE: { kind: 'date', property: 'validityDate' },
  TARIFF_CODE: { kind: 'text', property: 'tariffCode' },
  TARIFF_NAME: { kind: 'text', property: 'tariffName' },
  PRICE: { kind: 'price', property: 'price' },
  ORDER_DATE: { kind: 'datetime', property: 'orderDate' },
  CONTACT_NUMBER: { kind: 'text', property: 'contactNumber' },
  TICKET_ID: { kind: 'text', property: 'id' },
  ORDER_ID: { kind: 'text', property: 'orderId' },
  SALES_CHANNEL_CODE: { kind: 'text', property: 'salesChannelCode' },
  CONTACT_NAME: { kind: 'text', property: 'contactName' },
  CREATED_AT: { kind: 'datetime', property: 'createdAt' },
  // A plain window's rows are all new tickets: they carry no `change`, and show NEW.
  CHANGE: { kind: 'text', property: 'change', whenAbsent: 'NEW' },
  PREVIOUS_STATE: { kind: 'text', property: 'previousState' },
  // Empty for NEW rows: the only datetime that may be absent.
  CHANGED_AT: { kind: 'datetime', property: 'changedAt', whenAbsent: '' },
};
