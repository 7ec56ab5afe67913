import type { ContainerAppsAPIClient } from '@azure/arm-appcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerAppsEmulator, type SecretInput } from '../src/local/emulators/container-apps';
import { loopbackContainerAppsClient } from '../src/local/emulators/container-apps-client';
import { KeyVaultEmulator } from '../src/local/emulators/key-vault';
import { StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'rg-secrets';
const MINUTE = 60_000;
const ACTIVATION_MS = 10_000;
const IDENTITY = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-app`;

let now = Date.parse('2026-05-01T10:00:00Z');
let vault: KeyVaultEmulator;
let arm: ContainerAppsEmulator;
let client: ContainerAppsAPIClient;
let writer: ContainerAppsAPIClient;
const v: Record<string, string> = {};

const versionless = (name: string) => `${vault.url}/secrets/${name}`;
const versioned = (name: string, version: string) => `${vault.url}/secrets/${name}/${version}`;

beforeAll(async () => {
  vault = await new KeyVaultEmulator({ now: () => now }).start();
  v.first = vault.seed('db-password', 'first-password-0123456789');
  v.url = vault.seed('db-url', 'postgresql://u:first@db/app');
  arm = await new ContainerAppsEmulator({
    clock: () => now,
    activationMs: ACTIVATION_MS,
    keyVaults: [vault],
    tokens: ['arm-token', { token: 'reader-token', actions: ['Microsoft.App/containerApps/read'] }],
    apps: [
      {
        subscriptionId: SUB,
        resourceGroup: RG,
        name: 'web',
        secrets: [
          { name: 'db-password', keyVaultUrl: versionless('db-password'), identity: IDENTITY },
          { name: 'registry-password', value: 'registry-value-0123456789' },
        ],
        revisions: [{ name: 'web--env', replicas: 2, env: [{ name: 'DB_PASSWORD', secretRef: 'db-password' }] }],
      },
      {
        subscriptionId: SUB,
        resourceGroup: RG,
        name: 'files',
        activeRevisionsMode: 'Multiple',
        secrets: [{ name: 'db-password', keyVaultUrl: versionless('db-password'), identity: IDENTITY }],
        revisions: [
          { name: 'files--vol', secretVolumes: [{ name: 'secrets', mountPath: '/mnt/secrets' }] },
          { name: 'files--env', env: [{ name: 'DB_PASSWORD', secretRef: 'db-password' }] },
        ],
      },
    ],
  }).start();
  const { ca } = await loopbackCertificate();
  client = loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('arm-token'), SUB);
  writer = client;
});

afterAll(async () => {
  await arm.stop();
  await vault.stop();
});

function startedWith(app: string, revision?: string): (string | undefined)[] {
  return arm.replicas(app, revision).map((r) => r.secrets['db-password']?.version);
}

describe('app secrets are write-only', () => {
  it('when the app is read, then references show URL and identity and no secret shows a value', async () => {
    const app = await client.containerApps.get(RG, 'web');
    expect(app.configuration?.secrets).toEqual([
      { name: 'db-password', keyVaultUrl: versionless('db-password'), identity: IDENTITY, value: undefined },
      { name: 'registry-password', keyVaultUrl: undefined, identity: undefined, value: undefined },
    ]);
    expect(arm.requests.at(-1)?.rawBody).toBe('');
  });

  it('when listSecrets is called, then the value secret comes back with its value, the reference without one', async () => {
    const listed = await client.containerApps.listSecrets(RG, 'web');
    expect(listed.value).toEqual([
      { name: 'db-password', keyVaultUrl: versionless('db-password'), identity: IDENTITY, value: undefined },
      { name: 'registry-password', value: 'registry-value-0123456789', keyVaultUrl: undefined, identity: undefined },
    ]);
  });

  it('when the principal lacks listSecrets or write, then ARM answers 403 naming the action', async () => {
    const { ca } = await loopbackCertificate();
    const reader = loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('reader-token'), SUB);
    await expect(reader.containerApps.listSecrets(RG, 'web')).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining('Microsoft.App/containerApps/listSecrets/action') });
    await expect(reader.containerApps.update(RG, 'web', { location: 'West Europe', configuration: { secrets: [] } })).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining('Microsoft.App/containerApps/write') });
  });
});

describe('replicas start with the version the platform holds', () => {
  it('when an app references a versionless URL, then every replica started with the latest version', () => {
    expect(startedWith('web')).toEqual([v.first, v.first]);
    expect(arm.appSecrets('web')[0]).toMatchObject({ kind: 'key-vault', version: v.first });
    expect(arm.replicas('files').map((r) => [r.revision, r.secrets['db-password'].via])).toEqual([
      ['files--vol', ['volume']],
      ['files--env', ['env']],
    ]);
  });

  it('when Key Vault gets a new version, then a restart within the 30-minute cache still starts the old one', async () => {
    now += MINUTE;
    v.second = vault.seed('db-password', 'second-password-0123456789');
    await client.containerAppsRevisions.restartRevision(RG, 'web', 'web--env');
    expect(startedWith('web')).toEqual([v.first, v.first]);
    expect(arm.replicas('web')[0].secrets['db-password'].value).toBe('first-password-0123456789');
  });

  it('when the platform syncs at 30 minutes, then env-var revisions restart with the new version and volume-only revisions do not', async () => {
    now = arm.replicas('files')[0].createdTime.getTime() + 3600_000 + 30 * MINUTE + 1;
    const platform = arm.restarts().filter((r) => r.by === 'platform');
    expect(platform.map((r) => r.revision).sort()).toEqual(['files--env', 'web--env']);
    expect(startedWith('web')).toEqual([v.second, v.second]);
    expect(startedWith('files', 'files--env')).toEqual([v.second]);
    expect(startedWith('files', 'files--vol')).toEqual([v.first]);
    const revision = await client.containerAppsRevisions.getRevision(RG, 'web', 'web--env');
    expect(revision.runningState).toBe('Activating');
  });

  it('when a volume-only revision is restarted after the sync, then it reads the refreshed version', async () => {
    await client.containerAppsRevisions.restartRevision(RG, 'files', 'files--vol');
    expect(startedWith('files', 'files--vol')).toEqual([v.second]);
  });
});

describe('writing the secrets array', () => {
  it('when PATCH points the reference at a version, then the array is replaced whole and the next replicas start with that version', async () => {
    const updated = await writer.containerApps.update(RG, 'web', {
      location: 'West Europe',
      configuration: { secrets: [{ name: 'db-password', keyVaultUrl: versioned('db-password', v.first), identity: IDENTITY }, { name: 'registry-password', value: 'registry-value-0123456789' }] },
    });
    expect(updated.systemData?.lastModifiedAt?.getTime()).toBe(now);
    expect(startedWith('web')).toEqual([v.second, v.second]);
    await client.containerAppsRevisions.restartRevision(RG, 'web', 'web--env');
    expect(startedWith('web')).toEqual([v.first, v.first]);
    expect(arm.restarts('web').filter((r) => r.at.getTime() === now)).toHaveLength(1);
  });

  it('when a PATCH leaves a value secret out, then it is gone: the array is not merged', async () => {
    await writer.containerApps.update(RG, 'web', { location: 'West Europe', configuration: { secrets: [{ name: 'db-password', keyVaultUrl: versioned('db-password', v.second), identity: IDENTITY }] } });
    expect(arm.appSecrets('web').map((s) => s.name)).toEqual(['db-password']);
  });

  it('when a versioned URL is pinned, then a later platform sync changes nothing', async () => {
    now += 2 * 30 * MINUTE;
    vault.seed('db-password', 'third-password-0123456789');
    now += 30 * MINUTE;
    expect(arm.appSecrets('web')[0].version).toBe(v.second);
  });

  it.each([
    ['both a value and a reference', [{ name: 'db-password', value: 'x', keyVaultUrl: '/secrets/db-password', identity: IDENTITY }], 'ContainerAppSecretInvalid'],
    ['a reference without identity', [{ name: 'db-password', keyVaultUrl: '/secrets/db-password' }], 'ContainerAppSecretInvalid'],
    ['a URL that is not a secret URI', [{ name: 'db-password', keyVaultUrl: '/keys/db-password', identity: IDENTITY }], 'ContainerAppSecretKeyVaultUrlInvalid'],
    ['a version Key Vault does not have', [{ name: 'db-password', keyVaultUrl: `/secrets/db-password/${'0'.repeat(32)}`, identity: IDENTITY }], 'ContainerAppSecretKeyVaultUrlInvalid'],
    ['an upper-case name', [{ name: 'DB', value: 'x' }, { name: 'db-password', value: 'x' }], 'ContainerAppSecretInvalidName'],
    ['no longer the secret an active revision reads', [{ name: 'other', value: 'x' }], 'ContainerAppSecretInUse'],
  ] as [string, SecretInput[], string][])('when the secrets hold %s, then ARM answers 400 and changes nothing', async (_what, secrets, code) => {
    // The table is built before the vault starts: its URLs are paths on the vault.
    const body = secrets.map((s) => ({ ...s, keyVaultUrl: s.keyVaultUrl && `${vault.url}${s.keyVaultUrl}` }));
    const before = arm.appSecrets('web');
    await expect(writer.containerApps.update(RG, 'web', { location: 'West Europe', configuration: { secrets: body } })).rejects.toMatchObject({ statusCode: 400, code });
    expect(arm.appSecrets('web')).toEqual(before);
  });

  it('when a PUT omits the secrets, then it means none, and an app whose revision reads one refuses it', async () => {
    await expect(writer.containerApps.createOrUpdate(RG, 'web', { location: 'West Europe', configuration: { activeRevisionsMode: 'Single' } })).rejects.toMatchObject({ statusCode: 400, code: 'ContainerAppSecretInUse' });
  });
});
