import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, so operators find every run of one interface in the Temporal UI and
 * see its window, ticket count and status without opening payloads. Shared by the workflow (which
 * upserts them) and the client (which registers them and sets the interface id on the schedule).
 */
export const InterfaceIdKey = defineSearchAttributeKey('BarcodesInterfaceId', SearchAttributeType.KEYWORD);
/**
 * The interface's name, set by its schedule on the schedule and on every run it starts, so the
 * UI's Schedules and Workflows lists name the reseller. A search attribute, not a memo or summary:
 * those are payloads, unreadable in the UI without a codec server once payload encryption is on.
 */
export const InterfaceNameKey = defineSearchAttributeKey(
  'BarcodesInterfaceName',
  SearchAttributeType.KEYWORD,
);
export const WindowStartKey = defineSearchAttributeKey('BarcodesWindowStart', SearchAttributeType.DATETIME);
export const WindowEndKey = defineSearchAttributeKey('BarcodesWindowEnd', SearchAttributeType.DATETIME);
export const TicketCountKey = defineSearchAttributeKey('BarcodesTicketCount', SearchAttributeType.INT);
export const DeliveryStatusKey = defineSearchAttributeKey(
  'BarcodesDeliveryStatus',
  SearchAttributeType.KEYWORD,
);

export const ALL_SEARCH_ATTRIBUTES = [
  InterfaceIdKey,
  InterfaceNameKey,
  WindowStartKey,
  WindowEndKey,
  TicketCountKey,
  DeliveryStatusKey,
];

/** The schedule's own attribute: when this run was meant to happen. */
export const ScheduledStartTimeKey = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);
