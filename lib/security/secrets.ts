import { readFileSync } from 'node:fs';
import { InputError } from '../errors';

/**
 * Variables that carry credentials. Each can instead be read from a file named by `<NAME>_FILE`
 * (Docker/Kubernetes secrets, systemd credentials), so the secret is neither in the process
 * environment of every child nor in a unit file or shell history. (BARCODES_PAYLOAD_KEYS_FILE
 * works the same way, read where the keys are loaded.)
 */
const SECRET_VARIABLES = ['DATABASE_URL', 'SOURCE_DATABASE_URL', 'SMTP_URL'] as const;

/** The suffix of the variable naming a secret's file. */
const FILE_SUFFIX = '_FILE';

/** Reads a file's text; tests inject their own. */
export type ReadTextFile = (path: string) => string;

const readUtf8: ReadTextFile = (path) => readFileSync(path, 'utf8');

/**
 * The value of one secret variable: `env[name]`, or the content of the file named by
 * `env[name + '_FILE']` with surrounding white space (the editor's final newline) removed;
 * undefined when neither is set. Setting both is refused: which one wins would be a guess.
 * Errors name the variable and the file, never the content.
 */
export function readSecret(
  env: NodeJS.ProcessEnv,
  name: string,
  readFile: ReadTextFile = readUtf8,
): string | undefined {
  const fileVariable = name + FILE_SUFFIX;
  const direct = env[name];
  const file = env[fileVariable];
  if (direct && file) {
    throw new InputError(`${name} and ${fileVariable} are both set: set only one of them`);
  }
  if (!file) return direct || undefined;
  let content: string;
  try {
    content = readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InputError(`${fileVariable}: cannot read ${JSON.stringify(file)} (${code})`, { cause: error });
  }
  const value = content.trim();
  if (!value) throw new InputError(`${fileVariable}: ${JSON.stringify(file)} is empty`);
  return value;
}

/**
 * A copy of `env` where every secret variable given as `<NAME>_FILE` holds the file's content
 * under `<NAME>`, so the configuration loader reads one place. Call it first in loadConfig.
 */
export function withSecretFiles(
  env: NodeJS.ProcessEnv,
  readFile: ReadTextFile = readUtf8,
): NodeJS.ProcessEnv {
  const resolved: NodeJS.ProcessEnv = { ...env };
  for (const name of SECRET_VARIABLES) {
    const value = readSecret(env, name, readFile);
    delete resolved[name + FILE_SUFFIX];
    if (value === undefined) delete resolved[name];
    else resolved[name] = value;
  }
  return resolved;
}
