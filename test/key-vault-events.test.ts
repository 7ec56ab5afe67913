import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';
import { keyVaultEvent } from './support/events';

describe('Key Vault events through Event Grid', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'events-db', role: 'events_app' }]);
  });
  afterAll(() => h?.stop());

  async function deliver(event: unknown) {
    const host = h.newHost();
    await host.invokeEventGrid('keyVaultEvents', event);
    return { host, log: host.logs.map((l) => `${l.level} ${l.message}`).join('\n') };
  }

  it.each(['eventgrid', 'cloudevents'] as const)('when a near-expiry event for the live version arrives in the %s schema, then the rotation starts and ends verified', async (schema) => {
    const { host, log } = await deliver(keyVaultEvent(h.env, { credentialId: 'events-db', schema }));
    expect(log).toContain('started rotate-events-db');
    const status = await host.waitForCompletion('rotate-events-db', { timeoutMs: 60_000 });
    expect(status.runtimeStatus).toBe('Completed');
    expect((status.input as { reason: string }).reason).toBe('near-expiry');
    expect(await h.login('events_app', h.liveValue('events-db'))).toBe('accepted');
  });

  const ignored: [string, (h: Harness) => unknown, RegExp][] = [
    ['a stale version', (x) => keyVaultEvent(x.env, { credentialId: 'events-db', version: 'a'.repeat(32) }), /is no longer the live version/],
    ['a secret no credential names', (x) => keyVaultEvent(x.env, { secretName: 'someone-elses-secret', version: 'b'.repeat(32) }), /no credential names secret someone-elses-secret/],
    ["the service's own pending secret", (x) => keyVaultEvent(x.env, { secretName: `${secretNameFor('events-db')}-pending`, version: 'c'.repeat(32) }), /is the pending secret of credential "events-db"/],
    ['another event type', (x) => keyVaultEvent(x.env, { credentialId: 'events-db', type: 'Microsoft.KeyVault.SecretNewVersionCreated' }), /does not call for a rotation/],
  ];

  it.each(ignored)('when the event concerns %s, then nothing starts and one log line says why', async (_what, make, why) => {
    const { host, log } = await deliver(make(h));
    expect(host.listInstances()).toEqual([]);
    expect(log).toMatch(why);
    expect(log.split('\n').filter((l) => l.includes('keyVaultEvents:'))).toHaveLength(1);
  });

  it('when the event is malformed, then it is reported naming the missing field and nothing starts', async () => {
    const event = keyVaultEvent(h.env, { credentialId: 'events-db' }) as { data: Record<string, unknown> };
    delete event.data.ObjectName;
    const { host, log } = await deliver(event);
    expect(host.listInstances()).toEqual([]);
    expect(log).toMatch(/^error keyVaultEvents: rejected a malformed event, nothing started: .*ObjectName/m);
  });
});
