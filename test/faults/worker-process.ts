import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { onProcessExit } from '../../devstack/exit-hooks';

/** The executable an operator runs: the suite's workers are that, not an in-process Worker. */
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'barcodes.js');

/** Logged by worker/main.ts once the worker polls its task queue. */
const READY_LINE = 'worker polling';

/** The defaults of `WorkerProcessOptions`, in one place. */
export const WORKER_PROCESS_DEFAULTS = {
  /** Bundling the workflow code takes about 7 s on a quiet 2-core machine; a loaded one needs more. */
  readyTimeoutMillis: 120_000,
  /** `shutdownGraceTime` of the worker is 30 s; it then still closes its pools. */
  stopTimeoutMillis: 45_000,
} as const;

export interface WorkerProcessOptions {
  /** Short name for logs and the log file name, e.g. `w3-after-render`. */
  name: string;
  /** The whole environment of the process (the stack's, plus fault variables). */
  env: NodeJS.ProcessEnv;
  /** File the worker's stdout and stderr are appended to. */
  logFile: string;
  /** How long to wait for the worker to poll its task queue, in milliseconds. */
  readyTimeoutMillis?: number;
}

/**
 * `node bin/barcodes.js worker` as a separate OS process, so the suite can SIGKILL it: no drain,
 * no `finally`, its sockets closed by the kernel, exactly what a crash or an OOM kill does.
 */
export class WorkerProcess {
  /** Resolves with how the process ended. */
  readonly exited: Promise<string>;
  private running = true;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    // A suite that dies (Ctrl-C, an exception) must not leave workers polling behind it.
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    this.exited = new Promise((resolve) => {
      const onGone = (how: string) => {
        this.running = false;
        unregister();
        resolve(how);
      };
      child.once('exit', (code, signal) =>
        onGone(signal ? `killed by ${signal}` : `exited with code ${code}`),
      );
      child.once('error', (error) => onGone(`could not be started: ${error.message}`));
    });
  }

  /** Starts the process and resolves once it polls its task queue. */
  static async start(options: WorkerProcessOptions): Promise<WorkerProcess> {
    await fs.mkdir(path.dirname(options.logFile), { recursive: true });
    const log = createWriteStream(options.logFile, { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} starting worker ${options.name}\n`);
    const child = spawn(process.execPath, [BIN, 'worker'], {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    const worker = new WorkerProcess(options.name, child, options.logFile);
    void worker.exited.then(() => log.end());
    const timeoutMillis = options.readyTimeoutMillis ?? WORKER_PROCESS_DEFAULTS.readyTimeoutMillis;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `worker ${options.name} did not poll within ${timeoutMillis} ms; see ${options.logFile}`,
              ),
            ),
          timeoutMillis,
        );
        // Kept short: only the ready line is looked for, and it may span two chunks.
        let tail = '';
        const onOutput = (chunk: Buffer) => {
          tail = (tail + chunk.toString()).slice(-1024);
          if (!tail.includes(READY_LINE)) return;
          clearTimeout(timer);
          child.stderr!.off('data', onOutput);
          resolve();
        };
        child.stderr!.on('data', onOutput);
        void worker.exited.then((how) => {
          clearTimeout(timer);
          reject(new Error(`worker ${options.name} ${how} before it polled; see ${options.logFile}`));
        });
      });
    } catch (error) {
      await worker.kill();
      throw error;
    }
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Whether a Temporal worker identity (default `<pid>@<host>`) is this process's. */
  ownsIdentity(identity: string | null | undefined): boolean {
    return typeof identity === 'string' && identity.startsWith(`${this.pid}@`);
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: the worker drains (finishes its activities) and exits; SIGKILL if it takes too long. */
  async stop(timeoutMillis: number = WORKER_PROCESS_DEFAULTS.stopTimeoutMillis): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMillis);
    await this.exited;
    clearTimeout(timer);
  }
}
