import type { DataConverter } from '@temporalio/common';
import { loadPayloadKeyring } from './payload-keys';
import { AesGcmPayloadCodec } from './payload-codec';

/**
 * The Temporal data converter of every worker and client: encrypting payloads when
 * BARCODES_PAYLOAD_KEYS (or BARCODES_PAYLOAD_KEYS_FILE) is set, the SDK's default otherwise.
 * Workers and clients must share the keys: a client without them cannot read results, a worker
 * without them cannot read its inputs.
 */
function payloadDataConverter(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const keyring = loadPayloadKeyring(env);
  return keyring ? { payloadCodecs: [new AesGcmPayloadCodec(keyring)] } : undefined;
}

/** `{ dataConverter }` to spread into Client or Worker options, or nothing when not configured. */
export function dataConverterOption(env: NodeJS.ProcessEnv = process.env): { dataConverter?: DataConverter } {
  const dataConverter = payloadDataConverter(env);
  return dataConverter ? { dataConverter } : {};
}
