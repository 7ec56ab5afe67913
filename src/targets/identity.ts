import type { TokenCredential } from '@azure/core-auth';

// @azure/identity is required on first use, not imported: the app entry imports this module,
// and loading the SDK would be a third of every cold start.

/** The service's own identity: the user-assigned managed identity named by AZURE_CLIENT_ID. */
export function managedIdentity(clientId: string | undefined): TokenCredential {
  const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/** For the `rotator` command in a terminal or CI job: az login, workload identity, environment. */
export function operatorIdentity(): TokenCredential {
  const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
  return new DefaultAzureCredential();
}
