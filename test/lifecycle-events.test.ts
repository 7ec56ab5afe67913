import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AzureKeyCredential } from '@azure/core-auth';
import { RotationError } from '../src/errors';
import { EventGridEmulator } from '../src/local/emulators/event-grid';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import type { RotationStatus, TargetResult } from '../src/rotation/status';
import { buildLifecycleEvent, LIFECYCLE_EVENT_PREFIX, LIFECYCLE_STEPS, type LifecycleStep } from '../src/rotation/lifecycle-events';
import { LifecycleEvents } from '../src/targets/event-grid';
import { expectNoSecrets } from './support/secrets';

const NOW = new Date('2025-01-04T02:03:04.567Z');
const ROTATION_ID = '5b1f0c2e-8f7a-4d3b-9c61-2a4e6f8d0b13';
const LIVE = 'ee059b2bb5bc48398a53b168c6cdcb10';
const PREVIOUS = '0123456789abcdef0123456789abcdef';

/** Values that sit next to the real fields below, the way a careless status or target list might carry them. */
const FAKE_SECRETS = ['fake-live-password-Zq81x0Lw', 'fake-pending-password-Pk27v9Ma', 'postgresql://zep_user:fake-dsn-Hs55c3Qe@db/zep', 'ghs_fakeGitHubToken0123456789'];

const topic = new EventGridEmulator();
let ca: string;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  await topic.start();
});

afterAll(async () => {
  await topic.stop();
});

afterEach(() => {
  topic.clearFaults();
  topic.deliveries.length = 0;
  topic.requests.length = 0;
});

function publisher(credential: AzureKeyCredential | StaticTokenCredential = new AzureKeyCredential(topic.key), endpoint = topic.endpoint): LifecycleEvents {
  return new LifecycleEvents({ endpoint, credential, clientOptions: loopbackAzureOptions(ca) });
}

/** A status as the orchestrator keeps it, with secret-looking neighbours no event may carry. */
function statusWithSecretNeighbours(): RotationStatus {
  const stage = { stage: 'promote', outcome: 'succeeded', startedAt: '2025-01-04T02:01:00.000Z', durationMs: 812, password: FAKE_SECRETS[0] };
  const status = {
    credentialId: 'zep-db',
    rotationId: ROTATION_ID,
    role: 'zep_user',
    stage: 'done',
    outcome: 'succeeded',
    liveVersion: LIVE,
    previousVersion: PREVIOUS,
    stages: [{ stage: 'begin', outcome: 'succeeded', startedAt: '2025-01-04T02:00:00.000Z', durationMs: 40 }, stage],
    error: { code: 'verify-failed', stage: 'verify', message: 'verify: login as zep_user failed: password authentication failed', retryable: false, status: 28, value: FAKE_SECRETS[1] },
    password: FAKE_SECRETS[0],
    pendingValue: FAKE_SECRETS[1],
    connectionString: FAKE_SECRETS[2],
  };
  return status as unknown as RotationStatus;
}

function targetsWithSecretNeighbours(): TargetResult[] {
  const github = { kind: 'github', target: 'org/secai-radar:DATABASE_URL', outcome: 'succeeded', value: FAKE_SECRETS[2], token: FAKE_SECRETS[3] };
  const app = { kind: 'container-app', target: 'sub/ctxEco-rg/zep', outcome: 'failed', errorCode: 'container-apps-unavailable', secret: FAKE_SECRETS[0] };
  return [github, app] as unknown as TargetResult[];
}

async function rotationError(promise: Promise<unknown>): Promise<RotationError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(RotationError);
  return error as RotationError;
}

