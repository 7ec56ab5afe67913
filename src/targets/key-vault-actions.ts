/**
 * What the Key Vault adapter does with secrets (read a value, read metadata and versions,
 * write a version, update attributes and tags, soft-delete, recover), once as access-policy
 * permissions, which the local emulator enforces on every test, and once as the Azure RBAC
 * data actions of the rotator's custom role in infra/app/key-vault-role.bicep. Never purge,
 * backup or restore. Mapping: https://learn.microsoft.com/azure/key-vault/general/rbac-migration
 * and the operations list https://learn.microsoft.com/azure/role-based-access-control/permissions/security#microsoftkeyvault
 */
export const KEY_VAULT_SECRET_ACCESS = {
  get: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'],
  list: ['Microsoft.KeyVault/vaults/secrets/readMetadata/action'],
  set: ['Microsoft.KeyVault/vaults/secrets/setSecret/action', 'Microsoft.KeyVault/vaults/secrets/update/action'],
  delete: ['Microsoft.KeyVault/vaults/secrets/delete'],
  recover: ['Microsoft.KeyVault/vaults/secrets/recover/action'],
} as const;

export type KeyVaultSecretPermission = keyof typeof KEY_VAULT_SECRET_ACCESS;

export const KEY_VAULT_SECRET_PERMISSIONS = Object.keys(KEY_VAULT_SECRET_ACCESS) as KeyVaultSecretPermission[];

export const KEY_VAULT_DATA_ACTIONS: readonly string[] = Object.values(KEY_VAULT_SECRET_ACCESS).flat();
