import type { ExportInterface } from '../lib/interfaces/store';
import type { Delivery } from '../lib/ledger/ledger';
import { formatDuration } from '../lib/duration';

/** Writes machine-readable JSON (one document) or human-readable lines, never both. */
export interface Output {
  json: boolean;
  /** Prints the value as JSON in --json mode, else the given text. */
  result(value: unknown, text: () => string): void;
  /** A remark for humans on stderr (warnings, "Temporal not reachable"), in both modes. */
  note(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, text) {
      process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text() + '\n');
    },
    note(line) {
      process.stderr.write(line + '\n');
    },
  };
}

/** Rows as aligned columns under a header line (text output of list-like commands). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `interface list`: one row per interface; a self-pause or a refused run says why. */
export function interfaceTable(interfaces: ExportInterface[]): string {
  return formatTable(
    ['ID', 'STATE', 'EVERY', 'MAPPINGS', 'STATE CHANGES', 'NAME', 'NOTE'],
    interfaces.map((iface) => [
      String(iface.id),
      iface.pausedReason ? 'self-paused' : iface.enabled ? 'enabled' : 'disabled',
      formatDuration(iface.intervalSeconds * 1000),
      `${iface.contacts.length} contacts, ${iface.channels.length} channels`,
      iface.stateChanges ? stateChangesText(iface.stateChanges) : 'off',
      iface.name,
      iface.pausedReason ??
        (iface.refusedRun
          ? `last run refused ${iface.refusedRun.at.toISOString()}: ${iface.refusedRun.reason}`
          : ''),
    ]),
  );
}

/** `deliveries`: one row per delivery, newest first. */
export function deliveryTable(deliveries: Delivery[]): string {
  return formatTable(
    ['ID', 'AT', 'KIND', 'STATUS', 'WINDOW', 'TICKETS', 'FILE', 'SHA-256', 'ERROR'],
    deliveries.map((delivery) => [
      String(delivery.id),
      (delivery.sentAt ?? delivery.createdAt).toISOString(),
      delivery.kind,
      delivery.status,
      `${delivery.windowStart.toISOString()} .. ${delivery.windowEnd.toISOString()}`,
      String(delivery.ticketCount),
      delivery.fileName ?? '-',
      delivery.sha256 ? `${delivery.sha256.slice(0, 16)}…` : '-',
      delivery.lastError ?? '',
    ]),
  );
}

export function interfaceJson(iface: ExportInterface) {
  return {
    id: iface.id,
    name: iface.name,
    enabled: iface.enabled,
    recipients: iface.recipients,
    contacts: iface.contacts,
    channels: iface.channels,
    every: formatDuration(iface.intervalSeconds * 1000),
    lag: formatDuration(iface.lagSeconds * 1000),
    timezone: iface.timeZone,
    format: iface.format,
    start: iface.startAt.toISOString(),
    alertEmail: iface.alertEmail,
    createdAt: iface.createdAt.toISOString(),
    updatedAt: iface.updatedAt.toISOString(),
    consecutiveFailures: iface.consecutiveFailures,
    failingSince: iface.failingSince?.toISOString() ?? null,
    lastFailure: iface.lastFailure,
    pausedReason: iface.pausedReason,
    configVersion: iface.configVersion,
    refusedRun: iface.refusedRun && {
      at: iface.refusedRun.at.toISOString(),
      reason: iface.refusedRun.reason,
    },
    // null: off; [] every state; else the end states whose changes are sent.
    stateChanges: iface.stateChanges,
    pgpKey: iface.pgpKey && {
      fingerprint: iface.pgpKey.fingerprint,
      userIds: iface.pgpKey.userIds,
      expiresAt: iface.pgpKey.expiresAt?.toISOString() ?? null,
    },
    // Fingerprints only: the secrets stay sealed in the database.
    destinations: iface.destinations,
  };
}

