import { AzureKeyCredential } from '@azure/core-auth';
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackAzureOptions, loopbackFetch } from '../src/local/loopback-clients';
import { LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, vaultResourceId } from '../src/local/environment';
import type { DurableHost } from '../src/local/durable-host';
import { allPassed, preflight, type PreflightRow } from '../src/rotation/preflight';
import { CONTAINER_APPS_ACTIONS } from '../src/targets/arm-actions';
import { KEY_VAULT_SECRET_ACCESS } from '../src/targets/key-vault-actions';
import { LifecycleEvents } from '../src/targets/event-grid';
import { startHarness, type Harness } from './support/harness';

/**
 * Preflight against the local environment: everything passes as the environment is made;
 * with permissions removed on purpose in every system at once, one run lists each missing
 * one with its fix, and changes nothing.
 */

let h: Harness;
let host: DurableHost;
const failed = (rows: PreflightRow[]) => rows.filter((r) => !r.ok).map((r) => `${r.area}: ${r.check}`);

function request(method: 'GET' | 'POST', path: string) {
  return new HttpRequest({ method, url: `http://localhost/api/${path}` });
}

async function asSuperuser(sql: string): Promise<void> {
  const client = await h.env.postgres.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  h = await startHarness([
    { id: 'ready', role: 'ready_app', github: [{ repo: 'acme/ready', secret: 'DB_PASSWORD' }], containerApps: [{ app: 'ready-api' }] },
    { id: 'second', role: 'second_app' },
  ]);
  host = h.newHost();
}, 120_000);

afterAll(async () => h?.stop());

