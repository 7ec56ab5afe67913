import type { AuthorizationManagementClient, AuthorizationManagementClientOptionalParams, Permission } from '@azure/arm-authorization';
import type { TokenCredential } from '@azure/core-auth';
import { classifyArmError } from './container-apps';

export type { Permission } from '@azure/arm-authorization';

/** An ARM resource id split the way the permissions operation addresses it. */
interface ResourceScope {
  subscription: string;
  resourceGroup: string;
  provider: string;
  resourceType: string;
  name: string;
}

export interface ArmPermissionsOptions {
  endpoint: string;
  credential: TokenCredential;
  clientOptions?: AuthorizationManagementClientOptionalParams;
}

/**
 * The caller's effective permissions at a resource, read through ARM
 * `Microsoft.Authorization/permissions` (Permissions_ListForResource, api-version
 * 2022-04-01). Reading one's own permissions needs no role: any signed-in caller may.
 */
export class ArmPermissions {
  private readonly clients = new Map<string, AuthorizationManagementClient>();
  private readonly endpoint: string;

  constructor(private readonly options: ArmPermissionsOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
  }

  async forResource(stage: string, resourceId: string): Promise<Permission[]> {
    const scope = parseResourceId(resourceId);
    try {
      const all: Permission[] = [];
      const pages = this.client(scope.subscription).permissions.listForResource(scope.resourceGroup, scope.provider, '', scope.resourceType, scope.name);
      for await (const permission of pages) all.push(permission);
      return all;
    } catch (error) {
      throw classifyArmError(stage, `reading the permissions at ${resourceId}`, error);
    }
  }

  private client(subscription: string): AuthorizationManagementClient {
    let client = this.clients.get(subscription);
    if (!client) {
      // Required on first use, so a cold start does not load the SDK.
      const { AuthorizationManagementClient } = require('@azure/arm-authorization') as typeof import('@azure/arm-authorization');
      client = new AuthorizationManagementClient(this.options.credential, subscription, { ...this.options.clientOptions, endpoint: this.endpoint, credentialScopes: [`${this.endpoint}/.default`] });
      this.clients.set(subscription, client);
    }
    return client;
  }
}

function parseResourceId(id: string): ResourceScope {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i.exec(id);
  if (!m) throw new Error(`not a top-level ARM resource id: ${id}`);
  return { subscription: m[1], resourceGroup: m[2], provider: m[3], resourceType: m[4], name: m[5] };
}

/**
 * Whether the permissions grant `action`: some entry allows it and no entry's not-list
 * removes it from that entry, with `*` matching any rest of the action, as Azure RBAC
 * evaluates them (https://learn.microsoft.com/azure/role-based-access-control/role-definitions#notactions).
 */
export function grantsAction(permissions: readonly Permission[], action: string, kind: 'control' | 'data'): boolean {
  return permissions.some((p) => {
    const allowed = kind === 'control' ? p.actions : p.dataActions;
    const denied = kind === 'control' ? p.notActions : p.notDataActions;
    return (allowed ?? []).some((a) => matches(a, action)) && !(denied ?? []).some((a) => matches(a, action));
  });
}

function matches(pattern: string, action: string): boolean {
  const escaped = pattern.toLowerCase().split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`).test(action.toLowerCase());
}
