import type { OutgoingPart } from './types';

/**
 * The name a part is stored under at a file destination. The window's own delivery keeps the
 * file's name; a backfill or resend carries its kind and delivery id (`…Z.resend-42.csv`), so a
 * deliberate repeat never meets the original under the same name (which would be a conflict).
 */
export function remoteFileName(part: Pick<OutgoingPart, 'fileName' | 'deliveryKind' | 'deliveryId'>): string {
  if (part.deliveryKind === 'scheduled' || part.deliveryKind === 'run') return part.fileName;
  const dot = part.fileName.indexOf('.');
  const stem = dot > 0 ? part.fileName.slice(0, dot) : part.fileName;
  const extensions = dot > 0 ? part.fileName.slice(dot) : '';
  return `${stem}.${part.deliveryKind}-${part.deliveryId}${extensions}`;
}

/**
 * Where a part is written before it gets its final name: in the same folder (so the rename is
 * atomic), hidden and with a suffix no reseller pattern matches, and the same on every retry (a
 * crash leaves one stale file that the next attempt overwrites, not a litter of them).
 */
export function temporaryFileName(
  finalName: string,
  part: Pick<OutgoingPart, 'deliveryId' | 'index'>,
): string {
  return `.${finalName}.d${part.deliveryId}p${part.index}.uploading`;
}
