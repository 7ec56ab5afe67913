import { json, type EmulatorRequest, type EmulatorResponse } from './loopback-emulator';

/**
 * ARM `Microsoft.Authorization/permissions` at a resource or resource group: "Gets all
 * permissions the caller has" (REST spec
 * specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json,
 * operations Permissions_ListForResource and Permissions_ListForResourceGroup; examples
 * GetPermissions.json, GetResourcePermissions.json). The answer is `{value: Permission[]}`,
 * each Permission `{actions, notActions, dataActions, notDataActions}`, one per role
 * assignment that applies. Any signed-in caller may read its own permissions: no action is
 * required. The spec leaves a scope that does not exist unspecified; this emulator answers
 * 404 ResourceNotFound for one it does not know, the stricter choice.
 */

export const AUTHORIZATION_API_VERSIONS = ['2022-04-01'];

export interface PermissionGrant {
  actions: string[];
  dataActions: string[];
}

/** The scope a permissions request names, or undefined when the path is not one. */
export function permissionsScope(req: EmulatorRequest): string | undefined {
  if (req.method !== 'GET') return undefined;
  // The SDK builds `{provider}/{parentResourcePath}/{type}` with an empty parent path: `//` is the same scope.
  const path = req.path.replace(/\/{2,}/g, '/');
  const m = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+(?:\/providers\/[^/]+\/[^/]+\/[^/]+)?)\/providers\/Microsoft\.Authorization\/permissions$/i.exec(path);
  return m?.[1];
}

export function permissionsResponse(req: EmulatorRequest, scope: string, grant: PermissionGrant, exists: (scope: string) => boolean): EmulatorResponse {
  const version = req.query.get('api-version');
  if (version === null) return json(400, { error: { code: 'MissingApiVersionParameter', message: 'The api-version query parameter (?api-version=) is required for all requests.' } });
  if (!AUTHORIZATION_API_VERSIONS.includes(version)) {
    return json(400, { error: { code: 'InvalidApiVersionParameter', message: `The api-version '${version}' is invalid. The supported versions are '${AUTHORIZATION_API_VERSIONS.join(',')}'.` } });
  }
  if (!exists(scope)) return json(404, { error: { code: 'ResourceNotFound', message: `The Resource '${scope}' was not found.` } });
  const value = grant.actions.length + grant.dataActions.length === 0 ? [] : [{ actions: grant.actions, notActions: [], dataActions: grant.dataActions, notDataActions: [] }];
  return json(200, { value });
}
