import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCredential } from '../src/config/load';
import { LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';
import { appRef, pushToContainerApp } from '../src/rotation/container-app-consumer';
import { checkDrift, FINDINGS, type FindingCode, type HealthReport } from '../src/rotation/drift';
import { planRepair } from '../src/rotation/drift-repair';
import { TAG } from '../src/rotation/state';

/**
 * The Container Apps part of the drift check, read through the product's ARM adapter from the
 * Container Apps emulator: each app secret references the live version, and each active
 * revision's replicas started after it was rotated. Apps start as users set them up: a
 * versionless reference, replicas started an hour before the live secret was written.
 */

let env: LocalEnvironment;
const credential = (id: string) => findCredential(env.config, id, 'test');
const check = (id: string): Promise<HealthReport> => checkDrift(env.deps, credential(id));
const codes = (r: HealthReport): FindingCode[] => r.findings.map((f) => f.code).sort();
const liveVersion = (id: string) => env.vault.versions(secretNameFor(id)).at(-1)!.version;
const produced = new Set<FindingCode>();

async function restartAll(id: string): Promise<void> {
  const app = appRef(credential(id).consumers.containerApps[0]);
  for (const r of await env.deps.containerApps().activeRevisions('test', app)) await env.deps.containerApps().restartRevision('test', app, r.name);
}

/** Someone edits the app's secrets array through ARM (the portal, az containerapp secret set). */
async function setAppSecrets(id: string, secrets: { name: string; keyVaultUrl?: string; value?: string }[]): Promise<void> {
  const app = appRef(credential(id).consumers.containerApps[0]);
  const config = await env.deps.containerApps().configuration('test', app);
  const identity = config.secrets.find((s) => s.identity)?.identity;
  await env.deps.containerApps().replaceSecrets('test', app, config.location, secrets.map((s) => (s.keyVaultUrl ? { ...s, identity } : s)));
}

function record(report: HealthReport): HealthReport {
  for (const f of report.findings) produced.add(f.code);
  return report;
}

const appsOnly = (app: string, secrets?: { name: string; keyVaultSecret: string }[]) => ({
  consumers: { github: [], containerApps: [{ subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, app, ...(secrets ? { secrets } : { mode: 'restart-only' }) }] },
});

beforeAll(async () => {
  env = await startLocalEnvironment([
    { id: 'app-fresh', role: 'app_fresh', containerApps: [{ app: 'fresh-api' }] },
    { id: 'app-versionless', role: 'app_versionless', containerApps: [{ app: 'versionless-api' }] },
    { id: 'app-old-version', role: 'app_old_version', containerApps: [{ app: 'old-version-api' }] },
    { id: 'app-replicas', role: 'app_replicas', containerApps: [{ app: 'replicas-api' }] },
    { id: 'app-derived', role: 'app_derived', derived: [{ secret: 'app-derived-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}' }], containerApps: [{ app: 'derived-api' }] },
    // The configuration maps a second secret the app does not have.
    {
      id: 'app-plain',
      role: 'app_plain',
      containerApps: [{ app: 'plain-api' }],
      overrides: appsOnly('plain-api', [{ name: 'db-password', keyVaultSecret: secretNameFor('app-plain') }, { name: 'db-password-copy', keyVaultSecret: secretNameFor('app-plain') }]),
    },
    { id: 'app-restart-only', role: 'app_restart_only', containerApps: [{ app: 'restart-only-api', mode: 'restart-only' }] },
    { id: 'app-gone', role: 'app_gone', overrides: appsOnly('gone-api') },
  ]);
}, 120_000);

afterAll(async () => env?.stop());

describe('the drift check compares each Container App with the live version', () => {
  it('when the app secret references the live version and its replicas restarted after it, then there is no finding', async () => {
    await pushToContainerApp(env.deps, credential('app-fresh'), 0, liveVersion('app-fresh'));
    const report = record(await check('app-fresh'));
    expect(report).toMatchObject({ health: 'healthy', findings: [] });
  });

  it('when the app secret is a versionless reference and the replicas are older than the live version, then both are found, each with its fix', async () => {
    const before = record(await check('app-versionless'));
    expect(codes(before)).toEqual(['container-app-reference-stale', 'container-app-replicas-stale']);
    expect(before.health).toBe('drifted');
    const replicas = before.findings.find((f) => f.code === 'container-app-replicas-stale')!;
    expect(replicas).toMatchObject({ severity: 'error', subject: 'versionless-api/versionless-api--r1', target: 'container-app:0' });
    expect(replicas.message).toMatch(/runs 1 of 1 replica\(s\) started before the live version was rotated .*restart its active revisions \(repair: propagate, or rotator propagate app-versionless\)/);
    await restartAll('app-versionless');
    const after = record(await check('app-versionless'));
    expect(after.findings).toEqual([expect.objectContaining({ code: 'container-app-reference-stale', severity: 'error', subject: 'versionless-api:db-password', target: 'container-app:0' })]);
    expect(after.findings[0].message).toMatch(/references app-versionless-password without a version.*point it at the live version and restart \(repair: propagate, or rotator propagate app-versionless\)/);
  });

  it('when the app secret references an older version of the live secret, then container-app-reference-stale names both versions', async () => {
    const old = liveVersion('app-old-version');
    await pushToContainerApp(env.deps, credential('app-old-version'), 0, old);
    env.vault.seed(secretNameFor('app-old-version'), env.initialPasswords.get('app-old-version')!, { tags: { [TAG.role]: 'app_old_version', [TAG.rotatedAt]: new Date().toISOString() }, expiresOn: new Date(Date.now() + 30 * 86_400_000) });
    await restartAll('app-old-version');
    const report = record(await check('app-old-version'));
    expect(codes(report)).toEqual(['container-app-reference-stale']);
    expect(report.findings[0].message).toContain(`references version ${old} of app-old-version-password, not the live version ${liveVersion('app-old-version')}`);
  });

  it('when the app secret references another secret, then container-app-reference-stale says which one it should be', async () => {
    await setAppSecrets('app-replicas', [{ name: 'db-password', keyVaultUrl: `${env.vault.url}/secrets/app-fresh-password/${liveVersion('app-fresh')}` }]);
    const report = record(await check('app-replicas'));
    expect(report.findings.find((f) => f.code === 'container-app-reference-stale')!.message).toContain(`references ${env.vault.url}/secrets/app-fresh-password/${liveVersion('app-fresh')}, not Key Vault secret app-replicas-password of ${env.vault.url}`);
  });

  it('when the app secret references the live version but the replicas started before it, then only container-app-replicas-stale is found', async () => {
    await setAppSecrets('app-replicas', [{ name: 'db-password', keyVaultUrl: `${env.vault.url}/secrets/app-replicas-password/${liveVersion('app-replicas')}` }]);
    const report = record(await check('app-replicas'));
    expect(codes(report)).toEqual(['container-app-replicas-stale']);
    expect(planRepair({ ...credential('app-replicas'), repair: 'propagate' }, report)).toMatchObject({ kind: 'propagate', targets: ['container-app:0'] });
  });

  it('when the app carries a derived secret, then its reference must be the derived version written from the live one', async () => {
    await restartAll('app-derived');
    expect(codes(record(await check('app-derived')))).toEqual(['container-app-reference-stale']);
    const derived = env.vault.versions('app-derived-url').at(-1)!.version;
    await setAppSecrets('app-derived', [{ name: 'database-url', keyVaultUrl: `${env.vault.url}/secrets/app-derived-url/${derived}` }]);
    expect(record(await check('app-derived')).findings).toEqual([]);
  });

  it('when a mapped app secret holds a plain value or is missing, then container-app-not-reference says how to make it a reference, and propagate is not attempted', async () => {
    await setAppSecrets('app-plain', [{ name: 'db-password', value: 'typed-into-the-portal-000000000000' }]);
    await restartAll('app-plain');
    const report = record(await check('app-plain'));
    expect(report.findings.map((f) => [f.code, f.subject])).toEqual([['container-app-not-reference', 'plain-api:db-password'], ['container-app-not-reference', 'plain-api:db-password-copy']]);
    expect(report.findings[0].message).toMatch(/holds a plain value, not a Key Vault reference: make it a Key Vault reference .*--secrets db-password=keyvaultref:https:\/\/.*\/secrets\/app-plain-password,identityref:.*then run rotator propagate app-plain/);
    expect(report.findings[1].message).toContain('has no secret db-password-copy');
    expect(report.findings[0].message).not.toContain('typed-into-the-portal');
    expect(planRepair({ ...credential('app-plain'), repair: 'propagate' }, report)).toMatchObject({ kind: 'none' });
  });

  it('when a restart-only app has replicas older than the live version, then only their age is checked, and a restart clears it', async () => {
    const report = record(await check('app-restart-only'));
    expect(codes(report)).toEqual(['container-app-replicas-stale']);
    await restartAll('app-restart-only');
    expect(record(await check('app-restart-only')).findings).toEqual([]);
  });

  it('when ARM cannot find the app, then check-failed names it and its target', async () => {
    const report = await check('app-gone');
    expect(report.findings).toEqual([expect.objectContaining({ code: 'check-failed', subject: 'container app gone-api', target: 'container-app:0', message: expect.stringContaining('404') })]);
  });

  it('when every test above has run, then each Container App finding code was produced', () => {
    expect(Object.keys(FINDINGS).filter((c) => c.startsWith('container-app-')).sort()).toEqual([...produced].sort());
  });
});
