// A custom role that lets the rotator point a Container App's Key Vault references at a new
// secret version (an app write), read apps, revisions and replicas, and restart revisions. Role definitions are tenant-wide objects created at a
// subscription; this one can be assigned only on the resource groups listed in
// assignableScopes.

targetScope = 'subscription'

@description('Display name; unique in the tenant.')
param roleName string
@description('Resource ids of the resource groups the role may be assigned on.')
param assignableScopes string[]

// Exactly src/targets/arm-actions.ts (CONTAINER_APPS_ACTIONS); test/infra-roles.test.ts keeps them equal.
var containerAppsActions = [
  'Microsoft.App/containerApps/read'
  'Microsoft.App/containerApps/write'
  'Microsoft.App/containerApps/listSecrets/action'
  'Microsoft.App/containerApps/revisions/read'
  'Microsoft.App/containerApps/revisions/restart/action'
  'Microsoft.App/containerApps/revisions/replicas/read'
]

resource revisionRestarter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'Point Container App secrets at a new Key Vault version, read apps, revisions and replicas, restart revisions. Used by the PostgreSQL credential rotator after a password rotation.'
    type: 'CustomRole'
    permissions: [
      {
        actions: containerAppsActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = revisionRestarter.id
