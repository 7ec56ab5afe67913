import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import { ATTR, METRIC, recordDriftFindings, SPAN } from '../src/telemetry/rotation-telemetry';
import { startHarness, type Harness, type RotationResult } from './support/harness';
import { expectNoSecrets } from './support/secrets';
import { installInMemoryTelemetry } from './support/telemetry';

const telemetry = installInMemoryTelemetry();

describe('telemetry: a span per rotation and per stage, metrics, never a value', () => {
  let h: Harness;
  const results: Record<string, RotationResult> = {};

  beforeAll(async () => {
    h = await startHarness([
      { id: 'traced-db', role: 'traced_app', github: [{ repo: 'acme/traced', secret: 'DB_PASSWORD' }], containerApps: [{ app: 'traced-api' }] },
      { id: 'crashed-db', role: 'crashed_app' },
      { id: 'refused-db', role: 'refused_app', probeQuery: 'SELECT * FROM nowhere' },
      { id: 'sick-db', role: 'sick_app', containerApps: [{ app: 'sick-api', revisions: [{ name: 'sick-api--r1', outcome: 'Unhealthy' }] }] },
    ]);
    // Five 503s outlast the SDK's four tries: apply's activity, which stages, runs a second time.
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${secretNameFor('traced-db')}-pending` }), status: 503, times: 5 });
    results.traced = await h.rotate(h.newHost(), 'traced-db');
    results.crashed = await h.crashAndRecover('crashed-db', { method: 'setPasswordChecked', call: 1 }, 'replay');
    results.refused = await h.rotate(h.newHost(), 'refused-db');
    results.sick = await h.rotate(h.newHost(), 'sick-db');
  });
  afterAll(() => h?.stop());

  const spansOf = (credentialId: string) => telemetry.spans().filter((s) => s.attributes[ATTR.credentialId] === credentialId);
  const rootOf = (credentialId: string) => {
    const roots = spansOf(credentialId).filter((s) => s.name === SPAN.rotation);
    expect(roots).toHaveLength(1);
    return roots[0];
  };
  const childrenOf = (root: ReadableSpan) => telemetry.spans().filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);

  it('when a rotation runs through retries and consumers, then one rotation span parents one span per stage, in the order the stages ran, in one trace', () => {
    const { custom } = results.traced;
    expect(custom.outcome).toBe('succeeded');
    const root = rootOf('traced-db');
    expect(root.attributes).toMatchObject({ [ATTR.rotationId]: custom.rotationId, [ATTR.role]: 'traced_app', [ATTR.outcome]: 'succeeded', [ATTR.reason]: 'manual' });
    const children = childrenOf(root);
    expect(children.map((s) => s.name)).toEqual(custom.stages.map((s) => SPAN.stage(s.stage)));
    expect(children.map((s) => s.name)).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'propagate', 'confirm', 'grace', 'retire'].map(SPAN.stage));
    expect(spansOf('traced-db')).toHaveLength(children.length + 1);
    for (const child of children) {
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(child.attributes).toMatchObject({ [ATTR.rotationId]: custom.rotationId, [ATTR.role]: 'traced_app', [ATTR.outcome]: 'succeeded' });
      expect(toMs(child.startTime)).toBeGreaterThanOrEqual(toMs(root.startTime));
      expect(toMs(child.endTime)).toBeLessThanOrEqual(toMs(root.endTime));
    }
    const starts = children.map((s) => toMs(s.startTime));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it('when a stage is retried after a transient failure, then its span counts the attempts', () => {
    const attempts = Object.fromEntries(childrenOf(rootOf('traced-db')).map((s) => [s.attributes[ATTR.stage], s.attributes[ATTR.attempts]]));
    expect(attempts).toMatchObject({ begin: 1, stage: 2, apply: 2, verify: 1, promote: 1, propagate: 1, retire: 1 });
    expect(attempts.confirm).toBeGreaterThanOrEqual(1);
    expect(results.traced.custom.stages.find((s) => s.stage === 'stage')?.attempts).toBe(2);
  });

  it('when the orchestrator replays its history, on every episode and on a new host after a crash, then each span is emitted once', () => {
    const episodes = (host: ReturnType<Harness['newHost']>, id: string) => host.history(id).filter((e) => e.EventType === 12).length;
    const tracedHost = h.hosts()[0];
    expect(episodes(tracedHost, results.traced.instanceId)).toBeGreaterThan(10);
    expect(spansOf('traced-db').filter((s) => s.name === SPAN.stage('stage'))).toHaveLength(1);
    const root = rootOf('crashed-db');
    expect(root.attributes[ATTR.outcome]).toBe('succeeded');
    const names = childrenOf(root).map((s) => s.name);
    expect(names).toEqual(results.crashed.custom.stages.map((s) => SPAN.stage(s.stage)));
    expect(new Set(names).size).toBe(names.length);
  });

  it('when a stage fails for good, then the rotation span and that stage span are errors, the compensation has its span, and the failure is counted', async () => {
    expect(results.refused.custom.outcome).toBe('failed');
    const root = rootOf('refused-db');
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    expect(root.attributes).toMatchObject({ [ATTR.outcome]: 'failed', [ATTR.errorCode]: results.refused.custom.error?.code });
    const children = childrenOf(root);
    expect(children.map((s) => [s.name, s.attributes[ATTR.outcome]])).toEqual([
      [SPAN.stage('begin'), 'succeeded'],
      [SPAN.stage('stage'), 'succeeded'],
      [SPAN.stage('apply'), 'succeeded'],
      [SPAN.stage('verify'), 'failed'],
      [SPAN.stage('compensate'), 'succeeded'],
    ]);
    expect(children[3].status.code).toBe(SpanStatusCode.ERROR);
    await telemetry.collect();
    const rotations = telemetry.points(METRIC.rotations).map((p) => [p.attributes[ATTR.credentialId], p.attributes[ATTR.outcome], p.value]);
    expect(rotations).toEqual(expect.arrayContaining([['traced-db', 'succeeded', 1], ['crashed-db', 'succeeded', 1], ['refused-db', 'failed', 1], ['sick-db', 'degraded', 1]]));
    expect(rotations).toHaveLength(4);
  });

  it('when a consumer does not take the new value, then the rotation is degraded and a consumer failure is counted by kind and code', async () => {
    expect(results.sick.custom.outcome).toBe('degraded');
    expect(rootOf('sick-db').status.code).toBe(SpanStatusCode.ERROR);
    await telemetry.collect();
    const failures = telemetry.points(METRIC.consumerFailures).map((p) => [p.attributes[ATTR.credentialId], p.attributes[ATTR.consumerKind], p.attributes[ATTR.errorCode], p.value]);
    expect(failures).toEqual([['sick-db', 'container-app', 'revision-failed', 1]]);
  });

  it('when stages finish, then their durations are recorded per stage and outcome', async () => {
    await telemetry.collect();
    const points = telemetry.points(METRIC.stageDuration).filter((p) => p.attributes[ATTR.credentialId] === 'traced-db');
    expect(points.map((p) => p.attributes[ATTR.stage]).sort()).toEqual(results.traced.custom.stages.map((s) => s.stage).sort());
    const grace = points.find((p) => p.attributes[ATTR.stage] === 'grace')!.value as { sum: number; count: number };
    expect(grace).toMatchObject({ count: 1, sum: results.traced.custom.stages.find((s) => s.stage === 'grace')!.durationMs });
  });

  it('when the daily check reads each live version, then days until expiry is reported per credential with whether a rotation is scheduled', async () => {
    await h.hosts()[0].invokeTimer('scheduledRotation');
    await telemetry.collect();
    const gauge = new Map(telemetry.points(METRIC.daysUntilExpiry).map((p) => [p.attributes[ATTR.credentialId], p]));
    expect([...gauge.keys()].sort()).toEqual(['crashed-db', 'refused-db', 'sick-db', 'traced-db']);
    const traced = gauge.get('traced-db')!;
    const expiresOn = h.env.vault.versions(secretNameFor('traced-db')).at(-1)!.expiresOn!.getTime();
    expect(traced.value).toBeCloseTo((expiresOn - h.hosts()[0].now().getTime()) / 86_400_000, 0);
    expect(traced.attributes[ATTR.rotationScheduled]).toBe(true);
  });

  it('when a drift check reports findings, then each is counted by credential, code and severity', async () => {
    recordDriftFindings('traced-db', [
      { code: 'role-nologin', severity: 'critical' },
      { code: 'derived-stale', severity: 'error' },
      { code: 'derived-stale', severity: 'error' },
    ]);
    await telemetry.collect();
    const points = telemetry.points(METRIC.driftFindings).map((p) => [p.attributes[ATTR.credentialId], p.attributes[ATTR.findingCode], p.attributes[ATTR.severity], p.value]);
    expect(points).toEqual([
      ['traced-db', 'role-nologin', 'critical', 1],
      ['traced-db', 'derived-stale', 'error', 2],
    ]);
  });

  it('when every span attribute, status and metric point is scanned, then no secret value is in them', async () => {
    await telemetry.collect();
    const values = h.env.vault.secretNames().flatMap((name) => h.env.vault.versions(name).map((v) => v.value));
    const spans = JSON.stringify(telemetry.spans().map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events, links: s.links })));
    const points = JSON.stringify(Object.values(METRIC).flatMap((name) => telemetry.points(name).map((p) => ({ name, attributes: p.attributes, value: p.value }))));
    expect(spans.length).toBeGreaterThan(1000);
    expectNoSecrets({ spans, 'metric points': points }, [...values, ...h.env.initialPasswords.values()]);
  });
});

function toMs([seconds, nanos]: [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
