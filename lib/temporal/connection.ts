import { Connection, Client } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';
import { UnavailableError } from '../errors';
import { dataConverterOption } from '../security/data-converter';

/**
 * Connection settings: the standard Temporal client variables (TEMPORAL_API_KEY, TEMPORAL_TLS_*,
 * a config profile) through @temporalio/envconfig, so the same build runs against a local dev
 * server, a cluster or Temporal Cloud; address and namespace as CONTRACT.md §5 defaults them.
 */
function connectOptions(config: Config) {
  const loaded = loadClientConnectConfig();
  return {
    ...loaded.connectionOptions,
    address: config.temporalAddress,
  };
}

export async function connectClient(config: Config, connectTimeoutMillis = 10_000): Promise<Client> {
  // Outside the try: a bad key setting is the operator's input, not an unreachable server.
  const converter = dataConverterOption();
  try {
    const connection = await Connection.connect({
      ...connectOptions(config),
      connectTimeout: connectTimeoutMillis,
    });
    return new Client({ connection, namespace: config.temporalNamespace, ...converter });
  } catch (error) {
    throw new UnavailableError(
      `Temporal is not reachable at ${config.temporalAddress}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export async function connectWorkerConnection(config: Config): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(connectOptions(config));
  } catch (error) {
    throw new UnavailableError(
      `Temporal is not reachable at ${config.temporalAddress}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
