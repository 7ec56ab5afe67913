// Alerts that page someone, and a workbook of the fleet's rotation history, over the
// OpenTelemetry the app sends to Application Insights (src/telemetry/rotation-telemetry.ts:
// metric and attribute names there and here must match; test/infra-monitoring.test.ts checks).
// Metrics land in the customMetrics table with their attributes in customDimensions; spans in
// dependencies (in-process spans), named 'rotation' and 'rotation.<stage>'.

param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string
param namePrefix string

@description('Addresses that receive the alerts by email.')
param alertEmails string[] = []

@secure()
@description('A webhook (a chat connector, an incident tool) that receives the alerts, common alert schema. Empty: none.')
param alertWebhookUrl string = ''

@minValue(1)
@description('Alert when a credential expires within this many days and no rotation is scheduled before it.')
param expiryAlertDays int = 14

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-rotation-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'rotation'
    enabled: true
    emailReceivers: [
      for (address, i) in alertEmails: {
        name: 'email-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: empty(alertWebhookUrl)
      ? []
      : [
          {
            name: 'webhook'
            serviceUri: alertWebhookUrl
            useCommonAlertSchema: true
          }
        ]
  }
}

// One log search alert per condition, split by credential so each one pages separately.
var credential = 'credential = tostring(customDimensions["rotator.credential.id"])'
var alerts = [
  {
    key: 'failed'
    displayName: 'Credential rotation failed'
    description: 'A rotation failed before promote: the credential was restored (compensated) and is still the old one. Read the rotation status or the dashboard for the stage and error.'
    severity: 1
    query: 'customMetrics | where name == "rotator.rotations" and tostring(customDimensions["rotator.outcome"]) == "failed" | summarize failures = sum(valueSum) by ${credential}'
    measure: 'failures'
    aggregation: 'Total'
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    key: 'degraded'
    displayName: 'Credential rotation degraded'
    description: 'A rotation promoted a new password but a consumer (GitHub secret, Container App) did not take it; nothing was retired. Fix the consumer and POST /api/credentials/{id}/propagate.'
    severity: 2
    query: 'customMetrics | where name == "rotator.rotations" and tostring(customDimensions["rotator.outcome"]) == "degraded" | summarize degraded = sum(valueSum) by ${credential}'
    measure: 'degraded'
    aggregation: 'Total'
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    key: 'drifted'
    displayName: 'Credential drifted'
    description: 'The health check found Key Vault, PostgreSQL and the consumers apart (drift findings by code and severity).'
    severity: 2
    query: 'customMetrics | where name == "rotator.drift.findings" | summarize findings = sum(valueSum) by ${credential}'
    measure: 'findings'
    aggregation: 'Total'
    frequency: 'PT15M'
    window: 'PT1H'
  }
  {
    key: 'expiring'
    displayName: 'Credential expiring with no rotation scheduled'
    description: 'The live secret expires within ${expiryAlertDays} days and the daily check will not rotate it before then (no live secret, outside every window, or a failed check).'
    severity: 1
    query: 'customMetrics | where name == "rotator.credential.days_until_expiry" | extend ${credential}, scheduled = tolower(tostring(customDimensions["rotator.rotation.scheduled"])) | summarize arg_max(timestamp, value, scheduled) by credential | where value < ${expiryAlertDays} and scheduled != "true" | project credential, daysLeft = value'
    measure: ''
    aggregation: 'Count'
    frequency: 'PT1H'
    window: 'P1D'
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alerts: {
    name: '${namePrefix}-rotation-${alert.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: alert.displayName
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [applicationInsights.id]
      targetResourceTypes: ['microsoft.insights/components']
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: alert.aggregation
            metricMeasureColumn: empty(alert.measure) ? null : alert.measure
            dimensions: [
              {
                name: 'credential'
                operator: 'Include'
                values: ['*']
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: [actionGroup.id]
      }
    }
  }
]

// The fleet's rotation history: every rotation (span 'rotation') with its outcome, outcomes over time, and stage durations.
var history = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'title'
      content: { json: '# Credential rotation history\nEvery rotation the service ran, from its OpenTelemetry spans and metrics. Failed and degraded rotations also raise alerts.' }
    }
    {
      type: 3
      name: 'outcomes-over-time'
      content: {
        version: 'KqlItem/1.0'
        title: 'Rotations by outcome'
        query: 'customMetrics | where name == "rotator.rotations" | summarize rotations = sum(valueSum) by outcome = tostring(customDimensions["rotator.outcome"]), bin(timestamp, 1d) | render columnchart'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'barchart'
      }
    }
    {
      type: 3
      name: 'rotations'
      content: {
        version: 'KqlItem/1.0'
        title: 'Every rotation'
        query: 'dependencies | where name == "rotation" | project timestamp, credential = tostring(customDimensions["rotator.credential.id"]), outcome = tostring(customDimensions["rotator.outcome"]), reason = tostring(customDimensions["rotator.reason"]), rotation = tostring(customDimensions["rotator.rotation.id"]), role = tostring(customDimensions["rotator.role"]), error = tostring(customDimensions["rotator.error.code"]), duration, operation_Id | order by timestamp desc'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'stage-durations'
      content: {
        version: 'KqlItem/1.0'
        title: 'Stage duration (ms) and attempts'
        query: 'dependencies | where name startswith "rotation." | extend stage = tostring(customDimensions["rotator.stage"]), attempts = toint(customDimensions["rotator.attempts"]) | summarize runs = count(), p50 = percentile(duration, 50), p95 = percentile(duration, 95), maxAttempts = max(attempts), failed = countif(tostring(customDimensions["rotator.outcome"]) == "failed") by stage'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
    }
    {
      type: 3
      name: 'consumer-failures'
      content: {
        version: 'KqlItem/1.0'
        title: 'Consumer failures'
        query: 'customMetrics | where name == "rotator.consumer.failures" | summarize failures = sum(valueSum) by credential = tostring(customDimensions["rotator.credential.id"]), kind = tostring(customDimensions["rotator.consumer.kind"]), code = tostring(customDimensions["rotator.error.code"])'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
    }
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'credential-rotation-history')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Credential rotation history'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string(history)
  }
}

output actionGroupId string = actionGroup.id
output alertRuleNames string[] = [for (alert, i) in alerts: rules[i].name]
output workbookId string = workbook.id
