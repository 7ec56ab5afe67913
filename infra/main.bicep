// The PostgreSQL credential rotator: a Durable Functions app on Flex Consumption with one
// user-assigned identity, and exactly the access that identity needs. Deploy with `azd up`
// or `az deployment group create` (resource-group scope).

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment; seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of the Function App and its resources; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Name of the rotator\'s managed identity, which is also its PostgreSQL role name (postgres.admin.user in the configuration). Empty: id-rotator-<suffix>.')
param rotatorIdentityName string = ''

@description('The credential configuration, as an object; the app reads it as inline JSON from ROTATOR_CONFIG.')
param rotatorConfig object

@description('Key Vaults the rotator uses. A vault with rotated secrets gets the custom secret-rotator role (no purge, backup or restore) and a system topic feeding keyVaultEvents; a vault it only reads (access: read) gets Key Vault Secrets User.')
param keyVaults keyVaultRef[] = []

@description('Resource id of an existing custom role granting exactly the Key Vault secret data actions of infra/app/key-vault-role.bicep. Empty: this deployment creates one at subscription scope.')
param keyVaultRoleDefinitionId string = ''

@description('Resource groups of the Container Apps to restart after a rotation: the only scopes of the custom restart role.')
param containerAppsResourceGroups resourceGroupRef[] = []

@description('Resource id of an existing custom role granting exactly the Container Apps actions. Empty: this deployment creates one at subscription scope.')
param containerAppsRoleDefinitionId string = ''

@description('NCRONTAB schedule of the due-check and janitor timer (ROTATOR_SCHEDULE).')
param rotationSchedule string = '0 0 3 * * *'

@description('NCRONTAB schedule of the drift check (ROTATOR_DRIFT_SCHEDULE).')
param driftSchedule string = '0 0 */6 * * *'

@description('App role an HTTP API caller must hold (ROTATOR_REQUIRED_APP_ROLE). Set, it turns on App Service authentication with Microsoft Entra, which then alone writes the caller\'s principal. Empty turns the check off.')
param requiredAppRole string = ''

@description('Client id of the Microsoft Entra app registration that defines requiredAppRole; required when requiredAppRole is set.')
param authClientId string = ''

@description('Create the Event Grid subscription from each vault to keyVaultEvents. Set it once the code is deployed: Event Grid rejects a function that does not exist yet.')
param subscribeKeyVaultEvents bool = false

@description('Email addresses the rotation alerts (failed, degraded, drifted, expiring with no rotation scheduled) are sent to.')
param alertEmails string[] = []

@secure()
@description('Webhook that receives the rotation alerts (common alert schema). Empty: none.')
param alertWebhookUrl string = ''

@minValue(1)
@description('Alert when a credential expires within this many days with no rotation scheduled before it.')
param expiryAlertDays int = 14

type keyVaultRef = {
  @description('Vault name.')
  name: string
  @description('Resource group of the vault. Default: the deployment\'s resource group.')
  resourceGroup: string?
  @description('Subscription of the vault. Default: the deployment\'s subscription.')
  subscriptionId: string?
  @description('rotate: the vault holds rotated, pending or derived secrets. read: the rotator only reads secrets there (an admin password, the GitHub App key). Default: rotate.')
  access: ('rotate' | 'read')?
  @description('Name for the vault\'s Event Grid system topic; give the existing one\'s name if the vault already has one. Default: egst-<vault>.')
  systemTopicName: string?
}

type resourceGroupRef = {
  @description('Resource group name.')
  name: string
  @description('Subscription of the resource group. Default: the deployment\'s subscription.')
  subscriptionId: string?
}

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}rotator-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var deadLetterContainerName = 'key-vault-events-dead-letter'
var containerAppsScopes = [
  for group in containerAppsResourceGroups: '/subscriptions/${group.?subscriptionId ?? subscription().subscriptionId}/resourceGroups/${group.name}'
]
var createContainerAppsRole = !empty(containerAppsResourceGroups) && empty(containerAppsRoleDefinitionId)
var rotatedVaultScopes = [
  for vault in filter(keyVaults, v => (v.?access ?? 'rotate') == 'rotate'): '/subscriptions/${vault.?subscriptionId ?? subscription().subscriptionId}/resourceGroups/${vault.?resourceGroup ?? resourceGroup().name}/providers/Microsoft.KeyVault/vaults/${vault.name}'
]
var createKeyVaultRole = !empty(rotatedVaultScopes) && empty(keyVaultRoleDefinitionId)

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'rotatorIdentity'
  params: {
    name: !empty(rotatorIdentityName) ? rotatorIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}rotator-${resourceToken}'
    location: location
    tags: tags
  }
}

