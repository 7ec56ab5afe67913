// Role assignments inside the service's own resource group, each on the single resource it
// concerns. Names follow guid(scope, principal, role).

import { builtInRoles } from 'roles.bicep'

param storageAccountName string
param deadLetterContainerName string
param applicationInsightsName string
param eventsTopicName string
param rotatorPrincipalId string
param eventGridPrincipalId string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deadLetterContainer 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource eventsTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: eventsTopicName
}

// The Functions host and the Durable Functions task hub keep blobs, queues and tables in the
// service's own storage account (AzureWebJobsStorage), and Flex Consumption reads the
// deployment package from a blob container there. The host creates its containers, queues
// and tables itself, so the account is the narrowest scope.
var hostStorageRoles = [
  builtInRoles['Storage Blob Data Owner']
  builtInRoles['Storage Queue Data Contributor']
  builtInRoles['Storage Table Data Contributor']
]

resource hostStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in hostStorageRoles: {
    name: guid(storage.id, rotatorPrincipalId, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: rotatorPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Telemetry with Entra authentication (the component has local authentication disabled).
resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, rotatorPrincipalId, builtInRoles['Monitoring Metrics Publisher'])
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles['Monitoring Metrics Publisher'])
    principalId: rotatorPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Publishing the lifecycle events.
resource eventsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsTopic.id, rotatorPrincipalId, builtInRoles['EventGrid Data Sender'])
  scope: eventsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles['EventGrid Data Sender'])
    principalId: rotatorPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid writes Key Vault events it could not deliver into one container, as its own
// identity (not the rotator's).
resource deadLetterAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deadLetterContainer.id, eventGridPrincipalId, builtInRoles['Storage Blob Data Contributor'])
  scope: storage::blobService::deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles['Storage Blob Data Contributor'])
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
  }
}
