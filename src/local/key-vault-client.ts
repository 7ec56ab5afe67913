import type { TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import type { KeyVaultEmulator } from './emulators/key-vault';
import { StaticTokenCredential, loopbackAzureOptions } from './loopback-clients';

export interface LocalSecretClientOptions {
  serviceVersion?: SecretClientOptions['serviceVersion'];
  retry?: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
}

/**
 * The real `SecretClient` pointed at a started emulator: trusts its certificate on this
 * client only, retries fast, and skips the challenge-resource check that 127.0.0.1 fails.
 * `credential` is a token string the vault was configured with, or any TokenCredential;
 * the default is the vault's all-permissions admin token.
 */
export function createLocalSecretClient(
  vault: KeyVaultEmulator,
  credential: TokenCredential | string = vault.adminToken,
  options: LocalSecretClientOptions = {},
): SecretClient {
  const tokenCredential = typeof credential === 'string' ? new StaticTokenCredential(credential) : credential;
  return new SecretClient(vault.url, tokenCredential, {
    ...loopbackAzureOptions(vault.ca, options.retry),
    disableChallengeResourceVerification: true,
    serviceVersion: options.serviceVersion,
  });
}
