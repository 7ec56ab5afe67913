import { readSetting } from './config/app-settings';
import { loadConfig } from './config/load';
import { composeDeps } from './composition';
import { RotationError } from './errors';
import type { RotationDeps } from './rotation/deps';
import { managedIdentity } from './targets/identity';

let deps: RotationDeps | undefined;

/** Built on first use, so loading the app registers functions without touching configuration. */
export function productionDeps(): RotationDeps {
  deps ??= composeProduction();
  return deps;
}

export function composeProduction(env: NodeJS.ProcessEnv = process.env): RotationDeps {
  const eventsEndpoint = readSetting('ROTATOR_EVENTS_ENDPOINT', env);
  return composeDeps({
    config: loadConfig(readSetting('ROTATOR_CONFIG', env)),
    credential: managedIdentity(readSetting('AZURE_CLIENT_ID', env)),
    events: eventsEndpoint ? { endpoint: eventsEndpoint, key: readSetting('ROTATOR_EVENTS_KEY', env) } : undefined,
    requiredAppRole: appRoleBehindAuthentication(env),
  });
}

/** The principal header is only App Service authentication's to write; without it, a role check would trust the caller. */
function appRoleBehindAuthentication(env: NodeJS.ProcessEnv): string | undefined {
  const role = readSetting('ROTATOR_REQUIRED_APP_ROLE', env);
  if (role && readSetting('WEBSITE_AUTH_ENABLED', env)?.toLowerCase() !== 'true') {
    throw new RotationError({
      code: 'invalid-config',
      stage: 'config',
      message: `ROTATOR_REQUIRED_APP_ROLE is ${role} but App Service authentication is off (WEBSITE_AUTH_ENABLED is not True), so any caller could send x-ms-client-principal: turn authentication on (the template does with requiredAppRole and authClientId) or clear the role`,
    });
  }
  return role || undefined;
}
