/**
 * Running external programs (pip, temporal, initdb, pg_ctl) with a timeout and an error that says
 * which command failed and why, in one line.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * A server process the dev stack runs for the demo and the tests (a throwaway PostgreSQL cluster,
 * the Temporal dev server), which the fault tests stop, crash and start again on the same port.
 */
export interface ManagedServer {
  /** Where the server's output goes. */
  readonly logFile: string;
  /** A graceful stop that releases what the server owns (its temporary folder). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash, for fault tests); resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts the server again after `kill()`, same port and data; waits until it answers. */
  start(): Promise<void>;
  /** A graceful stop that keeps the data, then `start()`. */
  restart(): Promise<void>;
}

/** Output kept in memory per command; pip and initdb print far less. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunCommandOptions {
  /** Kill the command (SIGKILL) when it is still running after this many milliseconds. */
  timeoutMillis: number;
  /** Environment of the command; default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the command; default: this process's. */
  cwd?: string;
  /** Run as this numeric user id (only when this process runs as root). */
  uid?: number;
  /** Run with this numeric group id (only when this process runs as root). */
  gid?: number;
}

interface CommandResult {
  stdout: string;
  stderr: string;
}

/** A command could not be started, timed out, or exited non-zero. */
class CommandError extends Error {
  constructor(
    message: string,
    /** The command line, for messages. */
    readonly command: string,
    /** Exit code, or undefined when it did not exit normally. */
    readonly exitCode: number | undefined,
    readonly stdout: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

/** Runs `file args…` to completion and returns its output; rejects with a `CommandError`. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: RunCommandOptions,
): Promise<CommandResult> {
  const command = describeCommand(file, args);
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMillis,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT_BYTES,
        env: options.env ?? process.env,
        cwd: options.cwd,
        uid: options.uid,
        gid: options.gid,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null };
        let reason: string;
        if (failure.code === 'ENOENT') {
          reason = `${file} not found`;
        } else if (failure.killed && failure.signal === 'SIGKILL') {
          reason = `timed out after ${options.timeoutMillis} ms`;
        } else if (typeof failure.code === 'number') {
          reason = `exit code ${failure.code}${tail(stderr || stdout) ? `: ${tail(stderr || stdout)}` : ''}`;
        } else {
          reason = failure.signal ? `killed by ${failure.signal}` : failure.message;
        }
        reject(
          new CommandError(
            `${command} failed: ${reason}`,
            command,
            typeof failure.code === 'number' ? failure.code : undefined,
            stdout,
            stderr,
            { cause: error },
          ),
        );
      },
    );
  });
}

/** The command line as a human would type it, for logs and messages. */
export function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args]
    .map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part)))
    .join(' ');
}

/** The last non-empty line of a program's output: usually the line that says what went wrong. */
export function tail(output: string): string {
  const lines = output.split(/\r?\n/).map((line) => line.trim());
  return lines.filter((line) => line !== '').pop() ?? '';
}

/** The first executable named `name` in a PATH-style list of directories, or undefined. */
export async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Whether `file` exists, is a regular file and may be executed by this process. */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
