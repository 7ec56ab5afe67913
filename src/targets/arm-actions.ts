/**
 * The Azure Resource Manager operations the Container Apps adapter performs: find the app,
 * list its revisions with their running and health state, restart a revision. The custom
 * role in infra/app/container-apps-role.bicep grants exactly these and nothing else;
 * test/infra-roles.test.ts keeps the two equal.
 */
export const CONTAINER_APPS_ACTIONS = [
  'Microsoft.App/containerApps/read',
  'Microsoft.App/containerApps/revisions/read',
  'Microsoft.App/containerApps/revisions/restart/action',
] as const;

