// Sources: the v4 client takes `endpoint` and `credentials.scopes` and ignores v3's `baseUri`
// (https://learn.microsoft.com/javascript/api/@azure/arm-appcontainers/containerappsapiclientoptionalparams);
// ARM's token audience is https://management.azure.com/.default
// (https://learn.microsoft.com/azure/azure-resource-manager/management/control-plane-and-data-plane).
import { ContainerAppsAPIClient } from '@azure/arm-appcontainers';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { loopbackAzureOptions } from '../loopback-clients';

/**
 * Fails any request that would leave 127.0.0.1 before it is sent. The v4 client silently
 * ignores the v3 option names and would otherwise call the real ARM endpoint.
 */
export function loopbackOnlyPolicy(seen: string[] = []): PipelinePolicy {
  return {
    name: 'loopbackOnly',
    sendRequest(request, next) {
      seen.push(request.url);
      if (new URL(request.url).hostname !== '127.0.0.1') {
        return Promise.reject(new Error(`refusing to send a request outside the loopback test bed: ${request.url}`));
      }
      return next(request);
    },
  };
}

/** The real v4 client, pointed at an emulator with the v4 option names and guarded to stay local. */
export function loopbackContainerAppsClient(endpoint: string, ca: string, credential: TokenCredential, subscriptionId: string): ContainerAppsAPIClient {
  const options = loopbackAzureOptions(ca);
  return new ContainerAppsAPIClient(credential, subscriptionId, {
    ...options,
    endpoint,
    credentials: { scopes: ['https://management.azure.com/.default'] },
    additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(), position: 'perCall' }],
  });
}
