import type { SealedDestination } from '../interfaces/store';
import { sealedBinding } from './options';
import { openSecret, requireSecretsKeyring, type SecretsKeyring } from './secret-box';
import type { RemoteDestination, RemoteDestinationKind } from './types';

/**
 * Opens an interface's stored destinations for sending (or `doctor`). Fails with the one-line
 * SecretsKeyError when BARCODES_SECRETS_KEY is missing or does not hold the sealing key.
 */
export function openDestinations(
  sealed: readonly (SealedDestination & { kind: RemoteDestinationKind })[],
  keyring: SecretsKeyring | undefined,
): RemoteDestination[] {
  if (sealed.length === 0) return [];
  const ring = requireSecretsKeyring(
    keyring,
    `open the stored ${sealed.map((destination) => destination.kind).join(' and ')} secret`,
  );
  return sealed.map((destination): RemoteDestination => {
    const secret = openSecret(
      ring,
      destination.secretSealed,
      sealedBinding(destination.kind, destination.url),
    );
    return destination.kind === 'sftp'
      ? {
          kind: 'sftp',
          url: destination.url,
          hostKeyFingerprint: destination.hostKeyFingerprint!,
          privateKey: secret,
        }
      : { kind: 'https', url: destination.url, secret };
  });
}
