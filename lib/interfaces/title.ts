/**
 * How people read an interface's name in subjects and in the Temporal UI. SecuTix names exports
 * "Barcodes for MyReseller", so the name is used as is when it already says "Barcodes"; otherwise
 * it is introduced ("Barcodes for Acme"). One rule, so subjects and UI summaries agree.
 */
export function interfaceTitle(name: string): string {
  return /^barcodes\b/i.test(name.trim()) ? name.trim() : `Barcodes for ${name.trim()}`;
}
