import { app } from '@azure/functions';
import { registerApp } from './app';
import { readSetting } from './config/app-settings';
import { productionDeps } from './production';
import { managedIdentity } from './targets/identity';
import { startAzureMonitor } from './telemetry/azure-monitor';

registerApp(productionDeps);

// A broken configuration stops the app at start-up with the field named, not at the first rotation.
app.hook.appStart(async () => {
  productionDeps();
  await startAzureMonitor({ connectionString: readSetting('APPLICATIONINSIGHTS_CONNECTION_STRING'), credential: managedIdentity(readSetting('AZURE_CLIENT_ID')) });
});
