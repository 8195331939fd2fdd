/**
 * Progress reporting for the development stack. Every function that starts or installs something
 * takes a `Log` so the demo can print what it does and tests can stay quiet or capture it.
 */

/** Receives one human-readable progress line, without a trailing newline. */
export type Log = (line: string) => void;

/** A `Log` that drops every line. */
export const silentLog: Log = () => undefined;

/** `1234` → `"1.2 s"`: short enough for a progress line. */
export function formatMillis(millis: number): string {
  return millis < 1000 ? `${Math.round(millis)} ms` : `${(millis / 1000).toFixed(1)} s`;
}

/** Resolves after `millis` milliseconds. */
export function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}
