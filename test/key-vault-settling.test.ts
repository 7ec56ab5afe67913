import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultErrors } from '../src/local/emulators/key-vault-errors';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import { SecretClient } from '@azure/keyvault-secrets';
import { RotationError } from '../src/errors';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { startHarness, type Harness } from './support/harness';

/** Key Vault's 409s for a delete or recover still in progress: they pass by themselves. */
describe('Key Vault 409s that pass are retried', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'being-deleted', role: 'being_deleted_app' },
      { id: 'being-recovered', role: 'being_recovered_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('when writing the pending secret meets ObjectIsBeingDeleted twice, then the stage is retried and the rotation succeeds', async () => {
    const pending = `${secretNameFor('being-deleted')}-pending`;
    const answer = vaultErrors.beingDeleted(pending);
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: pending }), status: answer.status, body: answer.toBody(), times: 2 });

    const result = await h.rotate(h.newHost(), 'being-deleted');

    expect(result.custom.outcome).toBe('succeeded');
    expect(h.env.vault.requests.filter((r) => r.faulted).map((r) => r.status)).toEqual([409, 409]);
    expect(await h.login('being_deleted_app', h.liveValue('being-deleted'))).toBe('accepted');
    expect(h.pendingExists('being-deleted')).toBe(false);
  });

  it('when writing the live secret at promote meets ObjectIsBeingRecovered, then promote is retried and the rotation succeeds', async () => {
    const live = secretNameFor('being-recovered');
    const answer = vaultErrors.beingRecovered(live);
    h.env.vault.clearFaults();
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: live }), status: answer.status, body: answer.toBody() });

    const result = await h.rotate(h.newHost(), 'being-recovered');

    expect(result.custom.outcome).toBe('succeeded');
    expect(result.custom.stages.filter((s) => s.stage === 'promote').map((s) => s.outcome)).toEqual(['succeeded']);
    expect(await h.login('being_recovered_app', h.liveValue('being-recovered'))).toBe('accepted');
  });

  it('when a real deletion is still in progress, then the adapter reports a retryable key-vault-settling error, and the same write succeeds once it has finished', async () => {
    const vault = h.env.deps.vault(h.env.vault.url);
    await vault.write('test', 'settling-probe', 'first value', { tags: {} });
    h.env.vault.softDeleteLatencyMs = 300;
    try {
      // Starts the deletion without waiting for it, as another worker's delete would be seen.
      const client = new SecretClient(h.env.vault.url, new StaticTokenCredential(h.env.serviceToken), { ...loopbackAzureOptions(h.env.vault.ca), disableChallengeResourceVerification: true });
      await client.beginDeleteSecret('settling-probe', { intervalInMs: 10 });
      const refused = await vault.write('test', 'settling-probe', 'second value', { tags: {} }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RotationError);
      expect(refused).toMatchObject({ code: 'key-vault-settling', retryable: true, status: 409 });
      expect((refused as Error).message).not.toContain('second value');
    } finally {
      h.env.vault.softDeleteLatencyMs = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 350));
    await vault.write('test', 'settling-probe', 'second value', { tags: {} });
    expect(h.env.vault.currentValue('settling-probe')).toBe('second value');
  });
});
