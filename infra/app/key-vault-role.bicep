// A custom role for the vaults holding rotated secrets: read a secret's value and metadata,
// write a version, update attributes and tags, soft-delete and recover. Never purge, backup
// or restore, and nothing on keys, certificates or access. Created at a subscription; it can
// be assigned only on the vaults listed in assignableScopes.

targetScope = 'subscription'

@description('Display name; unique in the tenant.')
param roleName string
@description('Resource ids of the vaults the role may be assigned on.')
param assignableScopes string[]

// Exactly src/targets/key-vault-actions.ts (KEY_VAULT_DATA_ACTIONS); test/infra-roles.test.ts keeps them equal.
var secretRotationDataActions = [
  'Microsoft.KeyVault/vaults/secrets/getSecret/action'
  'Microsoft.KeyVault/vaults/secrets/readMetadata/action'
  'Microsoft.KeyVault/vaults/secrets/setSecret/action'
  'Microsoft.KeyVault/vaults/secrets/update/action'
  'Microsoft.KeyVault/vaults/secrets/delete'
  'Microsoft.KeyVault/vaults/secrets/recover/action'
]

resource secretRotator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'Read, write, tag, soft-delete and recover Key Vault secrets; never purge, back up or restore. Used by the PostgreSQL credential rotator.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: secretRotationDataActions
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = secretRotator.id