describe('publishing lifecycle events through the real EventGridPublisherClient', () => {
  it('when every lifecycle step is published with the topic key, then the topic accepts CloudEvents 1.0 with type, source, subject and a deterministic id', async () => {
    const status = statusWithSecretNeighbours();
    await publisher().publish('retire', LIFECYCLE_STEPS.map((step) => buildLifecycleEvent(step, status, NOW)));

    const received = topic.events();
    expect(received.map((e) => e.type)).toEqual(LIFECYCLE_STEPS.map((step) => `${LIFECYCLE_EVENT_PREFIX}.${step}`));
    expect(received.map((e) => e.id)).toEqual(LIFECYCLE_STEPS.map((step) => `${ROTATION_ID}.${step}`));
    for (const event of received) {
      expect(event).toMatchObject({ specversion: '1.0', source: '/credentials/zep-db', subject: 'zep_user', time: NOW.toISOString(), datacontenttype: 'application/json' });
    }
    expect(topic.deliveries.map((d) => d.auth)).toEqual(['key']);
    expect(topic.requests[0].headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8');
  });

  it('when the same step of the same rotation is built again later, then it has the same id; another rotation gets another id', () => {
    const status = statusWithSecretNeighbours();
    const first = buildLifecycleEvent('started', status, NOW);
    const again = buildLifecycleEvent('started', status, new Date(NOW.getTime() + 60_000));
    const other = buildLifecycleEvent('started', { ...status, rotationId: 'another-rotation' }, NOW);
    expect(again.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
    expect(buildLifecycleEvent('succeeded', status, NOW).id).not.toBe(first.id);
  });

  it('when a degraded event is published, then its data names versions, stages, per-target results, the reason and nothing else', async () => {
    await publisher().publish('propagate', [buildLifecycleEvent('degraded', statusWithSecretNeighbours(), NOW, { reason: 'near-expiry', targets: targetsWithSecretNeighbours() })]);

    expect(topic.events()[0].data).toEqual({
      credentialId: 'zep-db',
      rotationId: ROTATION_ID,
      role: 'zep_user',
      liveVersion: LIVE,
      previousVersion: PREVIOUS,
      stages: [
        { stage: 'begin', outcome: 'succeeded', startedAt: '2025-01-04T02:00:00.000Z', durationMs: 40 },
        { stage: 'promote', outcome: 'succeeded', startedAt: '2025-01-04T02:01:00.000Z', durationMs: 812 },
      ],
      targets: [
        { kind: 'github', target: 'org/secai-radar:DATABASE_URL', outcome: 'succeeded' },
        { kind: 'container-app', target: 'sub/ctxEco-rg/zep', outcome: 'failed', errorCode: 'container-apps-unavailable' },
      ],
      error: { code: 'verify-failed', stage: 'verify', message: 'verify: login as zep_user failed: password authentication failed' },
      reason: 'near-expiry',
    });
  });

  it('when a rotation fails before begin named it, then the event still has a stable id, no subject, and the error', () => {
    const status: RotationStatus = { credentialId: 'zep-db', stage: 'begin', outcome: 'failed', stages: [], error: { code: 'unknown-role', stage: 'begin', message: 'begin: role zep_user does not exist', retryable: false } };
    const event = buildLifecycleEvent('failed', status, NOW);
    expect(event.id).toBe(`zep-db@${NOW.toISOString()}.failed`);
    expect(event.subject).toBeUndefined();
    expect(event.data).toEqual({ credentialId: 'zep-db', stages: [], error: { code: 'unknown-role', stage: 'begin', message: 'begin: role zep_user does not exist' } });
  });

  it('when the service authenticates with an Entra token instead of a key, then the topic accepts it as a bearer token', async () => {
    topic.acceptBearerToken('mi-token-for-eventgrid');
    await publisher(new StaticTokenCredential('mi-token-for-eventgrid')).publish('begin', [buildLifecycleEvent('started', statusWithSecretNeighbours(), NOW)]);
    expect(topic.deliveries.map((d) => d.auth)).toEqual(['bearer']);
    expect(topic.events().map((e) => e.id)).toEqual([`${ROTATION_ID}.started`]);
  });

  it('when the topic answers 503 once, then the SDK retries and the event is delivered exactly once', async () => {
    topic.inject({ status: 503, retryAfterSeconds: 0 });
    await publisher().publish('promote', [buildLifecycleEvent('succeeded', statusWithSecretNeighbours(), NOW)]);

    expect(topic.requests.map((r) => [r.status, r.faulted])).toEqual([[503, true], [200, false]]);
    expect(topic.events().map((e) => e.id)).toEqual([`${ROTATION_ID}.succeeded`]);
  });

  it('when the key is wrong, then the 401 is a permanent RotationError naming the stage, not retried, without the SDK error or the key', async () => {
    const wrongKey = Buffer.from('a wrong topic key of some length').toString('base64');
    const error = await rotationError(publisher(new AzureKeyCredential(wrongKey)).publish('retire', [buildLifecycleEvent('retired', statusWithSecretNeighbours(), NOW)]));

    expect(error).toMatchObject({ code: 'event-grid-forbidden', stage: 'retire', retryable: false, status: 401 });
    expect(error.message).toMatch(/^retire: publishing 1 event \(5b1f0c2e-[^)]+\.retired\) to 127\.0\.0\.1:\d+ failed: Event Grid 401 Unauthorized: /);
    expect(error.message).toContain('aeg-sas-key header is invalid');
    expect(error.message).not.toContain('to our forums');
    expect(error.cause).toBeUndefined();
    expect(JSON.stringify(error.toJSON())).not.toContain(wrongKey);
    expect(topic.requests).toHaveLength(1);
    expect(topic.events()).toHaveLength(0);
  });

  it('when the topic keeps answering 503 or dropping the connection, then the failure is retryable once the SDK gives up', async () => {
    topic.inject({ status: 503, times: 10 });
    const unavailable = await rotationError(publisher().publish('begin', [buildLifecycleEvent('started', statusWithSecretNeighbours(), NOW)]));
    topic.clearFaults();
    topic.inject({ drop: true, times: 10 });
    const reset = await rotationError(publisher().publish('begin', [buildLifecycleEvent('started', statusWithSecretNeighbours(), NOW)]));

    expect(unavailable).toMatchObject({ code: 'event-grid-unavailable', retryable: true, status: 503 });
    expect(reset).toMatchObject({ code: 'event-grid-unavailable', retryable: true });
    expect(reset.cause).toBeUndefined();
    expect(topic.events()).toHaveLength(0);
  });

  it('when the topic refuses the batch with 400 (a topic in the Event Grid schema), then the failure is permanent', async () => {
    const gridTopic = await new EventGridEmulator({ inputSchema: 'EventGridSchema' }).start();
    try {
      const events = new LifecycleEvents({ endpoint: gridTopic.endpoint, credential: new AzureKeyCredential(gridTopic.key), clientOptions: loopbackAzureOptions(ca) });
      const error = await rotationError(events.publish('promote', [buildLifecycleEvent('succeeded', statusWithSecretNeighbours(), NOW)]));
      expect(error).toMatchObject({ code: 'event-grid-rejected', retryable: false, status: 400 });
      expect(error.message).toContain("'EventGridSchema' schema");
      expect(gridTopic.requests).toHaveLength(1);
    } finally {
      await gridTopic.stop();
    }
  });

  it('when the endpoint is plain http, then the adapter refuses it before any key is sent', () => {
    expect(() => publisher(new AzureKeyCredential(topic.key), topic.endpoint.replace('https:', 'http:'))).toThrow(/must be an https:\/\/ URL/);
  });
});

describe('keeping secrets out of lifecycle events', () => {
  it('when every step is built from a status whose neighbouring fields hold secrets, then neither the events nor the published bodies contain one', async () => {
    const status = statusWithSecretNeighbours();
    const context = { reason: 'manual' as const, targets: targetsWithSecretNeighbours() };
    const events = LIFECYCLE_STEPS.map((step: LifecycleStep) => buildLifecycleEvent(step, status, NOW, context));
    await publisher().publish('retire', events);

    expect(topic.events()).toHaveLength(LIFECYCLE_STEPS.length);
    for (const event of topic.events<Record<string, unknown>>()) {
      expect(Object.keys(event.data ?? {}).sort()).toEqual(['credentialId', 'error', 'liveVersion', 'previousVersion', 'reason', 'role', 'rotationId', 'stages', 'targets']);
    }
    expectNoSecrets(
      {
        built: JSON.stringify(events),
        ...Object.fromEntries(topic.rawBodies().map((body, i) => [`published body ${i}`, body])),
      },
      FAKE_SECRETS,
    );
  });
});
