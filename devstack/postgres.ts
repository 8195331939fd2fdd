/**
 * PostgreSQL for the demo and the tests: the server named by DATABASE_URL, else the local one on
 * 127.0.0.1:5432, else a throwaway cluster (`initdb` + `pg_ctl`) on a free port. Tests get a
 * fresh database per run (`createTestDatabase`) and drop it afterwards.
 */
import { maskUrl } from '../lib/config';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { UnavailableError } from '../lib/errors';
import { findOnPath, isExecutable, runCommand, type ManagedServer, type RunCommandOptions } from './exec';
import { onProcessExit } from './exit-hooks';
import { formatMillis, sleep, type Log } from './log';
import { DEFAULT_HOST, freePort } from './ports';

/** The server on the team's machines and CI (trust authentication, user `postgres`). */
const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Superuser of a throwaway cluster (also its `initdb -U`). */
const CLUSTER_SUPERUSER = 'postgres';

/** Where Debian and Ubuntu install server binaries: `/usr/lib/postgresql/<major>/bin`. */
const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';

/** initdb takes 1–3 s; an overloaded CI machine more. */
const INITDB_TIMEOUT_MILLIS = 120_000;

/** `pg_ctl stop` waits for this long at most (fast mode rolls back and disconnects at once). */
const STOP_TIMEOUT_SECONDS = 60;

/** How long a connection probe may take before the server counts as not answering. */
const PROBE_CONNECT_TIMEOUT_MILLIS = 3_000;

/** After SIGKILL of the postmaster its backends notice and exit; `start()` retries meanwhile. */
const START_RETRY_INTERVAL_MILLIS = 500;

/** SIGKILL takes effect at once; this only bounds the wait for a process stuck in the kernel. */
const KILL_TIMEOUT_MILLIS = 10_000;

/** Longest prefix of a test database name: PostgreSQL identifiers are at most 63 bytes. */
const MAX_DATABASE_PREFIX_LENGTH = 40;

/** The defaults of `ThrowawayClusterOptions`, in one place. */
const THROWAWAY_CLUSTER_DEFAULTS = {
  /** PostgreSQL refuses to run as root; when we are root, the cluster runs as this OS user. */
  osUser: 'postgres',
  startTimeoutMillis: 60_000,
} as const;

/**
 * Settings of a throwaway cluster. Durability is traded for speed (its data is deleted at stop),
 * and it listens on loopback only.
 */
const THROWAWAY_CLUSTER_SETTINGS: Record<string, string> = {
  listen_addresses: `'${DEFAULT_HOST}'`,
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
};

interface UseOrStartPostgresOptions {
  /** Receives progress lines (which server is used, cluster started). */
  log: Log;
  /** Where DATABASE_URL is read from; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The server tried when DATABASE_URL is unset. */
  localUrl?: string;
  /** Options of the throwaway cluster started when nothing answers. */
  cluster?: Omit<ThrowawayClusterOptions, 'log'>;
}

/** A PostgreSQL server to use, with a URL that may create and drop databases. */
export interface PostgresEndpoint {
  /** Connection URL of a role allowed to create databases (may contain a password: print it with `maskUrl`). */
  adminUrl: string;
  /** Whether a throwaway cluster was started (and `stop()` deletes it). */
  started: boolean;
  /** The throwaway cluster, when one was started. */
  cluster?: ThrowawayCluster;
  /** Stops and deletes what was started; does nothing for an existing server. */
  stop(): Promise<void>;
}

/**
 * DATABASE_URL when set (it must answer: falling back would hide a misconfiguration); else the
 * local server when it answers; else a throwaway cluster started for this process.
 */
export async function useOrStartPostgres(options: UseOrStartPostgresOptions): Promise<PostgresEndpoint> {
  const { log } = options;
  const env = options.env ?? process.env;
  const nothingToStop = async (): Promise<void> => undefined;

  const configured = env.DATABASE_URL;
  if (configured) {
    try {
      await probe(configured);
    } catch (err) {
      throw new UnavailableError(
        `PostgreSQL at DATABASE_URL=${maskUrl(configured)} does not answer: ${reasonOf(err)}`,
        {
          cause: err,
        },
      );
    }
    log(`using PostgreSQL at DATABASE_URL=${maskUrl(configured)}`);
    return { adminUrl: configured, started: false, stop: nothingToStop };
  }

  const localUrl = options.localUrl ?? LOCAL_POSTGRES_URL;
  try {
    await probe(localUrl);
    log(`using PostgreSQL at ${maskUrl(localUrl)}`);
    return { adminUrl: localUrl, started: false, stop: nothingToStop };
  } catch (err) {
    log(`no PostgreSQL at ${maskUrl(localUrl)} (${reasonOf(err)}); starting a throwaway cluster`);
  }
  const cluster = await startThrowawayCluster({ ...options.cluster, log, env: options.cluster?.env ?? env });
  return { adminUrl: cluster.url, started: true, cluster, stop: () => cluster.stop() };
}

