import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';

describe('transient Key Vault faults are retried and survived', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'throttled-db', role: 'throttled_app' },
      { id: 'outage-db', role: 'outage_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('when the vault throttles with Retry-After, answers 503 and drops a connection, then the SDK retries and the rotation succeeds', async () => {
    const live = secretNameFor('throttled-db');
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${live}-pending` }), status: 503, times: 2 });
    h.env.vault.inject({ match: vaultRequest({ operation: 'getSecret', name: `${live}-pending` }), status: 429, retryAfterSeconds: 1 });
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: live }), drop: true });

    const result = await h.rotate(h.newHost(), 'throttled-db');

    expect(result.custom.outcome).toBe('succeeded');
    const faulted = h.env.vault.requests.filter((r) => r.faulted).map((r) => r.status);
    expect(faulted.sort()).toEqual([0, 429, 503, 503]);
    expect(await h.login('throttled_app', h.liveValue('throttled-db'))).toBe('accepted');
    expect(h.pendingExists('throttled-db')).toBe(false);
  });

  it('when an outage outlasts the SDK retries, then the durable retry policy runs the stage again after a timer and the rotation succeeds', async () => {
    const pending = `${secretNameFor('outage-db')}-pending`;
    // The SDK makes four attempts per call; five 503s fail the first activity attempt.
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: pending }), status: 503, times: 5 });
    const host = h.newHost();

    const result = await h.rotate(host, 'outage-db');

    expect(result.custom.outcome).toBe('succeeded');
    const history = host.history(result.instanceId);
    const stageEvents = history.filter((e) => (e.EventType === 4 && e.Name === 'rotation-apply') || e.EventType === 6 || e.EventType === 10);
    expect(stageEvents.map((e) => e.EventType).slice(0, 4)).toEqual([4, 6, 10, 4]);
    const failure = history.find((e) => e.EventType === 6);
    expect(failure?.Reason).toContain(`writing secret ${pending} failed: Key Vault 503`);
    expect(h.env.vault.versions(pending)).toHaveLength(1);
  });
});