// Event Grid's own identity, for dead-lettering undeliverable Key Vault events.
module eventGridIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'eventGridIdentity'
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}eventgrid-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    minimumTlsVersion: 'TLS1_2'
    blobServices: {
      containers: [
        { name: deploymentContainerName }
        { name: deadLetterContainerName }
      ]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logAnalytics'
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'applicationInsights'
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
  }
}

module events 'app/events.bicep' = {
  name: 'events'
  params: {
    name: '${abbrs.eventGridTopics}rotator-${resourceToken}'
    location: location
    tags: tags
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: plan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.name
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    rotatorConfig: rotatorConfig
    rotationSchedule: rotationSchedule
    driftSchedule: driftSchedule
    eventsEndpoint: events.outputs.endpoint
    requiredAppRole: requiredAppRole
    authClientId: authClientId
  }
}

module alerts 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.name
    namePrefix: 'rotator-${resourceToken}'
    alertEmails: alertEmails
    alertWebhookUrl: alertWebhookUrl
    expiryAlertDays: expiryAlertDays
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    applicationInsightsName: monitoring.outputs.name
    eventsTopicName: events.outputs.name
    rotatorPrincipalId: identity.outputs.principalId
    eventGridPrincipalId: eventGridIdentity.outputs.principalId
  }
}

resource vaults 'Microsoft.KeyVault/vaults@2023-07-01' existing = [
  for vault in keyVaults: {
    name: vault.name
    scope: resourceGroup(vault.?subscriptionId ?? subscription().subscriptionId, vault.?resourceGroup ?? resourceGroup().name)
  }
]

module keyVaultAccess 'app/key-vault.bicep' = [
  for (vault, i) in keyVaults: {
    name: '${resourceToken}-key-vault-${vault.name}'
    scope: resourceGroup(vault.?subscriptionId ?? subscription().subscriptionId, vault.?resourceGroup ?? resourceGroup().name)
    params: {
      keyVaultName: vault.name
      rotatesSecrets: (vault.?access ?? 'rotate') == 'rotate'
      location: vaults[i].location
      systemTopicName: vault.?systemTopicName ?? '${abbrs.eventGridSystemTopics}${vault.name}'
      tags: tags
      rotatorPrincipalId: identity.outputs.principalId
      secretRotatorRoleId: createKeyVaultRole ? keyVaultRole!.outputs.roleDefinitionId : keyVaultRoleDefinitionId
      eventGridIdentityId: eventGridIdentity.outputs.resourceId
      subscribeToEvents: subscribeKeyVaultEvents
      functionAppId: api.outputs.resourceId
      deadLetterStorageAccountId: storage.outputs.resourceId
      deadLetterContainerName: deadLetterContainerName
    }
    // Event Grid must be able to write to the dead-letter container before it subscribes.
    dependsOn: [
      rbac
    ]
  }
]

// The subscription-scope resources, each only when no existing role is given: role
// definitions (not assignments), assignable on the listed vaults or resource groups alone.
module keyVaultRole 'app/key-vault-role.bicep' = if (createKeyVaultRole) {
  name: '${resourceToken}-key-vault-role'
  scope: subscription()
  params: {
    roleName: 'Key Vault secret rotator (${environmentName}-${resourceToken})'
    assignableScopes: rotatedVaultScopes
  }
}

module containerAppsRole 'app/container-apps-role.bicep' = if (createContainerAppsRole) {
  name: '${resourceToken}-container-apps-role'
  scope: subscription()
  params: {
    roleName: 'Container Apps secret rotator (${environmentName}-${resourceToken})'
    assignableScopes: containerAppsScopes
  }
}

module containerAppsAccess 'app/container-apps-access.bicep' = [
  for group in containerAppsResourceGroups: {
    name: '${resourceToken}-container-apps-access'
    scope: resourceGroup(group.?subscriptionId ?? subscription().subscriptionId, group.name)
    params: {
      rotatorPrincipalId: identity.outputs.principalId
      roleDefinitionId: createContainerAppsRole ? containerAppsRole!.outputs.roleDefinitionId : containerAppsRoleDefinitionId
    }
  }
]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_BASE_URL string = 'https://${api.outputs.defaultHostname}'
output ROTATOR_IDENTITY_NAME string = identity.outputs.name
output ROTATOR_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output ROTATOR_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output EVENTS_TOPIC_ENDPOINT string = events.outputs.endpoint