interface ThrowawayClusterOptions {
  /** Receives progress lines (binaries found, initdb, started). */
  log: Log;
  /** TCP port on 127.0.0.1; default: a free port. */
  port?: number;
  /** Folder holding initdb, pg_ctl and postgres; default: PATH, then the highest /usr/lib/postgresql/<major>/bin. */
  binDir?: string;
  /** OS user that owns and runs the cluster when this process runs as root. */
  osUser?: string;
  /** How long start and restart wait for the server to accept connections, in milliseconds. */
  startTimeoutMillis?: number;
  /** Where PATH is read from and the environment of the PostgreSQL programs; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * A PostgreSQL cluster in a temporary folder: `stop()` and `restart()` shut it down in fast mode,
 * `stop()` deletes the folder; `kill()` SIGKILLs the postmaster, and `start()` brings it back with
 * crash recovery.
 */
export interface ThrowawayCluster extends ManagedServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, no password). */
  readonly url: string;
  readonly port: number;
  /** The data directory (PGDATA). */
  readonly dataDir: string;
}

/**
 * Creates a cluster with `initdb` in a new temporary folder and starts it on 127.0.0.1 (its Unix
 * socket inside that folder, so it never collides with a system server). As root, the folder is
 * handed to `osUser` and every PostgreSQL program runs as that user, because initdb and postgres
 * refuse to run as root.
 */
