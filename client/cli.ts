import { Command, CommanderError } from 'commander';
import { BarcodesError } from '../lib/errors';
import { maskUrl, loadConfig } from '../lib/config';
import { runWithContext } from './commands/common';
import { interfaceCommand } from './commands/interface';
import { mappingCommand } from './commands/mapping';
import { schedulesCommand } from './commands/schedules';
import { migrateCommand } from './commands/migrate';
import { deliveriesCommand } from './commands/deliveries';
import { runCommand } from './commands/run';
import { previewCommand } from './commands/preview';
import { workerCommand, demoCommand } from './commands/processes';
import { doctorCommand } from './commands/doctor';
import { backfillCommand, resendCommand } from './commands/repair';
import { purgeCommand } from './commands/purge';
import { codecServerCommand } from './commands/codec-server';

/** Exit statuses, documented in docs/operators.md. */
const ExitCode = {
  ok: 0,
  failure: 1,
  invalidInput: 2,
  notFound: 3,
  unavailable: 4,
} as const;

function buildProgram(): Command {
  const program = new Command('barcodes')
    .description(
      'Pushes ticket barcodes to resellers: one flat file per interface and window, by email, exactly once.',
    )
    .exitOverride();
  const run = runWithContext;
  program.addCommand(migrateCommand(run));
  program.addCommand(interfaceCommand(run));
  program.addCommand(mappingCommand(run));
  program.addCommand(schedulesCommand(run));
  program.addCommand(runCommand(run));
  program.addCommand(previewCommand(run));
  program.addCommand(deliveriesCommand(run));
  program.addCommand(backfillCommand(run));
  program.addCommand(resendCommand(run));
  program.addCommand(doctorCommand(run));
  program.addCommand(workerCommand());
  program.addCommand(demoCommand());
  program.addCommand(purgeCommand(run));
  program.addCommand(codecServerCommand());
  // Every subcommand reports usage errors through the same exit path.
  const override = (command: Command) => {
    command.exitOverride();
    // Usage errors are one line like every other error (`barcodes: …`, not commander's `error: `):
    // commander's "(Did you mean …?)" suggestion, on a line of its own, joins the message, and the
    // hint follows on the same line (no showHelpAfterError: it writes a second line).
    command.configureOutput({ outputError: (text, write) => write(`${oneLineUsageError(text)}\n`) });
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

/** commander's usage error (`error: unknown command 'creat'\n(Did you mean create?)\n`) as one line. */
export function oneLineUsageError(text: string): string {
  const [message = '', ...rest] = text
    .replace(/^error: /, '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const suggestion = rest.map((line) => line.replace(/^\((.*)\)$/, '$1')).join(' ');
  const hint = suggestion
    ? `${suggestion[0]!.toLowerCase()}${suggestion.slice(1)}; add --help for usage`
    : 'add --help for usage';
  return `barcodes: ${message} (${hint})`;
}

/** Turns any error into one line on stderr and an exit status. Secrets in URLs are masked. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander already printed its one-line message (or the help, for exit code 0).
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
  }
  const { message, code } = describe(error);
  process.stderr.write(`barcodes: ${message}\n`);
  return code;
}

function describe(error: unknown): { message: string; code: number } {
  if (error instanceof BarcodesError) {
    const code =
      error.code === 'INVALID_INPUT'
        ? ExitCode.invalidInput
        : error.code === 'NOT_FOUND'
          ? ExitCode.notFound
          : error.code === 'UNAVAILABLE'
            ? ExitCode.unavailable
            : ExitCode.failure;
    return { message: oneLine(error.message), code };
  }
  const failure = error as { code?: string; message?: string };
  if (
    failure.code === 'ECONNREFUSED' ||
    failure.code === 'ENOTFOUND' ||
    failure.code === '3D000' ||
    failure.code === '28P01'
  ) {
    let url = '(DATABASE_URL)';
    try {
      url = maskUrl(loadConfig().databaseUrl);
    } catch {}
    return {
      message: oneLine(`PostgreSQL is not reachable at ${url}: ${failure.message}`),
      code: ExitCode.unavailable,
    };
  }
  if (failure.code === '42P01' || failure.code === '3F000') {
    return { message: oneLine(`${failure.message}: run \`barcodes migrate\` first`), code: ExitCode.failure };
  }
  return { message: oneLine(failure.message ?? String(error)), code: ExitCode.failure };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    // A command that completed but found a problem (doctor) sets process.exitCode itself.
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error);
  }
}

/** Entry point of the `barcodes` executable (bin/barcodes.js). */
export function runCli(): void {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    // main() reports its own errors; this only catches a fault in reporting them.
    (error: unknown) => {
      process.stderr.write(`barcodes: ${(error as Error)?.message ?? String(error)}\n`);
      process.exitCode = ExitCode.failure;
    },
  );
}
