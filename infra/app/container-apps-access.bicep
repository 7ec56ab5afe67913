// The Container Apps restart role on one resource group, deployed into that group.

param rotatorPrincipalId string
@description('Resource id of the custom role from container-apps-role.bicep.')
param roleDefinitionId string

resource restartAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, rotatorPrincipalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: rotatorPrincipalId
    principalType: 'ServicePrincipal'
  }
}
