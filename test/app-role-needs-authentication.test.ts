import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeProduction } from '../src/production';
import { INFRA, matchingBrace } from './support/bicep';

const config = join(__dirname, '..', 'rotation.example.yaml');

function bicepObject(text: string, declaration: string): string {
  const open = text.indexOf('{', text.indexOf(declaration));
  return text.slice(open, matchingBrace(text, open) + 1);
}

describe('an app role is only checked behind App Service authentication', () => {
  it('when a role is configured and App Service authentication is off or unknown, then start-up refuses, naming both settings', () => {
    for (const auth of [undefined, '', 'False', 'false']) {
      expect(() => composeProduction({ ROTATOR_CONFIG: config, ROTATOR_REQUIRED_APP_ROLE: 'Rotation.Operator', WEBSITE_AUTH_ENABLED: auth })).toThrow(
        /config: ROTATOR_REQUIRED_APP_ROLE is Rotation\.Operator but App Service authentication is off \(WEBSITE_AUTH_ENABLED is not True\)/,
      );
    }
  });

  it('when a role is configured behind App Service authentication, or no role at all, then start-up goes on with that role', () => {
    expect(composeProduction({ ROTATOR_CONFIG: config, ROTATOR_REQUIRED_APP_ROLE: 'Rotation.Operator', WEBSITE_AUTH_ENABLED: 'True' }).requiredAppRole).toBe('Rotation.Operator');
    expect(composeProduction({ ROTATOR_CONFIG: config }).requiredAppRole).toBeUndefined();
  });

  it('when the Bicep gets a role, then the site requires Entra authentication for its registration, answering 401, with only the Event Grid webhook left to its key', () => {
    const api = readFileSync(join(INFRA, 'app', 'api.bicep'), 'utf8');
    expect(api).toMatch(/\n\s*authSettingV2Configuration: empty\(requiredAppRole\) \? null : authentication\n/);
    const auth = bicepObject(api, 'var authentication =');
    expect(auth).toMatch(/platform: \{\s*enabled: true\s*\}/);
    expect(auth).toMatch(/requireAuthentication: true\s*\n\s*unauthenticatedClientAction: 'Return401'/);
    expect(auth).toMatch(/excludedPaths: \[\s*'\/runtime\/webhooks\/eventgrid'\s*\]/);
    const entra = bicepObject(auth, 'azureActiveDirectory:');
    expect(entra).toMatch(/enabled: true/);
    expect(entra).toMatch(/clientId: authClientId/);
    expect(entra).toMatch(/openIdIssuer: '\$\{environment\(\)\.authentication\.loginEndpoint\}\$\{tenant\(\)\.tenantId\}\/v2\.0'/);
    expect(entra).toMatch(/allowedAudiences: \[\s*'api:\/\/\$\{authClientId\}'\s*authClientId\s*\]/);
    const main = readFileSync(join(INFRA, 'main.bicep'), 'utf8');
    expect(bicepObject(main, "module api 'app/api.bicep'")).toMatch(/requiredAppRole: requiredAppRole\s*\n\s*authClientId: authClientId/);
    expect(bicepObject(api, 'var appSettings =')).not.toContain('WEBSITE_AUTH_ENABLED');
  });
});
