import { RestError } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyVaultEmulator, type KeyVaultEmulatorOptions, type VaultRequestEvent } from '../src/local/emulators/key-vault';
import { DOCUMENTED_LIMITS } from '../src/local/emulators/key-vault-throttle';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';

const running: KeyVaultEmulator[] = [];

async function startVault(options: KeyVaultEmulatorOptions): Promise<{ vault: KeyVaultEmulator; events: VaultRequestEvent[] }> {
  const vault = await new KeyVaultEmulator(options).start();
  running.push(vault);
  const events: VaultRequestEvent[] = [];
  vault.onRequest((e) => events.push(e));
  return { vault, events };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((v) => v.stop()));
});

/** The real SecretClient; `maxRetries: 0` lets a test see the 429 itself instead of the SDK's retry. */
function client(vault: KeyVaultEmulator, maxRetries: number): SecretClient {
  return new SecretClient(vault.url, new StaticTokenCredential(vault.adminToken), {
    ...loopbackAzureOptions(vault.ca, { maxRetries, retryDelayInMs: 20, maxRetryDelayInMs: 200 }),
    disableChallengeResourceVerification: true,
  });
}

async function failure(promise: Promise<unknown>): Promise<RestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RestError);
  return error as RestError;
}

describe('Key Vault emulator: the service throttling limits', () => {
  it('when nothing is configured, then the documented limits apply: 4,000 transactions and 300 creations in 10 s per vault', async () => {
    const vault = new KeyVaultEmulator();
    expect(vault.throttleLimits).toEqual(DOCUMENTED_LIMITS);
    expect(DOCUMENTED_LIMITS).toEqual({ windowMs: 10_000, transactions: 4_000, creations: 300 });
  });

  it('when a burst passes the limit, then the vault answers 429 Throttled with Retry-After, and the throttled request does not count', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const { vault, events } = await startVault({ throttle: { windowMs: 10_000, transactions: 6, creations: 2 }, now: () => now });
    vault.seed('db-password', 'v');
    const kv = client(vault, 0);
    // The challenge (401) and the first read: both are transactions.
    await kv.getSecret('db-password');
    for (let i = 0; i < 4; i += 1) await kv.getSecret('db-password');

    const throttled = await failure(kv.getSecret('db-password'));
    expect(throttled.statusCode).toBe(429);
    expect(throttled.response?.headers.get('retry-after')).toBe('10');
    expect(throttled.code).toBe('Throttled');
    expect(throttled.message).toContain('too many requests were received');

    now += 4_000;
    expect((await failure(kv.getSecret('db-password'))).response?.headers.get('retry-after')).toBe('6');
    // Ten seconds after the first transactions, their room is free again; the 429s took none of it.
    now += 6_000;
    await kv.getSecret('db-password');
    await kv.getSecret('db-password');
    expect(events.map((e) => e.status)).toEqual([401, 200, 200, 200, 200, 200, 429, 429, 200, 200]);
  });

  it('when secrets are created, then each creation weighs transactions / creations of the budget', async () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const { vault } = await startVault({ throttle: { windowMs: 10_000, transactions: 10, creations: 2 }, now: () => now });
    const kv = client(vault, 0);
    // The token-less challenge creates nothing and costs 1, each creation 5: the second no longer fits.
    await kv.setSecret('first', 'a');
    expect((await failure(kv.setSecret('second', 'b'))).statusCode).toBe(429);
    for (let i = 0; i < 4; i += 1) await kv.getSecret('first');
    expect((await failure(kv.getSecret('first'))).statusCode).toBe(429);
  });

  it('when the SDK retries as it is told, then the throttled read succeeds once the window has room', async () => {
    const { vault, events } = await startVault({ throttle: { windowMs: 1_000, transactions: 4, creations: 1 } });
    vault.seed('db-password', 'v');
    const kv = client(vault, 3);
    await kv.getSecret('db-password');
    const reads = await Promise.all([1, 2, 3, 4].map(() => kv.getSecret('db-password')));

    expect(reads.map((r) => r.value)).toEqual(['v', 'v', 'v', 'v']);
    expect(events.filter((e) => e.status === 429).length).toBeGreaterThan(0);
  });

  it('when throttling is off, then a burst past any limit is served', async () => {
    const { vault, events } = await startVault({ throttle: false });
    vault.seed('db-password', 'v');
    const kv = client(vault, 0);
    await Promise.all(Array.from({ length: 30 }, () => kv.getSecret('db-password')));
    expect(events.filter((e) => e.status === 429)).toEqual([]);
  });
});
