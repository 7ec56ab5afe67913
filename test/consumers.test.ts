import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import type { RotationStatus } from '../src/rotation/status';
import { startHarness, type Harness } from './support/harness';

const yamlTemplate = 'database:\n  dsn: postgresql://{user}:{password}@{host}:{port}/{database}\n  password: {password}\n';

describe('the consumers: GitHub secrets, Container Apps and derived secrets', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      {
        id: 'shop-db',
        role: 'shop_app',
        derived: [
          { secret: 'shop-db-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}?sslmode={sslmode}' },
          { secret: 'shop-db-config', template: yamlTemplate },
        ],
        github: [
          { repo: 'acme/shop', secret: 'DB_PASSWORD' },
          { repo: 'acme/shop', environment: 'production', secret: 'DATABASE_URL', format: 'database-url' },
          { org: 'acme', secret: 'SHOP_DB_CONFIG', format: 'shop-db-config' },
        ],
        containerApps: [{ app: 'shop-api' }, { app: 'shop-worker', revisions: [{ name: 'shop-worker--a', active: false }, { name: 'shop-worker--b' }] }],
      },
    ]);
  });
  afterAll(() => h?.stop());

  it('when a rotation propagates, then every consumer holds exactly the new value and the revisions were restarted after promote', async () => {
    const result = await h.rotate(h.newHost(), 'shop-db');
    const status = result.status.customStatus as RotationStatus;

    expect(status.outcome).toBe('succeeded');
    expect(status.stages.map((s) => s.stage)).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'propagate', 'confirm', 'grace', 'retire']);
    const password = h.liveValue('shop-db');
    const { host, port } = h.env.postgres;
    const url = `postgresql://shop_app:${encodeURIComponent(password)}@${host}:${port}/appdb`;
    expect(h.env.vault.currentValue('shop-db-url')).toBe(`${url}?sslmode=verify-full`);
    expect(h.env.vault.currentValue('shop-db-config')).toBe(`database:\n  dsn: ${url}\n  password: ${password}\n`);
    expect(h.env.github.secretValue({ repo: 'acme/shop', name: 'DB_PASSWORD' })).toBe(password);
    expect(h.env.github.secretValue({ repo: 'acme/shop', environment: 'production', name: 'DATABASE_URL' })).toBe(`${url}?sslmode=verify-full&sslrootcert=system`);
    expect(h.env.github.secretValue({ org: 'acme', name: 'SHOP_DB_CONFIG' })).toBe(h.env.vault.currentValue('shop-db-config'));

    const promotedAt = h.env.vault.versions(secretNameFor('shop-db')).at(-1)!.createdOn.getTime();
    const restarts = h.env.containerApps.restarts();
    expect(restarts.map((r) => r.revision).sort()).toEqual(['shop-api--r1', 'shop-worker--b']);
    for (const r of restarts) expect(new Date(r.at).getTime()).toBeGreaterThanOrEqual(promotedAt);
    expect(status.targets?.map((t) => `${t.kind}:${t.outcome}`)).toEqual(['github:succeeded', 'github:succeeded', 'github:succeeded', 'container-app:succeeded', 'container-app:succeeded']);
  });
});
