/**
 * A Temporal development server (`temporal server start-dev`: the server on SQLite, plus the Web
 * UI) for the demo and the tests, or the server named by `TEMPORAL_ADDRESS` when there is one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, openSync, closeSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { UnavailableError } from '../lib/errors';
import { describeCommand, type ManagedServer } from './exec';
import { onProcessExit } from './exit-hooks';
import { formatMillis, sleep, type Log } from './log';
import { DEFAULT_HOST, freePort } from './ports';
import { locateTemporalCli } from './temporal-cli';

export {
  TEMPORAL_CLI_VERSION,
  TEMPORAL_CLI_PYPI_PACKAGE,
  locateTemporalCli,
  temporalCliCacheDir,
} from './temporal-cli';
export type { LocateTemporalCliOptions } from './temporal-cli';

/** A dynamic configuration value: start-dev takes each as JSON (maps, e.g. worker.perNamespaceWorkerOptions). */
export type DynamicConfigValue = string | number | boolean | { readonly [key: string]: DynamicConfigValue };

/** Value types `temporal server start-dev --search-attribute Name=Type` accepts. */
export type SearchAttributeType = 'Keyword' | 'Int' | 'Datetime' | 'Text' | 'Bool' | 'Double' | 'KeywordList';

/** The namespace every Temporal server has. */
const DEFAULT_NAMESPACE = 'default';

/** The defaults of `TemporalDevServerOptions`, in one place. */
const TEMPORAL_DEV_SERVER_DEFAULTS = {
  ip: DEFAULT_HOST,
  namespace: DEFAULT_NAMESPACE,
  /** Cold start with SQLite takes a few seconds; a loaded CI machine needs more. */
  readyTimeoutMillis: 60_000,
  /** start-dev flushes SQLite and stops its services in about a second on SIGTERM. */
  stopGraceMillis: 10_000,
  /** The server's own log level; its output goes to the log file, never to the console. */
  serverLogLevel: 'warn',
} as const;

/** How long `useOrStartTemporal` waits for an existing `TEMPORAL_ADDRESS` to answer. */
const EXISTING_SERVER_TIMEOUT_MILLIS = 10_000;

/** Pause between two readiness probes. */
const READY_POLL_INTERVAL_MILLIS = 250;

/** Upper bound of one readiness probe (connect + DescribeNamespace). */
const READY_PROBE_TIMEOUT_MILLIS = 5_000;

/** Lines of the server log quoted in an error when it fails to start. */
const LOG_TAIL_LINES = 5;

