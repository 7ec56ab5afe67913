import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIFECYCLE_EVENT_PREFIX } from '../src/rotation/lifecycle-events';
import type { RotationStatus } from '../src/rotation/status';
import { startHarness, type Harness } from './support/harness';
import { expectNoSecrets } from './support/secrets';

interface Delivered {
  id: string;
  type: string;
  source: string;
  subject?: string;
  specversion: string;
  data: { credentialId: string; rotationId: string; role: string; stages: { stage: string }[]; error?: { code: string; stage: string }; reason?: string; liveVersion?: string };
}

describe('lifecycle events out, as CloudEvents 1.0 to the Event Grid topic', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'told-db', role: 'told_app' },
      { id: 'broken-db', role: 'broken_app', probeQuery: 'SELECT * FROM nowhere' },
      { id: 'quiet-db', role: 'quiet_app' },
    ]);
  });
  afterAll(() => h?.stop());

  const eventsOf = (credentialId: string) => h.env.events.events<Delivered['data']>().filter((e) => e.source === `/credentials/${credentialId}`) as unknown as Delivered[];

  it('when a rotation succeeds, then started, succeeded and retired arrive once each, carrying ids, versions and timings', async () => {
    const result = await h.rotate(h.newHost(), 'told-db');
    const events = eventsOf('told-db');
    const rotationId = result.custom.rotationId;

    expect(events.map((e) => e.type)).toEqual(['started', 'succeeded', 'retired'].map((s) => `${LIFECYCLE_EVENT_PREFIX}.${s}`));
    expect(events.map((e) => e.id)).toEqual([`${rotationId}.started`, `${rotationId}.succeeded`, `${rotationId}.retired`]);
    for (const e of events) expect(e).toMatchObject({ specversion: '1.0', subject: 'told_app', data: { credentialId: 'told-db', rotationId, role: 'told_app', reason: 'manual' } });
    expect(events[1].data.liveVersion).toBe(h.env.vault.versions('told-db-password').at(-1)!.version);
    expect(events[2].data.stages.map((s) => s.stage)).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'grace', 'retire']);
  });

  it('when a rotation fails, then started and failed arrive, the failure naming its stage and code', async () => {
    await h.rotate(h.newHost(), 'broken-db');
    const events = eventsOf('broken-db');
    expect(events.map((e) => e.type.split('.').at(-1))).toEqual(['started', 'failed']);
    expect(events[1].data.error).toMatchObject({ code: 'postgres-error', stage: 'verify' });
  });

  it('then no event body sent to the topic holds a secret value', () => {
    const values = h.env.vault.secretNames().flatMap((n) => h.env.vault.versions(n).map((v) => v.value));
    expectNoSecrets({ 'Event Grid request bodies': h.env.events.rawBodies().join('\n') }, values);
  });

  it('when the topic is down throughout, then the rotation still succeeds and reports the events it could not publish', async () => {
    h.env.events.inject({ status: 503, times: 1000 });
    try {
      const result = await h.rotate(h.newHost(), 'quiet-db');
      expect(result.custom.outcome).toBe('succeeded');
      expect((result.status.customStatus as RotationStatus).unpublished).toEqual(['started', 'succeeded', 'retired']);
      expect(eventsOf('quiet-db')).toEqual([]);
      expect(await h.login('quiet_app', h.liveValue('quiet-db'))).toBe('accepted');
    } finally {
      h.env.events.clearFaults();
    }
  });
});
