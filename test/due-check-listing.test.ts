import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { startHarness, type Harness } from './support/harness';

const CREDENTIALS = 55;

describe('the due check reads the vault with listings, not a read per secret', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(Array.from({ length: CREDENTIALS }, (_, i) => ({ id: `fleet-${i}`, role: `fleet_${i}`, liveExpiresInDays: 60 })));
  });
  afterAll(() => h?.stop());

  it(`when the timer checks ${CREDENTIALS} credentials in one vault, then it lists the vault once, page by page, and reads no secret`, async () => {
    const host = h.newHost();
    const before = h.env.vault.requests.length;
    await host.invokeTimer('scheduledRotation');
    const requests = h.env.vault.requests.slice(before).filter((r) => r.headers.authorization !== undefined);

    // The service's pages hold 25 secrets; the vault also holds the rotator's own two.
    const pages = Math.ceil(h.env.vault.secretNames().length / 25);
    expect(pages).toBe(3);
    expect(requests.filter(vaultRequest({ operation: 'listSecrets' })).length).toBe(pages);
    expect(requests.filter(vaultRequest({ operation: 'getSecret' }))).toEqual([]);
    expect(requests.length).toBe(pages);
    const decided = host.logs.filter((l) => /^scheduledRotation: fleet-\d+: not-due:/.test(l.message));
    expect(decided.length).toBe(CREDENTIALS);
  });
});
