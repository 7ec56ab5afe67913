import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';
import { keyVaultEvent } from './support/events';

describe('invariant 4: one rotation per credential, however many times it is asked', () => {
  let h: Harness;
  beforeAll(async () => {
    // Expiring within the 14-day margin: the timer finds it due as well.
    h = await startHarness([{ id: 'burst-db', role: 'burst_app', liveExpiresInDays: 10 }]);
  });
  afterAll(() => h?.stop());

  it('when fifty duplicate near-expiry deliveries, a timer run and two HTTP calls arrive at once, then exactly one rotation runs and every caller is told the truth', async () => {
    const host = h.newHost();
    const event = keyVaultEvent(h.env, { credentialId: 'burst-db' });
    const post = () => host.invokeHttp('rotationApiRotate', new HttpRequest({ method: 'POST', url: 'http://localhost/api/credentials/burst-db/rotate' }));

    const [timerDecisions, ...rest] = await Promise.all([
      host.invokeTimer('scheduledRotation'),
      post(),
      post(),
      ...Array.from({ length: 50 }, () => host.invokeEventGrid('keyVaultEvents', event)),
    ]);
    const status = await host.waitForCompletion('rotate-burst-db', { timeoutMs: 60_000 });

    expect(status.runtimeStatus).toBe('Completed');
    expect(host.listInstances().map((i) => i.instanceId)).toEqual(['rotate-burst-db']);
    expect(host.history('rotate-burst-db').filter((e) => e.EventType === 0)).toHaveLength(1);
    expect(h.env.vault.versions(secretNameFor('burst-db'))).toHaveLength(2);
    expect(h.env.vault.versions(`${secretNameFor('burst-db')}-pending`)).toHaveLength(1);

    const responses = rest.slice(0, 2) as { status: number; jsonBody?: unknown; json(): Promise<unknown> }[];
    const httpStarted = responses.filter((r) => r.status === 202).length;
    for (const r of responses) expect([202, 409]).toContain(r.status);
    for (const r of responses.filter((x) => x.status === 409)) expect(await r.json()).toMatchObject({ error: { code: 'rotation-running' }, instanceId: 'rotate-burst-db' });
    const logs = host.logs.map((l) => l.message);
    const eventStarted = logs.filter((m) => m.startsWith('keyVaultEvents:') && m.includes('started rotate-burst-db')).length;
    const eventTold = logs.filter((m) => m.startsWith('keyVaultEvents:') && (m.includes('started rotate-burst-db') || m.includes('already running') || m.includes('no longer the live version'))).length;
    const timerStarted = (timerDecisions as string[]).filter((d) => d === 'started').length;
    expect(eventTold).toBe(50);
    expect(httpStarted + eventStarted + timerStarted).toBe(1);
    expect(['started', 'running']).toContain((timerDecisions as string[])[0]);
  });

  it('when the same event is delivered again after the rotation, then it is recognised as stale and nothing starts', async () => {
    const host = h.newHost();
    const stale = keyVaultEvent(h.env, { credentialId: 'burst-db', version: h.env.vault.versions(secretNameFor('burst-db'))[0].version });
    await host.invokeEventGrid('keyVaultEvents', stale);
    expect(host.listInstances()).toEqual([]);
    expect(host.logs.map((l) => l.message).join('\n')).toMatch(/ignored Microsoft\.KeyVault\.SecretNearExpiry .*is no longer the live version/);
  });
});

describe('invariant 4 when the task hub answers a losing start as a success', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ id: 'race-db', role: 'race_app', liveExpiresInDays: 10 }]);
  });
  afterAll(() => h?.stop());

  it('when a timer run, an HTTP call and an event all read before any of their starts writes, then only the caller whose start created the instance says it started', async () => {
    const host = h.newHost();
    // Azure Storage's startNew reads, then writes; a start that loses the write is still answered as accepted.
    host.interleaveStarts('rotate-race-db', 3);
    const [timerDecisions, response] = (await Promise.all([
      host.invokeTimer('scheduledRotation'),
      host.invokeHttp('rotationApiRotate', new HttpRequest({ method: 'POST', url: 'http://localhost/api/credentials/race-db/rotate' })),
      host.invokeEventGrid('keyVaultEvents', keyVaultEvent(h.env, { credentialId: 'race-db' })),
    ])) as [string[], { status: number; json(): Promise<unknown> }, unknown];
    await host.waitForCompletion('rotate-race-db', { timeoutMs: 60_000 });

    const logs = host.logs.map((l) => l.message);
    expect(logs.filter((m) => m.includes("Start of 'rotate-race-db' answered as accepted, but another start wrote the instance row first"))).toHaveLength(2);
    const eventLine = logs.find((m) => m.startsWith('keyVaultEvents: Microsoft.KeyVault.SecretNearExpiry'))!;
    const eventStarted = eventLine.includes('started rotate-race-db') ? 1 : 0;
    if (!eventStarted) expect(eventLine).toContain('rotate-race-db is already running');
    const timerStarted = timerDecisions.filter((d) => d === 'started').length;
    expect(timerDecisions).toHaveLength(1);
    const httpStarted = response.status === 202 ? 1 : 0;
    if (!httpStarted) expect(await response.json()).toMatchObject({ error: { code: 'rotation-running' }, instanceId: 'rotate-race-db' });
    expect(httpStarted + eventStarted + timerStarted).toBe(1);
    expect(host.history('rotate-race-db').filter((e) => e.EventType === 0)).toHaveLength(1);
    expect(h.env.vault.versions(secretNameFor('race-db'))).toHaveLength(2);
  });
});
