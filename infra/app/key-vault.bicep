// One Key Vault, deployed into the vault's resource group. A vault holding rotated secrets
// gets the rotator's read-write access to secrets and the Event Grid system topic whose
// SecretNearExpiry and SecretExpired events start rotations; a vault the rotator only reads
// (say, the GitHub App private key) gets read access to secret values and nothing else.

import { builtInRoles } from 'roles.bicep'

param keyVaultName string
@description('True for a vault holding rotated secrets; false for one the rotator only reads.')
param rotatesSecrets bool
@description('The vault\'s region: a system topic lives where its source does.')
param location string
@description('A vault has at most one system topic; reuse the existing one\'s name if it has one.')
param systemTopicName string
param tags object = {}
param rotatorPrincipalId string
@description('Identity Event Grid uses to write undeliverable events to the dead-letter container.')
param eventGridIdentityId string
@description('False until the code is deployed: Event Grid rejects an Azure Function destination that does not exist yet.')
param subscribeToEvents bool
param functionAppId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Officer: read, write and delete secrets and their versions (the live secret, its -pending
// twin, derived secrets). User: read secret values. Neither touches keys, certificates or
// access. Scoping to single secrets is not possible: the pending and derived secrets do not
// exist before a rotation. Works only on vaults that use the Azure RBAC permission model.
var secretsRole = rotatesSecrets ? builtInRoles['Key Vault Secrets Officer'] : builtInRoles['Key Vault Secrets User']

resource secretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, rotatorPrincipalId, secretsRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsRole)
    principalId: rotatorPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (rotatesSecrets) {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource keyVaultEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (rotatesSecrets && subscribeToEvents) {
  parent: systemTopic
  name: 'credential-rotator'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/keyVaultEvents'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
    }
    // Keep trying for a day (the near-expiry event comes 30 days ahead), then dead-letter.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}
