import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyVaultEmulator, type VaultRequestEvent } from '../src/local/emulators/key-vault';
import type { ThrottleLimits } from '../src/local/emulators/key-vault-throttle';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { KeyVaultPacer, transactionCost, WindowBudget } from '../src/targets/key-vault-pacing';

// Lowered limits keep the test short; the pacer is told the same ones the vault enforces.
const LIMITS: ThrottleLimits = { windowMs: 1_000, transactions: 100, creations: 10 };
const SHARE = 0.25;

const running: KeyVaultEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((v) => v.stop()));
});

async function startVault(): Promise<{ vault: KeyVaultEmulator; events: VaultRequestEvent[] }> {
  const vault = await new KeyVaultEmulator({ throttle: LIMITS }).start();
  running.push(vault);
  const events: VaultRequestEvent[] = [];
  vault.onRequest((e) => events.push(e));
  vault.seed('db-password', 'v');
  return { vault, events };
}

interface Sent {
  at: number;
  cost: number;
}

/**
 * No SDK retries, so a 429 would surface as a failed call. `sent` records each request as the
 * pacer lets it go, costed as the vault counts it: the pacer's promise is about what it sends.
 */
function client(vault: KeyVaultEmulator, pacer: KeyVaultPacer, sent: Sent[]): SecretClient {
  const options = loopbackAzureOptions(vault.ca, { maxRetries: 0, retryDelayInMs: 20, maxRetryDelayInMs: 200 });
  const record: PipelinePolicy = {
    name: 'recordSent',
    sendRequest: (request, next) => {
      sent.push({ at: performance.now(), cost: transactionCost(request, LIMITS) });
      return next(request);
    },
  };
  return new SecretClient(vault.url, new StaticTokenCredential(vault.adminToken), {
    ...options,
    additionalPolicies: [...options.additionalPolicies, { policy: pacer.policy(), position: 'perRetry' }, { policy: record, position: 'perRetry' }],
    disableChallengeResourceVerification: true,
  });
}

/** After the challenge round trip, reads and creations all at once, as a fleet's rotations send them: more than the vault's whole limit. */
async function burst(kv: SecretClient): Promise<PromiseSettledResult<unknown>[]> {
  await kv.getSecret('db-password');
  const reads = Array.from({ length: 40 }, () => kv.getSecret('db-password'));
  const creations = Array.from({ length: 8 }, (_, i) => kv.setSecret(`rotated-${i}`, 'x'));
  return Promise.allSettled([...reads, ...creations]);
}

/**
 * How much later than the pacer the recorder may read the clock: it runs after the pacer's
 * promise chain resolves, which on a loaded 2-core machine was once more than a millisecond
 * (a fresh-clone suite saw 26 in a window of 25). Small beside the window: a pacer that sends
 * more than its share within 975 ms of any 1 s window is still caught.
 */
const RECORDER_LAG_MS = 25;

/** The most sent in any window, shortened by the recorder's lag. */
function peakPerWindow(sent: Sent[]): number {
  return Math.max(...sent.map((s) => sent.filter((o) => o.at <= s.at && o.at > s.at - LIMITS.windowMs + RECORDER_LAG_MS).reduce((sum, o) => sum + o.cost, 0)));
}

const BUDGET = SHARE * LIMITS.transactions;

describe('Key Vault pacing', () => {
  it('when a burst of more than the whole limit is paced to a share, then no window holds more than the share, and the vault throttles nothing', async () => {
    const { vault, events } = await startVault();
    const sent: Sent[] = [];
    const results = await burst(client(vault, new KeyVaultPacer(SHARE, LIMITS), sent));

    expect(sent.reduce((sum, s) => sum + s.cost, 0)).toBeGreaterThan(LIMITS.transactions);
    expect(peakPerWindow(sent)).toBeLessThanOrEqual(BUDGET + 1e-9);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(events.filter((e) => e.status === 429)).toEqual([]);
  });

  it('when two vaults are used, then each has a budget of its own', async () => {
    const a = await startVault();
    const b = await startVault();
    const pacer = new KeyVaultPacer(SHARE, LIMITS);
    const sentToA: Sent[] = [];
    const sentToB: Sent[] = [];
    await Promise.all([burst(client(a.vault, pacer, sentToA)), burst(client(b.vault, pacer, sentToB))]);

    expect(peakPerWindow(sentToA)).toBeLessThanOrEqual(BUDGET + 1e-9);
    expect(peakPerWindow(sentToB)).toBeLessThanOrEqual(BUDGET + 1e-9);
    // Sharing one bucket, the two bursts together would have had to fit one budget.
    expect(peakPerWindow([...sentToA, ...sentToB].sort((x, y) => x.at - y.at))).toBeGreaterThan(BUDGET);
    expect([...a.events, ...b.events].filter((e) => e.status === 429)).toEqual([]);
  });

  it('when the share is outside (0, 1], then the pacer refuses it naming the share', () => {
    expect(() => new KeyVaultPacer(0)).toThrow('the Key Vault share must be in (0, 1], got 0');
    expect(() => new KeyVaultPacer(1.5)).toThrow('got 1.5');
    expect(() => new KeyVaultPacer(0.003)).toThrow('leaves no room for one secret creation in 10 s');
  });

  it('when callers outrun the budget, then they are let through in order as earlier ones leave the window', async () => {
    let now = 0;
    const budget = new WindowBudget(2, 100, () => now);
    const order: number[] = [];
    const taken = [1, 2, 3].map((i) => budget.take(1).then(() => order.push(i)));
    await new Promise((r) => setTimeout(r, 30));
    expect(order).toEqual([1, 2]);
    now = 100;
    await Promise.all(taken);
    expect(order).toEqual([1, 2, 3]);
  });
});