export async function startThrowawayCluster(options: ThrowawayClusterOptions): Promise<ThrowawayCluster> {
  const { log } = options;
  const env = options.env ?? process.env;
  const binDir = options.binDir ?? (await findPostgresBinDir(env));
  const runAs = await resolveRunAs(options.osUser ?? THROWAWAY_CLUSTER_DEFAULTS.osUser);
  const port = options.port ?? (await freePort(DEFAULT_HOST));
  const startTimeoutMillis = options.startTimeoutMillis ?? THROWAWAY_CLUSTER_DEFAULTS.startTimeoutMillis;

  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'barcodes-pg-'));
  const cluster = new ClusterProcess({ log, env, binDir, runAs, port, baseDir, startTimeoutMillis });
  try {
    await cluster.create();
    await cluster.start();
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

/** A database created for one test run. */
export interface TestDatabase {
  /** Connection URL of the new database (the admin URL with another database name). */
  url: string;
  /** Its name, e.g. `barcodes_test_m3x1k2_9f3a1c`. */
  name: string;
  /** Drops it, terminating connections still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** Creates a database with a fresh random name on the server of `adminUrl`. */
export async function createTestDatabase(adminUrl: string, prefix = 'barcodes_test'): Promise<TestDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix) || prefix.length > MAX_DATABASE_PREFIX_LENGTH) {
    throw new Error(
      `invalid test database prefix ${JSON.stringify(prefix)}: lower-case letters, digits and _, at most ${MAX_DATABASE_PREFIX_LENGTH}`,
    );
  }
  // Time first, so leftovers of crashed runs sort by age; random part, so parallel runs never clash.
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE ${quoteIdentifier(name)}`)).catch(
    (err: unknown) => {
      throw new UnavailableError(
        `could not create database ${name} on ${maskUrl(adminUrl)}: ${reasonOf(err)}`,
        { cause: err },
      );
    },
  );
  return {
    url: withDatabaseName(adminUrl, name),
    name,
    drop: async () => {
      // WITH (FORCE) (PostgreSQL 13+) terminates sessions a test forgot to close (e.g. a worker's pool).
      await withAdminClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`),
      ).catch((err: unknown) => {
        throw new UnavailableError(
          `could not drop database ${name} on ${maskUrl(adminUrl)}: ${reasonOf(err)}`,
          { cause: err },
        );
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Private helpers

interface RunAs {
  /** OS user name, for messages. */
  user: string;
  uid: number;
  gid: number;
}

interface ClusterSettings {
  log: Log;
  env: NodeJS.ProcessEnv;
  binDir: string;
  runAs: RunAs | undefined;
  port: number;
  baseDir: string;
  startTimeoutMillis: number;
}

class ClusterProcess implements ThrowawayCluster {
  readonly url: string;
  readonly dataDir: string;
  readonly logFile: string;
  private readonly socketDir: string;
  private unregisterExitHook: () => void = () => undefined;
  private deleted = false;

  constructor(private readonly settings: ClusterSettings) {
    this.url = `postgres://${CLUSTER_SUPERUSER}@${DEFAULT_HOST}:${settings.port}/postgres`;
    this.dataDir = path.join(settings.baseDir, 'data');
    this.socketDir = path.join(settings.baseDir, 'socket');
    this.logFile = path.join(settings.baseDir, 'postgres.log');
  }

  get port(): number {
    return this.settings.port;
  }

  async create(): Promise<void> {
    const { log, binDir, runAs, baseDir } = this.settings;
    // Registered first: from here on there is a folder (and soon a server) to clean up.
    this.unregisterExitHook = onProcessExit(() => this.stopSync());
    await fs.mkdir(this.socketDir);
    if (runAs) {
      for (const dir of [baseDir, this.socketDir]) await fs.chown(dir, runAs.uid, runAs.gid);
    }
    log(
      `creating a throwaway PostgreSQL cluster in ${this.dataDir} with ${path.join(binDir, 'initdb')}` +
        (runAs ? ` (as OS user ${runAs.user}: PostgreSQL refuses to run as root)` : ''),
    );
    const startedAt = Date.now();
    await this.run(
      'initdb',
      ['-D', this.dataDir, '-A', 'trust', '-U', CLUSTER_SUPERUSER, '-E', 'UTF8', '--locale=C', '--no-sync'],
      INITDB_TIMEOUT_MILLIS,
    );
    // In postgresql.conf rather than on pg_ctl's command line: restart() keeps them as they are.
    const settings = {
      ...THROWAWAY_CLUSTER_SETTINGS,
      port: String(this.settings.port),
      unix_socket_directories: `'${this.socketDir}'`,
    };
    const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}`);
    await fs.appendFile(
      path.join(this.dataDir, 'postgresql.conf'),
      `\n# barcodes throwaway cluster\n${lines.join('\n')}\n`,
    );
    log(`initdb done in ${formatMillis(Date.now() - startedAt)}`);
  }

  async start(): Promise<void> {
    const { log, startTimeoutMillis, port } = this.settings;
    const startedAt = Date.now();
    const deadline = startedAt + startTimeoutMillis;
    for (;;) {
      try {
        await this.pgCtl(
          ['start', '-w', '-t', String(Math.ceil(startTimeoutMillis / 1000)), '-l', this.logFile],
          startTimeoutMillis,
        );
        break;
      } catch (err) {
        // Right after kill() the old backends may still hold the shared memory for a moment.
        if (Date.now() + START_RETRY_INTERVAL_MILLIS >= deadline) {
          throw new UnavailableError(
            `throwaway PostgreSQL on port ${port} did not start: ${reasonOf(err)}; see ${this.logFile}`,
            { cause: err },
          );
        }
        await sleep(START_RETRY_INTERVAL_MILLIS);
      }
    }
    await this.waitUntilAccepting(deadline);
    log(`throwaway PostgreSQL ready at ${this.url} in ${formatMillis(Date.now() - startedAt)}`);
  }

  async restart(): Promise<void> {
    const { log, startTimeoutMillis } = this.settings;
    const startedAt = Date.now();
    await this.pgCtl(
      ['restart', '-m', 'fast', '-w', '-t', String(Math.ceil(startTimeoutMillis / 1000)), '-l', this.logFile],
      startTimeoutMillis,
    );
    await this.waitUntilAccepting(startedAt + startTimeoutMillis);
    log(`throwaway PostgreSQL restarted in ${formatMillis(Date.now() - startedAt)}`);
  }

  async kill(): Promise<void> {
    const pid = await this.postmasterPid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + KILL_TIMEOUT_MILLIS;
    while (isAlive(pid)) {
      if (Date.now() > deadline)
        throw new UnavailableError(
          `postmaster pid ${pid} still alive ${KILL_TIMEOUT_MILLIS} ms after SIGKILL`,
        );
      await sleep(20);
    }
    this.settings.log(`throwaway PostgreSQL postmaster (pid ${pid}) killed`);
  }

  async stop(): Promise<void> {
    if (this.deleted) return;
    if (await this.postmasterPid()) {
      await this.pgCtl(
        ['stop', '-m', 'fast', '-w', '-t', String(STOP_TIMEOUT_SECONDS)],
        STOP_TIMEOUT_SECONDS * 1000,
      ).catch((err: unknown) =>
        this.settings.log(`pg_ctl stop failed (${reasonOf(err)}); deleting the cluster anyway`),
      );
    }
    await fs.rm(this.settings.baseDir, { recursive: true, force: true });
    this.deleted = true;
    this.unregisterExitHook();
    this.settings.log(`throwaway PostgreSQL on port ${this.settings.port} stopped and deleted`);
  }

  /** Exit-hook version of stop(): synchronous, immediate mode (no checkpoint: the data goes anyway). */
  private stopSync(): void {
    if (this.deleted) return;
    spawnSync(path.join(this.settings.binDir, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', 'stop'], {
      ...this.processOptions(),
      stdio: 'ignore',
      timeout: STOP_TIMEOUT_SECONDS * 1000,
    });
    rmSync(this.settings.baseDir, { recursive: true, force: true });
    this.deleted = true;
  }

  private async waitUntilAccepting(deadline: number): Promise<void> {
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        await probe(this.url);
        return;
      } catch (err) {
        lastError = err;
        await sleep(START_RETRY_INTERVAL_MILLIS);
      }
    }
    throw new UnavailableError(
      `throwaway PostgreSQL at ${this.url} does not accept connections: ${reasonOf(lastError)}; see ${this.logFile}`,
      {
        cause: lastError,
      },
    );
  }

  private async postmasterPid(): Promise<number | undefined> {
    try {
      const firstLine = (await fs.readFile(path.join(this.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
      const pid = Number(firstLine);
      return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private pgCtl(args: string[], timeoutMillis: number): Promise<unknown> {
    return this.run('pg_ctl', ['-D', this.dataDir, ...args], timeoutMillis);
  }

  private run(program: string, args: string[], timeoutMillis: number): Promise<unknown> {
    return runCommand(path.join(this.settings.binDir, program), args, {
      ...this.processOptions(),
      timeoutMillis,
    });
  }

  private processOptions(): Omit<RunCommandOptions, 'timeoutMillis'> {
    const { runAs, env, baseDir } = this.settings;
    // cwd inside the cluster folder: the OS user may not be allowed into our working directory.
    return { env, cwd: baseDir, uid: runAs?.uid, gid: runAs?.gid };
  }
}

/** The OS user to run PostgreSQL as when this process is root, or undefined when it is not root. */
async function resolveRunAs(user: string): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    // `id` resolves through NSS (LDAP, sssd…), unlike reading /etc/passwd.
    const uid = Number((await runCommand('id', ['-u', user], { timeoutMillis: 10_000 })).stdout.trim());
    const gid = Number((await runCommand('id', ['-g', user], { timeoutMillis: 10_000 })).stdout.trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid))
      throw new Error(`unexpected output of id for ${user}`);
    if (uid === 0) throw new Error(`${user} is root`);
    return { user, uid, gid };
  } catch (err) {
    throw new UnavailableError(
      `running as root, and OS user ${user} cannot run a throwaway PostgreSQL (initdb and postgres refuse root): ${reasonOf(err)}`,
      { cause: err },
    );
  }
}

/** A folder holding initdb and pg_ctl: PATH first, then the highest /usr/lib/postgresql/<major>/bin. */
async function findPostgresBinDir(env: NodeJS.ProcessEnv): Promise<string> {
  const onPath = await findOnPath('initdb', env.PATH);
  if (onPath) {
    // Through symlinks (e.g. /usr/local/bin/initdb → /usr/lib/postgresql/15/bin/initdb): the real
    // folder is where pg_ctl and postgres of the same version live.
    const binDir = path.dirname(await fs.realpath(onPath));
    if (await isExecutable(path.join(binDir, 'pg_ctl'))) return binDir;
  }
  let majors: string[] = [];
  try {
    majors = (await fs.readdir(DEBIAN_POSTGRES_ROOT)).filter((name) => /^\d+(\.\d+)?$/.test(name));
  } catch {
    // No Debian-style installation.
  }
  majors.sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const binDir = path.join(DEBIAN_POSTGRES_ROOT, major, 'bin');
    if (
      (await isExecutable(path.join(binDir, 'initdb'))) &&
      (await isExecutable(path.join(binDir, 'pg_ctl')))
    ) {
      return binDir;
    }
  }
  throw new UnavailableError(
    `PostgreSQL server programs (initdb, pg_ctl) not found on PATH nor in ${DEBIAN_POSTGRES_ROOT}/*/bin; install PostgreSQL or set DATABASE_URL`,
  );
}

/** Connects, runs `SELECT 1`, disconnects. */
async function probe(url: string): Promise<void> {
  await withAdminClient(url, (client) => client.query('SELECT 1'));
}

async function withAdminClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_CONNECT_TIMEOUT_MILLIS,
  });
  // A server that goes away while connected emits 'error' on the client; without a listener that
  // would crash the process instead of failing the query.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // The postmaster's parent (pg_ctl) has exited, so a killed postmaster is reaped by PID 1; in
  // containers whose PID 1 does not reap, it stays a zombie, which signal 0 still reports as alive.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
  return err instanceof Error ? err.message || (err as NodeJS.ErrnoException).code || err.name : String(err);
}

// One masking rule for the whole product (lib/config.ts); re-exported for the dev stack's users.
export { maskUrl };
