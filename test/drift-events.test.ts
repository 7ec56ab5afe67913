import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DurableHost } from '../src/local/durable-host';
import { secretNameFor } from '../src/local/environment';
import { HEALTH_TAG } from '../src/rotation/drift-health';
import { scramSha256Verifier } from '../src/rotation/password';
import { startHarness, type Harness } from './support/harness';

/**
 * `com.credentialrotator.credential.drifted` goes out when a credential's health changes,
 * not on every run, and `…recovered` when it comes back; the last health is kept as a tag
 * on the live Key Vault version, so it survives restarts of the service.
 */

let h: Harness;
let host: DurableHost;

const healthEvents = () => h.env.events.events<{ credentialId: string; current: string; previous?: string }>().filter((e) => e.type.startsWith('com.credentialrotator.credential.'));

async function setPassword(role: string, password: string): Promise<void> {
  const client = await h.env.postgres.connect();
  try {
    await client.query(`ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(await scramSha256Verifier(password))}`);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  h = await startHarness([{ id: 'watched', role: 'watched_app' }]);
  host = h.newHost();
}, 120_000);

afterAll(async () => h?.stop());

describe('drift events follow changes of health only', () => {
  it('when the credential stays healthy, then the health is recorded on the live version and no event goes out', async () => {
    await host.invokeTimer('driftCheck');
    await host.invokeTimer('driftCheck');
    expect(healthEvents()).toEqual([]);
    expect(h.env.vault.versions(secretNameFor('watched')).at(-1)?.tags[HEALTH_TAG]).toBe('healthy');
  });

  it('when it drifts, then one drifted event goes out however many runs see it, without a secret in it', async () => {
    await setPassword('watched_app', 'changed-behind-key-vault-000000000000');
    await host.invokeTimer('driftCheck');
    await host.invokeTimer('driftCheck');
    await host.invokeTimer('driftCheck');
    const events = healthEvents();
    expect(events.map((e) => e.type)).toEqual(['com.credentialrotator.credential.drifted']);
    expect(events[0]).toMatchObject({ source: '/credentials/watched', data: { credentialId: 'watched', previous: 'healthy', current: 'drifted:live-login-refused' } });
    const json = JSON.stringify(events);
    expect(json).not.toContain(h.liveValue('watched'));
    expect(json).not.toContain('changed-behind-key-vault');
  });

  it('when it comes back, then one recovered event goes out, and none on the runs after', async () => {
    await setPassword('watched_app', h.liveValue('watched'));
    await host.invokeTimer('driftCheck');
    await host.invokeTimer('driftCheck');
    expect(healthEvents().map((e) => e.type)).toEqual(['com.credentialrotator.credential.drifted', 'com.credentialrotator.credential.recovered']);
    expect(healthEvents()[1].data).toMatchObject({ previous: 'drifted:live-login-refused', current: 'healthy' });
  });

  it('when a rotation writes a new live version without the tag, then the last health is read from the older version and no event repeats', async () => {
    const result = await h.rotate(host, 'watched');
    expect(result.custom.outcome).toBe('succeeded');
    await host.invokeTimer('driftCheck');
    expect(healthEvents()).toHaveLength(2);
  });
});
