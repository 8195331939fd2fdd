/**
 * Memory and CPU of processes as the kernel reports them in /proc (Linux): resident set size
 * (VmRSS), its high-water mark (VmHWM) and CPU time (utime + stime), sampled while they run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MIB = 1024 * 1024;

/** Clock ticks per second of /proc/<pid>/stat times (almost always 100). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  /** When the sample was read (Date.now()). */
  atMillis: number;
  rssBytes: number;
  /** Peak resident set size since the process started. */
  hwmBytes: number;
  /** User plus system CPU time since the process started. */
  cpuMillis: number;
}

/** One reading of a process, or null when it has exited. */
export function readProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), 1-based from field 3: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    // A process that has exited but is not reaped yet (a zombie) has no memory lines.
    if (!/^VmRSS:/m.test(status)) return null;
    return {
      atMillis: Date.now(),
      rssBytes: kibField(status, 'VmRSS') * 1024,
      hwmBytes: kibField(status, 'VmHWM') * 1024,
      cpuMillis: (ticks * 1000) / CLOCK_TICKS_PER_SECOND,
    };
  } catch {
    return null;
  }
}

function kibField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** Busy and total CPU time of the whole machine (all cores), from /proc/stat. */
export function readMachineCpu(): { busyMillis: number; totalMillis: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = ticks.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return {
    busyMillis: ((total - idle) * 1000) / CLOCK_TICKS_PER_SECOND,
    totalMillis: (total * 1000) / CLOCK_TICKS_PER_SECOND,
  };
}

/** The 1-minute load average, to show how busy the machine was during a measurement. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Samples one process every `intervalMillis` until stopped or gone. */
export class ProcMonitor {
  readonly samples: ProcSample[] = [];
  private timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    intervalMillis = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMillis);
    this.timer.unref();
  }

  /** Takes a sample now (also called on a timer); returns it, or null when the process is gone. */
  sample(): ProcSample | null {
    const sample = readProc(this.pid);
    if (sample) this.samples.push(sample);
    else clearInterval(this.timer);
    return sample;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last sample read (the process's state just before it exited, for one that did). */
  get last(): ProcSample | undefined {
    return this.samples.at(-1);
  }

  /** Samples taken in [fromMillis, toMillis]. */
  between(fromMillis: number, toMillis: number = Number.POSITIVE_INFINITY): ProcSample[] {
    return this.samples.filter((sample) => sample.atMillis >= fromMillis && sample.atMillis <= toMillis);
  }
}

/** Highest RSS among samples, in MiB. */
export function peakRssMib(samples: readonly ProcSample[]): number {
  return Math.max(0, ...samples.map((sample) => sample.rssBytes)) / MIB;
}

/** Median RSS among samples, in MiB (the "level" of an idle process). */
export function medianRssMib(samples: readonly ProcSample[]): number {
  const sorted = samples.map((sample) => sample.rssBytes).sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]! / MIB;
}

/** CPU time spent between the first and the last of the samples, in milliseconds. */
export function cpuMillisOf(samples: readonly ProcSample[]): number {
  if (samples.length < 2) return 0;
  return samples.at(-1)!.cpuMillis - samples[0]!.cpuMillis;
}

export function toMib(bytes: number): number {
  return bytes / MIB;
}
