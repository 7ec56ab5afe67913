import { afterAll, describe, expect, it } from 'vitest';
import { installFunctionsCore } from '../src/local/durable-host';

describe('the app entry point (src/index.ts) as Azure loads it', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('registers every function, and a broken configuration fails the app start with the credential and field named', async () => {
    process.env.ROTATOR_CONFIG = JSON.stringify({ credentials: [{ id: 'orders-db', postgres: { host: 'db', database: 'orders', role: 'Orders App', admin: { auth: 'entra', user: 'mi' } }, keyVault: { url: 'https://kv.vault.azure.net', secret: 'orders' } }] });
    const registry = installFunctionsCore();
    await import('../src/index.js');

    expect(registry.list().map((f) => f.name).sort()).toEqual(
      [
        'dashboard',
        'keyVaultEvents',
        'rotateCredential',
        'rotation-apply',
        'rotation-begin',
        'rotation-compensate',
        'rotation-confirm',
        'rotation-live',
        'rotation-promote',
        'rotation-propagate',
        'rotation-publish',
        'rotation-retire',
        'rotation-verify',
        'driftCheck',
        'rotationApiHealth',
        'rotationApiList',
        'rotationApiPreflight',
        'rotationApiPropagate',
        'rotationApiRotate',
        'rotationApiStatus',
        'scheduledRotation',
      ].sort(),
    );
    await expect(registry.ensureAppStarted()).rejects.toThrow('config: credential "orders-db": postgres.role must be a lower-case PostgreSQL identifier');
  });

  it('with a valid configuration the production dependencies build without touching the network', async () => {
    process.env.ROTATOR_CONFIG = JSON.stringify({ credentials: [{ id: 'orders-db', postgres: { host: 'db', database: 'orders', role: 'orders_app', admin: { auth: 'entra', user: 'mi' } }, keyVault: { url: 'https://kv.vault.azure.net', secret: 'orders' } }] });
    process.env.AZURE_CLIENT_ID = '00000000-0000-4000-8000-000000000001';
    const { productionDeps } = await import('../src/production.js');
    const deps = productionDeps();
    expect(deps.config.credentials.map((c) => c.id)).toEqual(['orders-db']);
    expect(deps.events).toBeUndefined();
  });
});
