import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = join(__dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Workflow {
  jobs: { deploy: { env: Record<string, string>; steps: { name?: string; run?: string; shell?: string }[] } };
}

const workflow = parseYaml(read('.github/workflows/deploy.yml')) as Workflow;
const REQUIRED = { AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't', AZURE_SUBSCRIPTION_ID: 's', AZURE_ENV_NAME: 'rotator-prod', AZURE_LOCATION: 'swedencentral', AZURE_RESOURCE_GROUP: 'rg', ROTATOR_CONFIG: '{"credentials":[]}' };

/**
 * GitHub evaluates `${{ vars.NAME }}` to '' for a variable that is not set, and `a || 'b'`
 * to b when a is ''. Only those two forms are modelled; anything else fails the test.
 */
function jobEnv(vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(workflow.jobs.deploy.env).map(([name, value]) => {
      const match = /^\$\{\{\s*vars\.(\w+)(?:\s*\|\|\s*'([^']*)')?\s*\}\}$/.exec(value);
      if (!match) throw new Error(`deploy.yml env ${name}: unmodelled expression ${value}`);
      return [name, vars[match[1]] || (match[2] ?? '')];
    }),
  );
}

/**
 * azd's reading of main.parameters.json (Azure/azure-dev, bicep_provider.go, loadParameters):
 * `${VAR}` (with envsubst's defaults) is substituted; an array or object parameter whose value
 * comes out empty because the variable is not set is left out (its Bicep default applies);
 * any other value must parse as JSON of the parameter's type.
 */
function azdParameters(env: Record<string, string>): Record<string, unknown> {
  const types = Object.fromEntries([...read('infra/main.bicep').matchAll(/^param (\w+) (\S+)/gm)].map((m) => [m[1], m[2]]));
  const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
  const resolved: Record<string, unknown> = {};
  for (const [name, { value }] of Object.entries(file.parameters)) {
    let unset = false;
    // drone/envsubst: `${V=d}` and `${V-d}` give d when V is not set; `${V:=d}`, `${V:-d}` also when it is empty.
    const replaced = value.replace(/\$\{(\w+)(?:(:?)[-=]([^}]*))?\}/g, (_, variable: string, orEmpty?: string, fallback?: string) => {
      const set = variable in env;
      if (!set) unset = true;
      if (fallback !== undefined && (!set || (orEmpty === ':' && env[variable] === ''))) return fallback;
      return env[variable] ?? '';
    });
    const type = types[name];
    if (type !== 'object' && !type.endsWith('[]')) {
      if (replaced !== '' || !unset) resolved[name] = replaced;
      continue;
    }
    if (replaced === '' && unset) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(replaced);
    } catch {
      throw new Error(`substituting parameter '${name}' (${type}): value '${replaced}' is not valid JSON`);
    }
    if (type === 'object' ? typeof parsed !== 'object' || Array.isArray(parsed) : !Array.isArray(parsed)) throw new Error(`parameter '${name}' is not a ${type}`);
    resolved[name] = parsed;
  }
  return resolved;
}

function checkStep(env: Record<string, string>) {
  const step = workflow.jobs.deploy.steps.find((s) => s.name === 'Check the repository variables');
  expect(step?.shell).toBe('bash');
  return spawnSync('bash', ['-e', '-c', step!.run!], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
}

describe('the deploy workflow', () => {
  it('when the optional repository variables are unset, then azd reads every array parameter as empty and provisioning can start', () => {
    const env = jobEnv(REQUIRED);

    const parameters = azdParameters({ ...env, AZURE_ENV_NAME: REQUIRED.AZURE_ENV_NAME });

    expect(parameters.keyVaults).toEqual([]);
    expect(parameters.containerAppsResourceGroups).toEqual([]);
    expect(parameters.rotatorConfig).toEqual({ credentials: [] });
  });

  it('when the optional variables are set, then their values reach the parameters unchanged', () => {
    const vaults = [{ name: 'ctxecokv', resourceGroup: 'ctxEco-rg' }];
    const env = jobEnv({ ...REQUIRED, KEY_VAULTS: JSON.stringify(vaults), CONTAINER_APPS_RESOURCE_GROUPS: '[{"name":"apps"}]' });

    const parameters = azdParameters(env);

    expect(parameters.keyVaults).toEqual(vaults);
    expect(parameters.containerAppsResourceGroups).toEqual([{ name: 'apps' }]);
  });

  it('when a required variable is missing, then the first step stops naming it; with all of them set, it passes', () => {
    const { ROTATOR_CONFIG: _config, AZURE_LOCATION: _location, ...rest } = REQUIRED;
    const refused = checkStep(jobEnv(rest));
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain('set the repository variables AZURE_LOCATION ROTATOR_CONFIG');

    expect(checkStep(jobEnv(REQUIRED)).status).toBe(0);
  });
});
