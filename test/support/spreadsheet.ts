/** Reading spreadsheet cells back in tests, with code of their own (not the renderer's). */

/** Excel serial of the wall-clock time of `date` in `timeZone`, computed with Intl. */
export function expectedSerial(date: Date, timeZone: string): number {
  return wallClockMillis(date, timeZone) / 86_400_000 + 25569;
}

/** `YYYY-MM-DD HH:mm:ss` of `date` in `timeZone`, computed with Intl. */
export function expectedDateTimeText(date: Date, timeZone: string): string {
  return new Date(wallClockMillis(date, timeZone)).toISOString().slice(0, 19).replace('T', ' ');
}

function wallClockMillis(date: Date, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
    date.getUTCMilliseconds(),
  );
}
