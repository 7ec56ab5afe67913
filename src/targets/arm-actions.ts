/**
 * The Azure Resource Manager operations the Container Apps adapter performs: read the app,
 * replace its secrets array (the one write: a Key Vault reference pointed at the new version;
 * value secrets listed so they can be written back unchanged, as ARM replaces the array
 * whole), list revisions with their state, restart a revision, list a revision's replicas.
 * The custom role in infra/app/container-apps-role.bicep grants exactly these and nothing
 * else; test/infra-roles.test.ts keeps the two equal.
 */
export const CONTAINER_APPS_ACTIONS = [
  'Microsoft.App/containerApps/read',
  'Microsoft.App/containerApps/write',
  'Microsoft.App/containerApps/listSecrets/action',
  'Microsoft.App/containerApps/revisions/read',
  'Microsoft.App/containerApps/revisions/restart/action',
  'Microsoft.App/containerApps/revisions/replicas/read',
] as const;

