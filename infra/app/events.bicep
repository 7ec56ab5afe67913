// The custom topic for the rotation lifecycle events (CloudEvents 1.0: started, succeeded,
// failed, degraded, retired). Keys are disabled: publishers sign in with Microsoft Entra,
// and the rotator's identity gets EventGrid Data Sender on this topic only (rbac.bicep).

param name string
param location string = resourceGroup().location
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

output name string = topic.name
output endpoint string = topic.properties.endpoint
