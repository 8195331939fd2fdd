/**
 * The real executables as separate processes, so their memory and CPU are their own: `node
 * bin/barcodes.js <command>` (preview, run, worker) and `psql` for PostgreSQL's own COPY.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { ProcMonitor } from './proc';

/** bin/barcodes.js, from dist/bench/children.js. */
export const BARCODES_BIN = path.join(__dirname, '..', '..', 'bin', 'barcodes.js');

/** Fine enough to catch a peak of a process that lives for seconds. */
const SAMPLE_INTERVAL_MILLIS = 50;

export interface ChildRun {
  exitCode: number | null;
  wallMillis: number;
  /** Bytes the child wrote to stdout (counted, then dropped). */
  stdoutBytes: number;
  /** Lines the child wrote to stdout. */
  stdoutLines: number;
  /** SHA-256 of stdout, to compare outputs of two paths. */
  stdoutSha256: string;
  /** stdout itself when asked to keep it (small outputs such as --json). */
  stdoutText: string;
  stderr: string;
  /** The child's peak resident set size (its highest VmHWM reading), in bytes. */
  peakRssBytes: number;
  /** CPU time of the child (from its samples; its final moments are not seen). */
  cpuMillis: number;
}

export interface RunChildOptions {
  env: NodeJS.ProcessEnv;
  /** Keep stdout as text (only for small outputs). */
  keepStdout?: boolean;
}

/** Runs a program to completion, counting and hashing its stdout and sampling /proc while it runs. */
export async function runChild(
  file: string,
  args: readonly string[],
  options: RunChildOptions,
): Promise<ChildRun> {
  const started = Date.now();
  const child = spawn(file, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const monitor = new ProcMonitor(child.pid!, SAMPLE_INTERVAL_MILLIS);
  const hash = createHash('sha256');
  let stdoutBytes = 0;
  let stdoutLines = 0;
  const kept: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) stdoutLines++;
    hash.update(chunk);
    if (options.keepStdout) kept.push(chunk);
  });
  // The child's output is complete here, while the process is still alive: one more reading.
  child.stdout!.on('end', () => monitor.sample());
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const [exitCode] = (await once(child, 'close')) as [number | null];
  monitor.stop();
  const samples = monitor.samples;
  return {
    exitCode,
    wallMillis: Date.now() - started,
    stdoutBytes,
    stdoutLines,
    stdoutSha256: hash.digest('hex'),
    stdoutText: Buffer.concat(kept).toString('utf8'),
    stderr,
    peakRssBytes: Math.max(0, ...samples.map((sample) => sample.hwmBytes)),
    cpuMillis: samples.length > 1 ? samples.at(-1)!.cpuMillis - samples[0]!.cpuMillis : 0,
  };
}

/** `node bin/barcodes.js …args`. */
export function runBarcodes(args: readonly string[], options: RunChildOptions): Promise<ChildRun> {
  return runChild(process.execPath, [BARCODES_BIN, ...args], options);
}

/** Throws with the child's stderr when it failed. */
export function expectSuccess(run: ChildRun, what: string): ChildRun {
  if (run.exitCode !== 0)
    throw new Error(
      `${what} exited with ${run.exitCode}: ${run.stderr.trim().split('\n').slice(-5).join(' | ')}`,
    );
  return run;
}

/** A `barcodes worker` process. */
export interface WorkerProcess {
  readonly pid: number;
  readonly monitor: ProcMonitor;
  /** What it printed so far (its log lines). */
  readonly stderr: () => string;
  /** SIGTERM, then wait for it to drain and exit. */
  stop(): Promise<void>;
}

/** How long a worker may take to bundle its workflows and poll. */
const WORKER_READY_TIMEOUT_MILLIS = 120_000;

/** Starts `barcodes worker` and resolves once it polls its task queue. */
export async function startWorkerProcess(
  env: NodeJS.ProcessEnv,
  sampleIntervalMillis = 100,
): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, [BARCODES_BIN, 'worker'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = once(child, 'close');
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`worker not polling after ${WORKER_READY_TIMEOUT_MILLIS} ms: ${stderr.slice(-2000)}`),
        ),
      WORKER_READY_TIMEOUT_MILLIS,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      // Only the worker's own lines are kept beyond startup: its activity logs would grow without bound.
      if (stderr.length > 1_000_000) stderr = stderr.slice(-100_000);
      if (stderr.includes('worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before polling: ${stderr.slice(-2000)}`));
    });
  });
  ready.catch(() => {});
  await ready;
  const monitor = new ProcMonitor(child.pid!, sampleIntervalMillis);
  return {
    pid: child.pid!,
    monitor,
    stderr: () => stderr,
    async stop() {
      monitor.stop();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
