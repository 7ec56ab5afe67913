import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostCrashedError } from '../src/local/durable-host';
import { secretNameFor } from '../src/local/environment';
import { startHarness, type Harness } from './support/harness';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

describe('the daily timer: due check, rotation window, janitor', () => {
  let h: Harness;
  beforeAll(async () => {
    const today = DAYS[new Date().getUTCDay()];
    h = await startHarness([
      { id: 'fresh-db', role: 'fresh_app', liveExpiresInDays: 60 },
      { id: 'expiring-db', role: 'expiring_app', liveExpiresInDays: 3, overrides: { window: { days: [today], hoursUtc: [0, 24] } } },
      { id: 'closed-db', role: 'closed_app', liveExpiresInDays: 3, overrides: { window: { days: DAYS.filter((d) => d !== today), hoursUtc: [0, 24] } } },
      { id: 'unseeded-db', role: 'unseeded_app', seedLive: false },
      { id: 'left-db', role: 'left_app', liveExpiresInDays: 60 },
      { id: 'lagging-db', role: 'lagging_app', liveExpiresInDays: 60, containerApps: [{ app: 'lagging-api', revisions: [{ name: 'lagging-api--r1', outcome: 'Unhealthy' }] }] },
    ]);
  });
  afterAll(() => h?.stop());

  function decisions(host: { logs: { message: string }[] }): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { message } of host.logs) {
      const m = /^scheduledRotation: ([a-z0-9-]+): ([a-z-]+):/.exec(message);
      if (m) out[m[1]] = m[2];
    }
    return out;
  }

  it('when the timer runs, then it starts what is due inside its window, and skips what is not due, outside its window, or has no live secret to start from', async () => {
    const host = h.newHost();
    await host.invokeTimer('scheduledRotation');

    expect(decisions(host)).toEqual({ 'fresh-db': 'not-due', 'expiring-db': 'started', 'closed-db': 'outside-window', 'unseeded-db': 'no-live-secret', 'left-db': 'not-due', 'lagging-db': 'not-due' });
    expect(host.listInstances().map((i) => i.instanceId)).toEqual(['rotate-expiring-db']);
    const status = await host.waitForCompletion('rotate-expiring-db', { timeoutMs: 60_000 });
    expect((status.input as { reason: string }).reason).toBe('scheduled');
    expect(await h.login('expiring_app', h.liveValue('expiring-db'))).toBe('accepted');
    expect(host.logs.find((l) => l.message.includes('unseeded-db'))?.level).toBe('error');
    expect(h.env.vault.versions(secretNameFor('unseeded-db'))).toEqual([]);
  });

  it('when the timer runs again, then the credential it just rotated is no longer due', async () => {
    const host = h.newHost();
    await host.invokeTimer('scheduledRotation');
    expect(decisions(host)['expiring-db']).toBe('not-due');
  });

  it('when a pending secret was left behind by a crash and outlives the bound, then the janitor resumes that rotation to a verified end', async () => {
    const doomed = h.newHost();
    h.crash.arm('write');
    const id = await h.start(doomed, 'left-db');
    await expect(doomed.waitForCompletion(id, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(HostCrashedError);
    const pendingName = `${secretNameFor('left-db')}-pending`;
    expect(h.pendingExists('left-db')).toBe(true);
    const leftBehind = h.env.vault.versions(pendingName)[0].tags['rotation-id'];

    const base = h.deps.current;
    try {
      const host = h.newHost();
      h.deps.current = { ...base, now: () => new Date(Date.now() + 2 * 3_600_000) };
      await host.invokeTimer('scheduledRotation');
      expect(decisions(host)['left-db']).toBe('not-due');

      h.deps.current = { ...base, now: () => new Date(Date.now() + 7 * 3_600_000) };
      const later = h.newHost();
      await later.invokeTimer('scheduledRotation');
      expect(decisions(later)['left-db']).toBe('resumed');
      const status = await later.waitForCompletion('rotate-left-db', { timeoutMs: 60_000 });
      expect(status.runtimeStatus).toBe('Completed');
      expect((status.customStatus as { rotationId: string }).rotationId).toBe(leftBehind);
    } finally {
      h.deps.current = base;
    }
    expect(h.pendingExists('left-db')).toBe(false);
    expect(await h.login('left_app', h.liveValue('left-db'))).toBe('accepted');
  });

  it('when a rotation was left degraded and its consumers recover, then the janitor resumes it: propagated, confirmed and only then retired', async () => {
    const degraded = await h.rotate(h.newHost(), 'lagging-db');
    expect((degraded.status.customStatus as { outcome: string }).outcome).toBe('degraded');
    expect(h.env.vault.versions(secretNameFor('lagging-db')).every((v) => v.enabled)).toBe(true);
    h.env.containerApps.setRestartOutcome('lagging-api', 'lagging-api--r1', 'Healthy');

    const base = h.deps.current;
    try {
      h.deps.current = { ...base, now: () => new Date(Date.now() + 7 * 3_600_000) };
      const later = h.newHost();
      await later.invokeTimer('scheduledRotation');
      expect(decisions(later)['lagging-db']).toBe('resumed');
      const status = await later.waitForCompletion('rotate-lagging-db', { timeoutMs: 60_000 });
      const custom = status.customStatus as { outcome: string; rotationId: string; stages: { stage: string }[] };
      expect(custom.outcome).toBe('succeeded');
      expect(custom.rotationId).toBe((degraded.status.customStatus as { rotationId: string }).rotationId);
      expect(custom.stages.map((s) => s.stage)).toEqual(['begin', 'promote', 'propagate', 'confirm', 'grace', 'retire']);
    } finally {
      h.deps.current = base;
    }
    expect(h.env.vault.versions(secretNameFor('lagging-db')).filter((v) => v.enabled).map((v) => v.value)).toEqual([h.liveValue('lagging-db')]);
  });
});
