import { currentActor } from '../../lib/config';
import { InputError } from '../../lib/errors';
import { checkActor } from '../../lib/interfaces/validate';
import { CommandContext } from '../context';
import { createOutput, type Output } from '../output';

/** Commander collector for repeatable options (`--email a --email b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseId(text: string, what = 'ID'): number {
  if (!/^\d{1,15}$/.test(text))
    throw new InputError(`${what}: invalid id ${JSON.stringify(text)} (expected a positive integer)`);
  return Number(text);
}

/** Who makes a change, for the audit trail: `--actor` (checked like every header-bound text) or the OS user. */
export function actorOf(options: { actor?: string }): string {
  return options.actor === undefined ? currentActor() : checkActor(options.actor);
}

/** A whole number within [min, max] (`--limit`, `--sales-per-second`), refused naming the option otherwise. */
export function parseCount(text: string, what: string, min: number, max: number): number {
  const value = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max))
    throw new InputError(
      `${what}: invalid count ${JSON.stringify(text)} (a whole number from ${min} to ${max})`,
    );
  return value;
}

type Handler<O> = (context: CommandContext, output: Output, options: O, ...args: string[]) => Promise<void>;
export type Runner = <O extends object>(
  handler: Handler<O>,
) => (...commanderArgs: unknown[]) => Promise<void>;

/**
 * Adapts a handler to commander: builds the context and output, and always closes connections.
 * Errors propagate to the CLI's one place that turns them into one line and an exit code.
 */
export const runWithContext: Runner =
  (handler) =>
  async (...commanderArgs) => {
    // commander passes the positional arguments, then the options object, then the command.
    const positional = commanderArgs.slice(0, -2) as string[];
    const options = commanderArgs.at(-2) as { json?: boolean };
    const context = new CommandContext();
    const output = createOutput(Boolean(options.json));
    try {
      await handler(context, output, options as never, ...positional);
    } finally {
      await context.close();
    }
  };