interface TemporalDevServerOptions {
  /** Receives progress lines (which binary, which ports, ready after how long). */
  log: Log;
  /** Path of the `temporal` binary; default: `locateTemporalCli` (which may install it). */
  cliPath?: string;
  /** Address the frontend and the Web UI bind to. */
  ip?: string;
  /** Frontend gRPC port; default: a free port. */
  port?: number;
  /** Web UI port, or `false` for no UI (`--headless`); default: a free port. */
  uiPort?: number | false;
  /** SQLite file to persist to, so a restarted server keeps its state; default: in memory. */
  dbFile?: string;
  /** Namespace to create (besides `default`) and to wait for. */
  namespace?: string;
  /** Custom search attributes to register at start, name → type. */
  searchAttributes?: Record<string, SearchAttributeType>;
  /** Dynamic configuration values, key → value (passed as JSON). */
  dynamicConfig?: Record<string, DynamicConfigValue>;
  /**
   * File the server's stdout and stderr are appended to; default: `server.log` in a new temp folder,
   * which `stop()` deletes (a failed start or `kill()` keeps it for the post-mortem).
   */
  logFile?: string;
  /** How long to wait for the frontend to answer, in milliseconds. */
  readyTimeoutMillis?: number;
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL, in milliseconds. */
  stopGraceMillis?: number;
  /** Environment of the server process; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * A running (or stopped, restartable) `temporal server start-dev` process. `stop()` sends SIGTERM,
 * then SIGKILL after the grace period, and deletes the default log folder; `start()` keeps the
 * ports, namespace and database file; `restart()` keeps the log.
 */
export interface TemporalDevServer extends ManagedServer {
  /** Frontend address, `host:port`, for `Connection.connect({ address })` and TEMPORAL_ADDRESS. */
  readonly address: string;
  /** The namespace that was created and waited for. */
  readonly namespace: string;
  /** Web UI, e.g. `http://127.0.0.1:8233`; undefined when headless. */
  readonly uiUrl?: string;
  /** The SQLite file, when persistent. */
  readonly dbFile?: string;
  /** Process id while running. */
  readonly pid: number | undefined;
  /** Whether the process is running. */
  readonly running: boolean;
}

/**
 * Starts `temporal server start-dev` and resolves once its frontend answers DescribeNamespace for
 * the namespace. Rejects with an `UnavailableError` quoting the end of the server log when it
 * exits early or does not answer in time.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const { log } = options;
  const ip = options.ip ?? TEMPORAL_DEV_SERVER_DEFAULTS.ip;
  const cliPath = options.cliPath ?? (await locateTemporalCli(log, { env: options.env }));
  const port = options.port ?? (await freePort(ip));
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort(ip)));
  let logFile = options.logFile;
  let ownedLogDir: string | undefined;
  if (logFile === undefined) {
    ownedLogDir = await fs.mkdtemp(path.join(os.tmpdir(), 'barcodes-temporal-'));
    logFile = path.join(ownedLogDir, 'server.log');
  } else {
    await fs.mkdir(path.dirname(logFile), { recursive: true });
  }
  if (options.dbFile !== undefined) {
    await fs.mkdir(path.dirname(options.dbFile), { recursive: true });
  }

  const server = new DevServerProcess({
    log,
    cliPath,
    ip,
    port,
    uiPort,
    dbFile: options.dbFile,
    namespace: options.namespace ?? TEMPORAL_DEV_SERVER_DEFAULTS.namespace,
    searchAttributes: options.searchAttributes ?? {},
    dynamicConfig: options.dynamicConfig ?? {},
    logFile,
    ownedLogDir,
    readyTimeoutMillis: options.readyTimeoutMillis ?? TEMPORAL_DEV_SERVER_DEFAULTS.readyTimeoutMillis,
    stopGraceMillis: options.stopGraceMillis ?? TEMPORAL_DEV_SERVER_DEFAULTS.stopGraceMillis,
    env: options.env ?? process.env,
  });
  await server.start();
  return server;
}

interface UseOrStartTemporalOptions extends TemporalDevServerOptions {
  /** Where TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS/API key variables are read from; default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** How long an existing TEMPORAL_ADDRESS may take to answer, in milliseconds. */
  existingServerTimeoutMillis?: number;
}

/** A Temporal frontend to use: either one that was already running, or a dev server started for us. */
export interface TemporalEndpoint {
  /** Frontend address, `host:port`. */
  address: string;
  /** Namespace checked (and, when started, created). */
  namespace: string;
  /** Whether a dev server was started (and `stop()` stops it). */
  started: boolean;
  /** Web UI of the started dev server. */
  uiUrl?: string;
  /** Log file of the started dev server. */
  logFile?: string;
  /** The started dev server, for restart and fault tests. */
  server?: TemporalDevServer;
  /** Stops what was started; does nothing for an existing server. */
  stop(): Promise<void>;
}

/**
 * When TEMPORAL_ADDRESS is set, checks that it answers (with the TLS / API key settings of
 * `@temporalio/envconfig`) and starts nothing; otherwise starts a dev server.
 */
