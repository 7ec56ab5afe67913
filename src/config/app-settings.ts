/**
 * Every app setting the code reads, with its meaning and default. The single source for
 * the README's settings table and for the infrastructure drift test: code reads settings
 * only through `readSetting`, never `process.env` directly.
 */
export const APP_SETTINGS = {
  ROTATOR_CONFIG: {
    description: 'The credential configuration: a file path (YAML or JSON) or inline JSON.',
    default: undefined,
  },
  ROTATOR_SCHEDULE: {
    description: 'NCRONTAB schedule of the due-check and janitor timer.',
    default: '0 0 3 * * *',
  },
  ROTATOR_DRIFT_SCHEDULE: {
    description: 'NCRONTAB schedule of the drift check (driftCheck timer).',
    default: '0 0 */6 * * *',
  },
  ROTATOR_EVENTS_ENDPOINT: {
    description: 'Event Grid custom topic endpoint for lifecycle events; empty disables publishing.',
    default: '',
  },
  ROTATOR_EVENTS_KEY: {
    description: 'Access key of the custom topic; empty means the managed identity is used.',
    default: '',
  },
  ROTATOR_REQUIRED_APP_ROLE: {
    description: 'App role the App Service authentication principal must hold to call the HTTP API; empty turns the check off.',
    default: '',
  },
  WEBSITE_AUTH_ENABLED: {
    description: 'Set by App Service: True when App Service authentication is on. With ROTATOR_REQUIRED_APP_ROLE set the app refuses to start unless it is.',
    default: undefined,
    setByPlatform: true,
  },
  APPLICATIONINSIGHTS_CONNECTION_STRING: {
    description: 'Application Insights connection string; when set, rotation spans and metrics are exported there (OpenTelemetry, signed in as the managed identity). Empty: no exporter is loaded.',
    default: '',
  },
  AZURE_CLIENT_ID: {
    description: 'Client id of the user-assigned managed identity the service authenticates as.',
    default: '',
  },
} as const;

export type AppSettingName = keyof typeof APP_SETTINGS;

export function readSetting(name: AppSettingName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  return APP_SETTINGS[name].default;
}
