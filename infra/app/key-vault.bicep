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
@description('Resource id of the custom role from key-vault-role.bicep; used when rotatesSecrets.')
param secretRotatorRoleId string
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

// A vault holding rotated secrets: the custom role of key-vault-role.bicep (read, write, tag,
// soft-delete, recover; never purge, backup or restore). A vault the rotator only reads:
// Key Vault Secrets User (read values and metadata). Neither touches keys, certificates or
// access. The assignment covers the whole vault: the pending and derived secrets do not exist
// before a rotation and the pending one is deleted after each, so per-secret assignments
// cannot follow them; keep the rotated secrets in a vault of their own (README, Security).
// Works only on vaults that use the Azure RBAC permission model.
var secretsRoleId = rotatesSecrets ? secretRotatorRoleId : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles['Key Vault Secrets User'])

resource secretsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, rotatorPrincipalId, secretsRoleId)
  scope: vault
  properties: {
    roleDefinitionId: secretsRoleId
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