export async function useOrStartTemporal(options: UseOrStartTemporalOptions): Promise<TemporalEndpoint> {
  const env = options.env ?? process.env;
  const address = env.TEMPORAL_ADDRESS;
  if (address) {
    const { connectionOptions, namespace: configuredNamespace } = loadClientConnectConfig({
      overrideEnvVars: definedOnly(env),
    });
    const namespace = options.namespace ?? configuredNamespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE;
    const timeoutMillis = options.existingServerTimeoutMillis ?? EXISTING_SERVER_TIMEOUT_MILLIS;
    options.log(`using Temporal at TEMPORAL_ADDRESS=${address} (namespace ${namespace})`);
    await waitUntilAnswering({
      connectionOptions: {
        address,
        tls: connectionOptions.tls,
        apiKey: connectionOptions.apiKey,
        metadata: connectionOptions.metadata,
      },
      namespace,
      timeoutMillis,
    }).catch((err: unknown) => {
      throw new UnavailableError(
        `Temporal at TEMPORAL_ADDRESS=${address} does not answer for namespace ${namespace} within ${timeoutMillis} ms: ${reasonOf(err)}`,
        { cause: err },
      );
    });
    return { address, namespace, started: false, stop: async () => undefined };
  }

  const server = await startTemporalDevServer({
    ...options,
    namespace: options.namespace ?? env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    env,
  });
  return {
    address: server.address,
    namespace: server.namespace,
    started: true,
    uiUrl: server.uiUrl,
    logFile: server.logFile,
    server,
    stop: () => server.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// Private helpers

interface DevServerSettings {
  log: Log;
  cliPath: string;
  ip: string;
  port: number;
  uiPort: number | undefined;
  dbFile: string | undefined;
  namespace: string;
  searchAttributes: Record<string, SearchAttributeType>;
  dynamicConfig: Record<string, DynamicConfigValue>;
  logFile: string;
  /** Temp folder created for the default log file; deleted by stop(). */
  ownedLogDir: string | undefined;
  readyTimeoutMillis: number;
  stopGraceMillis: number;
  env: NodeJS.ProcessEnv;
}

class DevServerProcess implements TemporalDevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitStatus: string | undefined;
  private unregisterExitHook: () => void = () => undefined;

  constructor(private readonly settings: DevServerSettings) {
    this.address = `${hostForUrl(settings.ip)}:${settings.port}`;
    this.uiUrl =
      settings.uiPort === undefined ? undefined : `http://${hostForUrl(settings.ip)}:${settings.uiPort}`;
  }

  get namespace(): string {
    return this.settings.namespace;
  }

  get logFile(): string {
    return this.settings.logFile;
  }

  get dbFile(): string | undefined {
    return this.settings.dbFile;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const { log, cliPath, logFile, dbFile, namespace, readyTimeoutMillis } = this.settings;
    const args = this.args();
    log(
      `starting Temporal dev server on ${this.address}` +
        (this.uiUrl ? ` (Web UI ${this.uiUrl})` : ' (headless)') +
        (dbFile ? `, state in ${dbFile}` : ', state in memory') +
        `; output in ${logFile}`,
    );
    const startedAt = Date.now();

    // Recreated when stop() deleted the default log folder and the server is started again.
    await fs.mkdir(path.dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      // A marker per start: restarts append to the same file.
      writeSync(fd, `\n--- ${new Date().toISOString()} ${describeCommand(cliPath, args)}\n`);
      // Not detached: a Ctrl-C in the terminal reaches the server too.
      child = spawn(cliPath, args, { stdio: ['ignore', fd, fd], env: this.settings.env });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(fd);
    }
    this.child = child;
    this.exitStatus = undefined;
    this.exited = new Promise<void>((resolve) => {
      const onGone = (status: string) => {
        this.exitStatus ??= status;
        if (this.child === child) this.child = undefined;
        this.unregisterExitHook();
        resolve();
      };
      child.once('exit', (code, signal) =>
        onGone(signal ? `killed by ${signal}` : `exited with code ${code}`),
      );
      child.once('error', (err) => onGone(`could not be started: ${err.message}`));
    });
    this.unregisterExitHook = onProcessExit(() => child.kill('SIGKILL'));

    try {
      await waitUntilAnswering({
        connectionOptions: { address: this.address },
        namespace,
        timeoutMillis: readyTimeoutMillis,
        gone: this.exited.then(() => this.exitStatus ?? 'exited'),
      });
    } catch (err) {
      await this.kill();
      const lastLines = await readTail(logFile, LOG_TAIL_LINES);
      throw new UnavailableError(
        `Temporal dev server (${describeCommand(cliPath, ['server', 'start-dev', '--port', String(this.settings.port)])}) did not become ready: ${reasonOf(err)}` +
          (lastLines ? `; last lines of ${logFile}: ${lastLines}` : `; see ${logFile}`),
        { cause: err },
      );
    }
    log(`Temporal dev server ready at ${this.address} in ${formatMillis(Date.now() - startedAt)}`);
  }

  async stop(): Promise<void> {
    await this.terminate();
    if (this.settings.ownedLogDir !== undefined) {
      await fs.rm(this.settings.ownedLogDir, { recursive: true, force: true });
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.terminate();
    await this.start();
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  private async terminate(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const exitedInTime = await exitsWithin(this.exited, this.settings.stopGraceMillis);
    if (!exitedInTime) {
      this.settings.log(
        `Temporal dev server did not stop within ${formatMillis(this.settings.stopGraceMillis)} of SIGTERM; killing it`,
      );
      child.kill('SIGKILL');
    }
    await this.exited;
    this.settings.log(`Temporal dev server at ${this.address} stopped`);
  }

  private args(): string[] {
    const { ip, port, uiPort, dbFile, namespace, searchAttributes, dynamicConfig } = this.settings;
    const args = ['server', 'start-dev', '--ip', ip, '--port', String(port)];
    if (uiPort === undefined) {
      args.push('--headless');
    } else {
      // No internet here, and the news feed is noise in a development UI anyway.
      args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
    }
    if (dbFile !== undefined) args.push('--db-filename', dbFile);
    // `default` always exists; naming it again would only add noise to the command line.
    if (namespace !== DEFAULT_NAMESPACE) args.push('--namespace', namespace);
    for (const [name, type] of Object.entries(searchAttributes)) {
      args.push('--search-attribute', `${name}=${type}`);
    }
    for (const [key, value] of Object.entries(dynamicConfig)) {
      // start-dev parses each value as JSON: strings need their quotes.
      args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
    }
    args.push('--log-level', TEMPORAL_DEV_SERVER_DEFAULTS.serverLogLevel);
    return args;
  }
}

interface WaitUntilAnsweringOptions {
  connectionOptions: ConnectionOptions;
  namespace: string;
  timeoutMillis: number;
  /** Settles with why the server process is gone, which makes waiting pointless. */
  gone?: Promise<string>;
}

/** Polls connect + DescribeNamespace until both succeed; the frontend may listen before the namespace exists. */
async function waitUntilAnswering(options: WaitUntilAnsweringOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMillis;
  // Raced against every probe: a probe of a port held by something else can take its full timeout.
  let goneStatus: string | undefined;
  const gone = options.gone?.then((status) => {
    goneStatus = status;
    throw new Error(`the server process ${status}`);
  });
  gone?.catch(() => undefined); // observed by the races below; never an unhandled rejection
  let lastError: unknown;
  for (;;) {
    const probeTimeoutMillis = Math.max(1, Math.min(READY_PROBE_TIMEOUT_MILLIS, deadline - Date.now()));
    const probe = probeNamespace(options.connectionOptions, options.namespace, probeTimeoutMillis);
    try {
      await (gone ? Promise.race([probe, gone]) : probe);
      return;
    } catch (err) {
      if (goneStatus !== undefined) throw new Error(`the server process ${goneStatus}`, { cause: lastError });
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`no answer within ${options.timeoutMillis} ms (last error: ${reasonOf(lastError)})`, {
        cause: lastError,
      });
    }
    await sleep(Math.min(READY_POLL_INTERVAL_MILLIS, left));
  }
}

/** One readiness probe; always closes its connection, even when the caller stopped waiting for it. */
async function probeNamespace(
  connectionOptions: ConnectionOptions,
  namespace: string,
  timeoutMillis: number,
): Promise<void> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: timeoutMillis });
    const connected = connection;
    await connected.withDeadline(Date.now() + timeoutMillis, () =>
      connected.workflowService.describeNamespace({ namespace }),
    );
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Whether `exited` settles within `millis`; the timer is cleared so it cannot keep Node alive. */
async function exitsWithin(exited: Promise<void>, millis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), millis);
  });
  try {
    return await Promise.race([exited.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

async function readTail(file: string, lines: number): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '' && !line.startsWith('--- '))
      .slice(-lines)
      .join(' | ');
  } catch {
    return '';
  }
}

function hostForUrl(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) result[key] = value;
  }
  return result;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