describe('preflight checks every permission without changing anything', () => {
  it('when the environment is as deployed, then every check passes and the API answers 200', async () => {
    const rows = await preflight(h.env.deps, h.env.config.credentials);
    expect(failed(rows)).toEqual([]);
    expect(rows.map((r) => `${r.area}: ${r.check}`)).toEqual(expect.arrayContaining([
      'Key Vault: secrets get', 'Key Vault: secrets list', 'Key Vault: secrets set', 'Key Vault: secrets delete', 'Key Vault: secrets recover',
      'Key Vault: live secret ready-password readable', 'PostgreSQL: admin login credential_rotator', 'PostgreSQL: server version', 'PostgreSQL: SCRAM-SHA-256 accepted',
      'PostgreSQL: role ready_app', 'PostgreSQL: rotator may set the password of ready_app', "PostgreSQL: role ready_app on the rotator's allow-list", 'GitHub: public key of acme/ready',
      'Container Apps: ready-api readable', 'Container Apps: ready-api secret db-password references ready-password', 'Container Apps: ready-api actions granted', 'Event Grid: lifecycle topic reachable',
    ]));
    const response = await host.invokeHttp('rotationApiPreflight', request('POST', 'credentials/ready/preflight'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ credentialId: 'ready', passed: true });
  });

  it('when permissions are removed in every system, then one run lists every missing one with its fix, and nothing changed', async () => {
    // Container Apps: someone replaced the app's Key Vault reference with a value typed into the portal.
    const app = { subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, app: 'ready-api' };
    const { location } = await h.env.deps.containerApps().configuration('test', app);
    await h.env.deps.containerApps().replaceSecrets('test', app, location, [{ name: 'db-password', value: 'typed-into-the-portal-000000000000' }]);
    const requestsBefore = h.env.vault.requests.filter((r) => r.method !== 'GET').length;
    // ARM: no revision restart, and Key Vault without delete and recover.
    h.env.containerApps.addPrincipal({ token: h.env.serviceToken, actions: CONTAINER_APPS_ACTIONS.filter((a) => !a.endsWith('restart/action')), dataActions: [...KEY_VAULT_SECRET_ACCESS.get, ...KEY_VAULT_SECRET_ACCESS.list, ...KEY_VAULT_SECRET_ACCESS.set] });
    // GitHub: a token for another repository only.
    h.env.vault.seed('github-token', 'ghs_another_repository_only_000000');
    h.env.github.addToken({ token: 'ghs_another_repository_only_000000', repos: ['acme/elsewhere'] });
    // PostgreSQL: the functions' owner has no ADMIN OPTION on one role, the role itself cannot log in, and it is off the allow-list.
    await asSuperuser(`REVOKE ADMIN OPTION FOR second_app FROM credential_rotation_admin; ALTER ROLE second_app NOLOGIN; DELETE FROM credential_rotation.managed_role WHERE role_name = 'second_app'`);
    const deps = { ...h.env.deps, events: new LifecycleEvents({ endpoint: h.env.events.endpoint, credential: new AzureKeyCredential(Buffer.from('not-the-topic-key').toString('base64')), clientOptions: loopbackAzureOptions(h.env.vault.ca) }) };
    const rows = await preflight(deps, h.env.config.credentials);
    expect(failed(rows).sort()).toEqual([
      'Container Apps: ready-api actions granted',
      'Container Apps: ready-api secret db-password references ready-password',
      'Event Grid: lifecycle topic reachable',
      'GitHub: public key of acme/ready',
      'Key Vault: secrets delete',
      'Key Vault: secrets delete',
      'Key Vault: secrets recover',
      'Key Vault: secrets recover',
      'PostgreSQL: role second_app',
      "PostgreSQL: role second_app on the rotator's allow-list",
      'PostgreSQL: rotator may set the password of second_app',
    ].sort());
    expect(allPassed(rows)).toBe(false);
    const byCheck = (area: string, check: string) => rows.find((r) => r.area === area && r.check === check && !r.ok)!;
    expect(byCheck('Key Vault', 'secrets delete')).toMatchObject({ detail: 'not granted: Microsoft.KeyVault/vaults/secrets/delete', fix: expect.stringContaining('key-vault-role.bicep') });
    expect(byCheck('Container Apps', 'ready-api actions granted').detail).toBe('not granted: Microsoft.App/containerApps/revisions/restart/action');
    expect(byCheck('Container Apps', 'ready-api secret db-password references ready-password')).toMatchObject({
      detail: 'holds a plain value, not a Key Vault reference',
      fix: `az containerapp secret set --name ready-api --resource-group ${LOCAL_RESOURCE_GROUP} --secrets db-password=keyvaultref:${h.env.vault.url}/secrets/ready-password,identityref:<identity resource id, or system>`,
    });
    expect(JSON.stringify(rows)).not.toContain('typed-into-the-portal');
    expect(byCheck('PostgreSQL', 'rotator may set the password of second_app')).toMatchObject({ detail: "the functions' owner may not alter the role", fix: expect.stringContaining('20-single-user.sql') });
    expect(byCheck('PostgreSQL', "role second_app on the rotator's allow-list")).toMatchObject({
      detail: 'not listed: the password functions refuse it',
      fix: 'as the administrator, run psql "<admin connection>" -v ON_ERROR_STOP=1 -v managed_role=second_app -f infra/postgres/20-single-user.sql',
    });
    expect(byCheck('GitHub', 'public key of acme/ready').detail).toContain('403');
    expect(byCheck('Event Grid', 'lifecycle topic reachable').detail).toContain('401');
    // Read-only: the vault saw no write, PostgreSQL still holds the revoked state, nothing was published.
    expect(h.env.vault.requests.filter((r) => r.method !== 'GET').length).toBe(requestsBefore);
    expect(h.env.events.events()).toEqual([]);
  });

  it('when the server was bootstrapped before is_allowed existed, or the rotator may not execute it, then preflight says so and which script adds it, and checks the rest', async () => {
    const credential = h.env.config.credentials[0];
    const allowList = async () => (await preflight(h.env.deps, [credential], { events: false })).filter((r) => r.area === 'PostgreSQL');
    await asSuperuser('REVOKE EXECUTE ON FUNCTION credential_rotation.is_allowed(text) FROM credential_rotator');
    const revoked = await allowList();
    expect(revoked.filter((r) => !r.ok)).toEqual([expect.objectContaining({ check: "rotator's allow-list readable", detail: 'the rotator may not execute credential_rotation.is_allowed(text)' })]);
    await asSuperuser('DROP FUNCTION credential_rotation.is_allowed(text)');
    const old = await allowList();
    expect(old.filter((r) => !r.ok)).toEqual([expect.objectContaining({
      check: "rotator's allow-list readable",
      detail: 'function credential_rotation.is_allowed(text) does not exist: the server was bootstrapped with a 10-rotator.sql older than it',
      fix: expect.stringContaining('-v rotator_role=credential_rotator -f infra/postgres/10-rotator.sql'),
    })]);
    expect(old.filter((r) => r.ok).map((r) => r.check)).toEqual(expect.arrayContaining(['role ready_app', 'rotator may set the password of ready_app']));
  });

  it('when a vault has no resource id configured, then preflight says where to find it instead of guessing', async () => {
    const credential = { ...h.env.config.credentials[1], keyVault: { ...h.env.config.credentials[1].keyVault, resourceId: undefined } };
    const deps = { ...h.env.deps, config: { ...h.env.config, credentials: [credential] } };
    const rows = await preflight(deps, [credential], { events: false });
    expect(rows.filter((r) => !r.ok && r.area === 'Key Vault')).toEqual([expect.objectContaining({ check: expect.stringContaining('permissions on'), fix: expect.stringContaining('az keyvault show') })]);
  });
});

describe('the ARM permissions emulator', () => {
  it('when asked for permissions, then it answers as Permissions_ListForResource does, and refuses what ARM refuses', async () => {
    const get = loopbackFetch(h.env.vault.ca);
    const url = (scope: string, version = '2022-04-01') => `${h.env.containerApps.url}${scope}/providers/Microsoft.Authorization/permissions?api-version=${version}`;
    const auth = { authorization: `Bearer ${h.env.serviceToken}` };
    const vault = vaultResourceId(h.env.vault);
    const ok = await get(url(vault), { headers: auth });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ value: [expect.objectContaining({ actions: expect.any(Array), notActions: [], dataActions: expect.any(Array), notDataActions: [] })] });
    expect((await get(url(vault), {})).status).toBe(401);
    expect((await get(url(vault, '2015-07-01'), { headers: auth })).status).toBe(400);
    expect((await get(url(`/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/${LOCAL_RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/unknown`), { headers: auth })).status).toBe(404);
  });
});