export function interfaceText(iface: ExportInterface): string {
  return [
    `interface ${iface.id}: ${iface.name} (${iface.enabled ? 'enabled' : 'disabled'})`,
    `  recipients: ${iface.recipients.join(', ') || '- (no email)'}`,
    ...iface.destinations.map((destination) =>
      destination.kind === 'sftp'
        ? `  sftp:       ${destination.url} (host key ${destination.hostKeyFingerprint}, client key ${destination.secretFingerprint})`
        : `  https:      ${destination.url} (signing secret ${destination.secretFingerprint})`,
    ),
    `  contacts:   ${iface.contacts.join(', ') || '-'}`,
    `  channels:   ${iface.channels.join(', ') || '-'}`,
    `  every ${formatDuration(iface.intervalSeconds * 1000)}, lag ${formatDuration(iface.lagSeconds * 1000)}, time zone ${iface.timeZone}`,
    `  format:     ${iface.format ? indentedJson(iface.format) : 'default (SecuTix barcodes CSV)'}`,
    `  first window starts ${iface.startAt.toISOString()}${iface.alertEmail ? `, alerts to ${iface.alertEmail}` : ''}`,
    `  pgp key:    ${pgpKeyText(iface)}`,
    `  state changes: ${iface.stateChanges ? stateChangesText(iface.stateChanges) : 'off (new tickets only)'}`,
    ...(iface.pausedReason ? [`  PAUSED:     ${iface.pausedReason}`] : []),
    ...(iface.refusedRun
      ? [
          `  refused:    a run at ${iface.refusedRun.at.toISOString()} exported nothing: ${iface.refusedRun.reason}`,
        ]
      : []),
    ...(iface.consecutiveFailures > 0
      ? [
          `  failing:    ${iface.consecutiveFailures} window(s) in a row since ${iface.failingSince?.toISOString()}: ${iface.lastFailure}`,
        ]
      : []),
  ].join('\n');
}

/** A format specification as people write it: indented, continued under the label. */
function indentedJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\n/g, '\n              ');
}

/** What state-change rows an interface sends, in a few words. */
function stateChangesText(states: readonly string[]): string {
  return states.length === 0 ? 'every change' : `changes to ${states.join(', ')}`;
}

/** The key files are encrypted to, in one line: fingerprint, user ids, expiry. */
function pgpKeyText(iface: ExportInterface): string {
  const key = iface.pgpKey;
  if (!key) return 'none (files are sent unencrypted)';
  // User ids come from the reseller's key: no control character reaches the terminal.
  const userIds = key.userIds.length
    ? ` ${key.userIds.join(', ').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`
    : '';
  return `${key.fingerprint}${userIds}, ${key.expiresAt ? `expires ${key.expiresAt.toISOString()}` : 'does not expire'} (files are encrypted to it)`;
}

export function deliveryJson(delivery: Delivery) {
  return {
    id: delivery.id,
    interfaceId: delivery.interfaceId,
    kind: delivery.kind,
    windowStart: delivery.windowStart.toISOString(),
    windowEnd: delivery.windowEnd.toISOString(),
    ticketCount: delivery.ticketCount,
    status: delivery.status,
    fileName: delivery.fileName,
    sha256: delivery.sha256,
    parts: delivery.partCount,
    bytes: delivery.byteCount,
    recipients: delivery.recipients,
    attempts: delivery.attempts,
    lastError: delivery.lastError,
    originalDeliveryId: delivery.originalDeliveryId,
    heldBack: delivery.heldBack,
    createdAt: delivery.createdAt.toISOString(),
    sentAt: delivery.sentAt?.toISOString() ?? null,
    /** Null: every destination of the interface; else what `resend --to` chose. */
    destinations: delivery.destinations,
  };
}

export function deliveryLine(delivery: Delivery): string {
  const when = (delivery.sentAt ?? delivery.createdAt).toISOString();
  return [
    `#${delivery.id}`,
    when,
    delivery.kind,
    delivery.status,
    `${delivery.windowStart.toISOString()} .. ${delivery.windowEnd.toISOString()}`,
    `${delivery.ticketCount} tickets`,
    delivery.fileName ?? '-',
    delivery.sha256 ? `sha256:${delivery.sha256.slice(0, 16)}…` : '',
    delivery.lastError ? `error: ${delivery.lastError}` : '',
  ]
    .filter(Boolean)
    .join('  ');
}
