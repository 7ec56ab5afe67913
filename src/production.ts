import { readSetting } from './config/app-settings';
import { loadConfig } from './config/load';
import { composeDeps } from './composition';
import type { RotationDeps } from './rotation/deps';
import { managedIdentity } from './targets/identity';

let deps: RotationDeps | undefined;

/** Built on first use, so loading the app registers functions without touching configuration. */
export function productionDeps(): RotationDeps {
  deps ??= compose();
  return deps;
}

function compose(): RotationDeps {
  const eventsEndpoint = readSetting('ROTATOR_EVENTS_ENDPOINT');
  return composeDeps({
    config: loadConfig(readSetting('ROTATOR_CONFIG')),
    credential: managedIdentity(readSetting('AZURE_CLIENT_ID')),
    events: eventsEndpoint ? { endpoint: eventsEndpoint, key: readSetting('ROTATOR_EVENTS_KEY') } : undefined,
    requiredAppRole: readSetting('ROTATOR_REQUIRED_APP_ROLE'),
  });
}
