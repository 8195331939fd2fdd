import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../lib/config';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'barcodes.js');

/** The environment that points the `barcodes` executable at a test stack. */
export function cliEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: config.databaseUrl,
    TEMPORAL_ADDRESS: config.temporalAddress,
    TEMPORAL_TASK_QUEUE: config.taskQueue,
    SMTP_URL: config.smtpUrl,
    MAIL_FROM: config.mailFrom,
    BARCODES_ALLOW_SHORT_INTERVALS: config.allowShortIntervals ? '1' : '',
    ...extra,
  };
}

/** Runs the real executable, as an operator would; `onStderr` sees its stderr as it comes. */
export function barcodes(
  args: string[],
  env: NodeJS.ProcessEnv,
  onStderr: (text: string) => void = () => {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      onStderr(stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
