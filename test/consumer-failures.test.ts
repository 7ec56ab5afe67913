import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerAppsEmulator } from '../src/local/emulators/container-apps';
import { secretNameFor } from '../src/local/environment';
import type { RotationStatus } from '../src/rotation/status';
import { startHarness, type Harness } from './support/harness';
import { expectNoSecrets } from './support/secrets';

const GITHUB_TARGETS = [
  { repo: 'acme/web', secret: 'DB_PASSWORD' },
  { repo: 'acme/locked', secret: 'DB_PASSWORD' },
  { repo: 'acme/jobs', secret: 'DATABASE_URL', format: 'database-url' },
];

describe('consumer failures: degraded, re-propagated, survived, timed out', () => {
  let h: Harness;
  let partialHost: ReturnType<Harness['newHost']>;
  const allRepos = ['acme/web', 'acme/locked', 'acme/jobs', 'acme/flaky'];
  const grant = (repos: string[]) => h.env.github.addToken({ token: h.env.vault.currentValue('github-token')!, repos });

  beforeAll(async () => {
    h = await startHarness([
      { id: 'partial-db', role: 'partial_app', github: GITHUB_TARGETS },
      { id: 'flaky-db', role: 'flaky_app', github: [{ repo: 'acme/flaky', secret: 'DB_PASSWORD' }], containerApps: [{ app: 'flaky-api' }] },
      { id: 'sick-db', role: 'sick_app', containerApps: [{ app: 'sick-api', revisions: [{ name: 'sick-api--r1', outcome: 'Unhealthy' }] }] },
      { id: 'stuck-db', role: 'stuck_app', containerApps: [{ app: 'stuck-api', revisions: [{ name: 'stuck-api--r1', activationMs: 10 * 3_600_000 }] }] },
    ]);
  });
  afterAll(() => h?.stop());

  const eventTypes = (id: string) => h.env.events.events().filter((e) => e.source === `/credentials/${id}`).map((e) => e.type.split('.').at(-1));

  it('when GitHub refuses one of three targets, then the other two get the value, the rotation is degraded, nothing is retired, and a degraded event goes out', async () => {
    grant(allRepos.filter((r) => r !== 'acme/locked'));
    partialHost = h.newHost();
    const result = await h.rotate(partialHost, 'partial-db');
    const status = result.status.customStatus as RotationStatus;

    expect(result.status.runtimeStatus).toBe('Completed');
    expect(status.outcome).toBe('degraded');
    expect(status.targets?.map((t) => [t.target, t.outcome, t.errorCode ?? null])).toEqual([
      ['acme/web:DB_PASSWORD', 'succeeded', null],
      ['acme/locked:DB_PASSWORD', 'failed', 'github-forbidden'],
      ['acme/jobs:DATABASE_URL', 'succeeded', null],
    ]);
    expect(status.targets?.[1].message).toContain('403 Resource not accessible by integration');
    expect(status.stages.map((s) => s.stage)).not.toContain('retire');
    const live = h.liveValue('partial-db');
    expect(await h.login('partial_app', live)).toBe('accepted');
    expect(h.env.github.secretValue({ repo: 'acme/web', name: 'DB_PASSWORD' })).toBe(live);
    expect(h.env.github.secretValue({ repo: 'acme/locked', name: 'DB_PASSWORD' })).toBeUndefined();
    expect(h.env.vault.versions(secretNameFor('partial-db')).every((v) => v.enabled)).toBe(true);
    expect(eventTypes('partial-db')).toEqual(['started', 'degraded']);
  });

  it('when the permission is fixed and /propagate is called, then the failed target gets the live version without a new password, and only then is the old one retired', async () => {
    const live = h.liveValue('partial-db');
    const before = h.env.github.secret({ repo: 'acme/web', name: 'DB_PASSWORD' })!.writes;
    const versionsBefore = h.env.vault.versions(secretNameFor('partial-db')).length;
    grant(allRepos);
    const host = partialHost;

    const response = await host.invokeHttp('rotationApiPropagate', new HttpRequest({ method: 'POST', url: 'http://localhost/api/credentials/partial-db/propagate' }));
    expect(response.status).toBe(202);
    const status = await host.waitForCompletion('rotate-partial-db', { timeoutMs: 60_000 });
    const custom = status.customStatus as RotationStatus;

    expect(custom.outcome).toBe('succeeded');
    expect(custom.stages.map((s) => s.stage)).toEqual(['live', 'propagate', 'grace', 'retire']);
    expect(custom.targets?.map((t) => t.target)).toEqual(['acme/locked:DB_PASSWORD']);
    expect(h.liveValue('partial-db')).toBe(live);
    expect(h.env.vault.versions(secretNameFor('partial-db'))).toHaveLength(versionsBefore);
    expect(h.env.github.secretValue({ repo: 'acme/locked', name: 'DB_PASSWORD' })).toBe(live);
    expect(h.env.github.secret({ repo: 'acme/web', name: 'DB_PASSWORD' })!.writes).toBe(before);
    expect(h.env.vault.versions(secretNameFor('partial-db')).filter((v) => v.enabled).map((v) => v.value)).toEqual([live]);
    expect(eventTypes('partial-db')).toEqual(['started', 'degraded', 'succeeded', 'retired']);
  });

  it('when each target throttles, answers 5xx and drops a connection, then the rotation still succeeds', async () => {
    h.env.github.secondaryRateLimit({ status: 429, retryAfterSeconds: 1, times: 1 });
    h.env.github.inject({ status: 502, times: 1 });
    h.env.github.inject({ drop: true, times: 1 });
    h.env.containerApps.inject({ match: ContainerAppsEmulator.isRestart('flaky-api'), status: 500, times: 1 });
    h.env.containerApps.inject({ match: ContainerAppsEmulator.isRestart('flaky-api'), drop: true, times: 1 });
    h.env.containerApps.inject({ status: 429, retryAfterSeconds: 1, times: 1 });

    const result = await h.rotate(h.newHost(), 'flaky-db');

    expect((result.status.customStatus as RotationStatus).outcome).toBe('succeeded');
    expect(h.env.github.secretValue({ repo: 'acme/flaky', name: 'DB_PASSWORD' })).toBe(h.liveValue('flaky-db'));
    expect(h.env.containerApps.restarts('flaky-api').length).toBeGreaterThanOrEqual(1);
    expect(h.env.github.requests.filter((r) => r.faulted)).toHaveLength(3);
  });

  it('when a restarted revision turns unhealthy, then the rotation is degraded naming the revision', async () => {
    const result = await h.rotate(h.newHost(), 'sick-db');
    const status = result.status.customStatus as RotationStatus;
    expect(status.outcome).toBe('degraded');
    expect(status.targets?.[0]).toMatchObject({ kind: 'container-app', outcome: 'failed', errorCode: 'revision-failed' });
    expect(status.targets?.[0].message).toContain('sick-api--r1');
    expect(eventTypes('sick-db')).toEqual(['started', 'degraded']);
  });

  it('when a restarted revision never becomes running and healthy, then confirm gives up at its bound on durable timers and names the revision', async () => {
    const result = await h.rotate(h.newHost(), 'stuck-db');
    const status = result.status.customStatus as RotationStatus;
    expect(status.outcome).toBe('degraded');
    expect(status.targets?.[0]).toMatchObject({ outcome: 'failed', errorCode: 'revision-not-healthy' });
    expect(status.targets?.[0].message).toBe('revision stuck-api--r1 was not running healthy on replicas started after the change within 15 min');
    const confirm = status.stages.find((s) => s.stage === 'confirm')!;
    expect(confirm.durationMs).toBeGreaterThanOrEqual(15 * 60_000);
    expect(await h.login('stuck_app', h.liveValue('stuck-db'))).toBe('accepted');
  });

  it('then no secret value is in any durable store, log, error, event, or request body sent to GitHub or ARM', () => {
    const values = h.env.vault.secretNames().flatMap((n) => h.env.vault.versions(n).map((v) => v.value));
    expect(h.hosts().length).toBe(4);
    expectNoSecrets(
      {
        'durable stores (statuses with per-target errors, activity results, failure details)': h.hosts().map((x) => JSON.stringify(x.exportState())).join('\n'),
        'function logs': h.hosts().flatMap((x) => x.logs.map((l) => l.message)).join('\n'),
        'GitHub request bodies': h.env.github.requests.map((r) => r.rawBody).join('\n'),
        'ARM request bodies': h.env.containerApps.requests.map((r) => r.rawBody).join('\n'),
        events: h.env.events.rawBodies().join('\n'),
      },
      values,
    );
  });
});
