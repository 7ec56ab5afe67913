import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

/** The service's own identity: the user-assigned managed identity named by AZURE_CLIENT_ID. */
export function managedIdentity(clientId: string | undefined): TokenCredential {
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/** For the `rotator` command in a terminal or CI job: az login, workload identity, environment. */
export function operatorIdentity(): TokenCredential {
  return new DefaultAzureCredential();
}
