/**
 * The benchmark's table: one section per phase, one row per figure, with the target and
 * whether this run met it. Printed as aligned text, and as Markdown for docs/performance.md.
 */

export interface ReportRow {
  metric: string;
  value: string;
  /** The target, as the issue states it; empty for figures without one. */
  target?: string;
  /** Whether the value meets the target; undefined when there is none. */
  met?: boolean;
}

export interface ReportSection {
  title: string;
  rows: ReportRow[];
  /** Free text printed under the section (plans, explanations). */
  notes: string[];
}

export class Report {
  readonly sections: ReportSection[] = [];
  /** Lines printed before the table: machine, sizes, load. */
  readonly header: string[] = [];

  section(title: string): ReportSection {
    const section: ReportSection = { title, rows: [], notes: [] };
    this.sections.push(section);
    return section;
  }

  toText(): string {
    const widths = [0, 0, 0];
    for (const row of this.sections.flatMap((section) => section.rows)) {
      widths[0] = Math.max(widths[0]!, row.metric.length);
      widths[1] = Math.max(widths[1]!, row.value.length);
      widths[2] = Math.max(widths[2]!, (row.target ?? '').length);
    }
    const lines = [...this.header, ''];
    for (const section of this.sections) {
      lines.push(section.title);
      for (const row of section.rows) {
        lines.push(
          `  ${row.metric.padEnd(widths[0]!)}  ${row.value.padStart(widths[1]!)}  ${(row.target ?? '').padEnd(widths[2]!)}  ${verdict(row)}`.trimEnd(),
        );
      }
      for (const note of section.notes) lines.push(...note.split('\n').map((line) => `    ${line}`));
      lines.push('');
    }
    return lines.join('\n');
  }

  toMarkdown(): string {
    const lines = this.header.map((line) => `${line}  `);
    for (const section of this.sections) {
      lines.push('', `**${section.title}**`, '', '| figure | value | target | |', '|---|---:|---|---|');
      for (const row of section.rows)
        lines.push(`| ${row.metric} | ${row.value} | ${row.target ?? ''} | ${verdict(row)} |`);
      for (const note of section.notes) lines.push('', '```', note, '```');
    }
    return lines.join('\n') + '\n';
  }
}

function verdict(row: ReportRow): string {
  if (row.met === undefined) return '';
  return row.met ? 'met' : 'NOT MET';
}
