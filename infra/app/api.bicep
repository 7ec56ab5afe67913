// The Function App: Flex Consumption, Node 22, the rotator's user-assigned identity for
// everything (storage, telemetry, Key Vault, ARM, Event Grid, PostgreSQL).

param name string
param location string = resourceGroup().location
param tags object = {}
param appServicePlanId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param identityId string
param identityClientId string

@description('The credential configuration; stored as inline JSON in ROTATOR_CONFIG.')
param rotatorConfig object
param rotationSchedule string
param driftSchedule string
param eventsEndpoint string
param requiredAppRole string
@description('Client id of the Microsoft Entra app registration that defines requiredAppRole; the audience callers request tokens for.')
param authClientId string

@description('Memory of each instance. 2048 MB is the Flex Consumption default.')
param instanceMemoryMB int = 2048
@description('The rotator is light: Flex Consumption\'s lowest ceiling (40) is plenty.')
param maximumInstanceCount int = 40

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// <app-settings>
// Every app setting of the Function App, here and nowhere else. test/infra-settings.test.ts
// checks the keys against src/config/app-settings.ts (what the code reads) and a short list
// of host settings.
var appSettings = {
  // Read by the code.
  ROTATOR_CONFIG: string(rotatorConfig)
  ROTATOR_SCHEDULE: rotationSchedule
  ROTATOR_DRIFT_SCHEDULE: driftSchedule
  ROTATOR_EVENTS_ENDPOINT: eventsEndpoint
  ROTATOR_EVENTS_KEY: '' // the topic accepts Entra tokens only: the managed identity publishes
  ROTATOR_REQUIRED_APP_ROLE: requiredAppRole
  AZURE_CLIENT_ID: identityClientId
  // Host storage (triggers, the Durable Functions task hub: blobs, queues, tables) through the identity.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  // Telemetry, authenticated with the identity (local authentication is off on the component).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}
// </app-settings>

// With an app role configured, App Service authentication must stand in front: it validates
// the caller's Entra token and is the only writer of x-ms-client-principal, whose role
// claims the API then checks. Without it any caller could send that header.
// https://learn.microsoft.com/azure/app-service/configure-authentication-provider-aad
// The Key Vault event webhook is left to its system key: Event Grid's AzureFunction
// destination signs no Entra token.
var authentication = {
  platform: {
    enabled: true
  }
  globalValidation: {
    requireAuthentication: true
    unauthenticatedClientAction: 'Return401'
    excludedPaths: [
      '/runtime/webhooks/eventgrid'
    ]
  }
  httpSettings: {
    requireHttps: true
  }
  identityProviders: {
    azureActiveDirectory: {
      enabled: true
      registration: {
        clientId: authClientId
        openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
      }
      validation: {
        allowedAudiences: [
          'api://${authClientId}'
          authClientId
        ]
      }
    }
  }
  login: {
    tokenStore: {
      enabled: false
    }
  }
}

module functionApp 'br/public:avm/res/web/site:0.15.1' = {
  name: 'rotator-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        identityId
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    appSettingsKeyValuePairs: appSettings
    authSettingV2Configuration: empty(requiredAppRole) ? null : authentication
  }
}

output name string = functionApp.outputs.name
output resourceId string = functionApp.outputs.resourceId
output defaultHostname string = functionApp.outputs.defaultHostname
