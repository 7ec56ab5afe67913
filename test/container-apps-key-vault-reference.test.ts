import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, secretNameFor } from '../src/local/environment';
import type { RotationDeps } from '../src/rotation/deps';
import { startHarness, type Harness } from './support/harness';

const URL_TEMPLATE = 'postgresql://{user}:{password}@{host}:{port}/{database}';
const REGISTRY_PASSWORD = 'registry-password-not-rotated-0123';

/**
 * Apps that take the password through a Key Vault reference (an app secret with keyVaultUrl
 * and identity), read by env or by a secret volume. The platform caches the referenced
 * value, so only pointing the reference at the new version and restarting gets it to them.
 */
describe('Container Apps with Key Vault references run the new value after confirm', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'kv-env-db', role: 'kvenv', containerApps: [{ app: 'kv-env', revisions: [{ name: 'kv-env--r1', replicas: 3 }] }] },
      { id: 'kv-vol-db', role: 'kvvol', containerApps: [{ app: 'kv-vol', via: 'volume' }] },
      {
        id: 'kv-alt-db',
        role: 'kvalt',
        strategy: 'alternating-users',
        derived: [{ secret: 'kv-alt-db-url', template: URL_TEMPLATE }],
        containerApps: [{ app: 'alt-env', revisions: [{ name: 'alt-env--r1', replicas: 2 }] }, { app: 'alt-vol', via: 'volume' }],
      },
      {
        id: 'kv-alt-stuck-db',
        role: 'kvstuck',
        strategy: 'alternating-users',
        derived: [{ secret: 'kv-alt-stuck-db-url', template: URL_TEMPLATE }],
        containerApps: [{ app: 'stuck-ok' }, { app: 'stuck-slow', revisions: [{ name: 'stuck-slow--r1', activationMs: 10 * 3_600_000 }] }],
      },
      { id: 'kv-mixed-db', role: 'kvmixed', containerApps: [{ app: 'mixed' }] },
      { id: 'kv-plain-db', role: 'kvplain', containerApps: [{ app: 'plain' }] },
      { id: 'kv-legacy-db', role: 'kvlegacy', containerApps: [{ app: 'legacy', mode: 'restart-only', secrets: [{ name: 'db-password', keyVaultSecret: secretNameFor('kv-legacy-db') }] }] },
    ]);
  });
  afterAll(() => h?.stop());

  const live = (id: string) => h.env.vault.versions(secretNameFor(id)).at(-1)!;
  const replicaValues = (app: string, secret: string) => h.env.containerApps.replicas(app).map((r) => r.secrets[secret]);
  const loginWithUrl = (url: string) => {
    const parsed = new URL(url);
    return h.login(decodeURIComponent(parsed.username), decodeURIComponent(parsed.password));
  };

  it.each([
    ['an environment variable', 'kv-env-db', 'kv-env', 'kvenv', 3],
    ['a secret volume', 'kv-vol-db', 'kv-vol', 'kvvol', 1],
  ])('when the app reads the password through %s, then after confirm every replica runs the live version and logs in', async (_via, id, app, role, replicas) => {
    const before = live(id);
    const result = await h.rotate(h.newHost(), id);
    const now = live(id);
    expect(result.custom.outcome).toBe('succeeded');
    expect(now.version).not.toBe(before.version);
    expect(h.env.containerApps.appSecrets(app)).toEqual([expect.objectContaining({ name: 'db-password', keyVaultUrl: `${h.env.vault.url}/secrets/${secretNameFor(id)}/${now.version}`, version: now.version })]);
    const running = replicaValues(app, 'db-password');
    expect(running).toHaveLength(replicas);
    for (const r of running) expect([r.version, r.value]).toEqual([now.version, now.value]);
    expect(await h.login(role, running[0].value)).toBe('accepted');
    expect(result.custom.targets).toEqual([expect.objectContaining({ kind: 'container-app', outcome: 'succeeded', version: now.version })]);
  });

  it('when the strategy is alternating users, then the old login is retired only once every replica of every app runs the new login', async () => {
    const base = h.deps.current;
    const atRetire: { app: string; url: string }[] = [];
    const watching: RotationDeps = {
      ...base,
      postgres: (c) => {
        const target = base.postgres(c);
        return new Proxy(target, {
          get: (obj, prop, receiver) =>
            prop === 'retireLogin'
              ? (...args: Parameters<typeof target.retireLogin>) => {
                  for (const app of ['alt-env', 'alt-vol']) for (const r of replicaValues(app, 'database-url')) atRetire.push({ app, url: r.value });
                  return target.retireLogin(...args);
                }
              : Reflect.get(obj, prop, receiver),
        });
      },
    };
    h.deps.current = watching;
    try {
      const before = live('kv-alt-db');
      const result = await h.rotate(h.newHost(), 'kv-alt-db');
      const now = live('kv-alt-db');
      expect(result.custom.outcome).toBe('succeeded');
      expect(result.custom.retiredLogin?.role).toBe(before.tags.role);
      expect(atRetire.map((r) => r.app)).toEqual(['alt-env', 'alt-env', 'alt-vol']);
      for (const r of atRetire) expect(new URL(r.url).username).toBe(now.tags.role);
      for (const r of atRetire) expect(await loginWithUrl(r.url)).toBe('accepted');
      expect(await h.login(before.tags.role, before.value)).toMatch(/^refused/);
      const derived = h.env.vault.versions('kv-alt-db-url').at(-1)!;
      for (const app of ['alt-env', 'alt-vol']) expect(replicaValues(app, 'database-url').map((r) => r.version)).toEqual(app === 'alt-env' ? [derived.version, derived.version] : [derived.version]);
    } finally {
      h.deps.current = base;
    }
  });

  it('when one app never runs the new login healthy, then the rotation is degraded and the old login the apps still use is not retired', async () => {
    const before = live('kv-alt-stuck-db');
    const result = await h.rotate(h.newHost(), 'kv-alt-stuck-db');
    expect(result.custom.outcome).toBe('degraded');
    expect(result.custom.targets?.map((t) => [t.outcome, t.errorCode ?? null, t.version ?? null])).toEqual([
      ['succeeded', null, live('kv-alt-stuck-db').version],
      ['failed', 'revision-not-healthy', null],
    ]);
    expect(result.custom.stages.map((s) => s.stage)).not.toContain('retire');
    expect(await h.login(before.tags.role, before.value)).toBe('accepted');
    expect(await loginWithUrl(h.env.containerApps.replicas('stuck-slow')[0].secrets['database-url'].value)).toBe('accepted');
  });

  const ref = (app: string) => ({ subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, app });

  it('when the app also keeps a plain-value secret, then the reference moves and the value is written back unchanged', async () => {
    const arm = h.env.deps.containerApps();
    const [reference] = (await arm.configuration('test', ref('mixed'))).secrets;
    await arm.replaceSecrets('test', ref('mixed'), 'West Europe', [reference, { name: 'registry-password', value: REGISTRY_PASSWORD }]);
    const result = await h.rotate(h.newHost(), 'kv-mixed-db');
    expect(result.custom.outcome).toBe('succeeded');
    expect(h.env.containerApps.appSecrets('mixed').map((s) => [s.name, s.kind, s.version ?? null])).toEqual([
      ['db-password', 'key-vault', live('kv-mixed-db').version],
      ['registry-password', 'value', null],
    ]);
    const listed = await h.env.deps.containerApps().valueSecrets('test', ref('mixed'));
    expect(listed.get('registry-password')).toBe(REGISTRY_PASSWORD);
  });

  it('when the mapped app secret holds a plain value, then that app fails naming the secret, nothing is written and nothing retired', async () => {
    const arm = h.env.deps.containerApps();
    await arm.replaceSecrets('test', ref('plain'), 'West Europe', [{ name: 'db-password', value: REGISTRY_PASSWORD }]);
    const writes = h.env.containerApps.requests.filter((r) => r.method === 'PATCH').length;
    const result = await h.rotate(h.newHost(), 'kv-plain-db');
    expect(result.custom.outcome).toBe('degraded');
    expect(result.custom.targets?.[0]).toMatchObject({ outcome: 'failed', errorCode: 'container-app-secret-not-reference' });
    expect(result.custom.targets?.[0].message).toContain('secret db-password of container app plain');
    expect(h.env.containerApps.requests.filter((r) => r.method === 'PATCH')).toHaveLength(writes);
    expect(result.custom.stages.map((s) => s.stage)).not.toContain('retire');
  });

  it('when a Key Vault-referenced app is only restarted, then it keeps the old value until the platform sync 30 minutes on', async () => {
    const before = live('kv-legacy-db');
    const result = await h.rotate(h.newHost(), 'kv-legacy-db');
    const now = live('kv-legacy-db');
    expect(result.custom.outcome).toBe('succeeded');
    expect(h.env.containerApps.restarts('legacy').filter((r) => r.by === 'client')).toHaveLength(1);
    const [stale] = replicaValues('legacy', 'db-password');
    expect(stale.version).toBe(before.version);
    expect(await h.login('kvlegacy', stale.value)).toMatch(/^refused/);

    const host = h.hosts().at(-1)!;
    h.env.useClock(() => host.now().getTime() + 30 * 60_000);
    const [synced] = replicaValues('legacy', 'db-password');
    expect(synced.version).toBe(now.version);
    expect(h.env.containerApps.restarts('legacy').at(-1)?.by).toBe('platform');
  });
});
