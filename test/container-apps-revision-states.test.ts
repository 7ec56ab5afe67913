import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { ContainerAppsEmulator, type RevisionOutcome } from '../src/local/emulators/container-apps';
import { loopbackOnlyPolicy } from '../src/local/emulators/container-apps-client';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { confirmContainerApp } from '../src/rotation/container-app-consumer';
import type { RotationDeps } from '../src/rotation/deps';
import { CONTAINER_APPS_ACTIONS } from '../src/targets/arm-actions';
import { ContainerApps } from '../src/targets/container-apps';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'rg-states';
const ACTIVATION_MS = 10_000;
const T0 = Date.parse('2026-05-01T10:00:00Z');

/**
 * Every runningState/healthState ARM reports for a revision (spec: `Revision.runningState`
 * is an open enum), produced by the emulator and read through the real SDK, and what confirm
 * makes of each. Confirm runs on an app in restart-only mode so only revision states count.
 */
const STATES: { outcome: RevisionOutcome; activating?: boolean; runningState: string; healthState: string; verdict: 'healthy' | 'waiting' | 'failed' }[] = [
  { outcome: 'Healthy', runningState: 'Running', healthState: 'Healthy', verdict: 'healthy' },
  { outcome: 'RunningAtMaxScale', runningState: 'RunningAtMaxScale', healthState: 'Healthy', verdict: 'healthy' },
  { outcome: 'ScaledToZero', runningState: 'ScaledToZero', healthState: 'None', verdict: 'healthy' },
  { outcome: 'Healthy', activating: true, runningState: 'Activating', healthState: 'None', verdict: 'waiting' },
  { outcome: { runningState: 'Processing', healthState: 'None' }, runningState: 'Processing', healthState: 'None', verdict: 'waiting' },
  { outcome: 'Unknown', runningState: 'Unknown', healthState: 'None', verdict: 'waiting' },
  { outcome: { runningState: 'Hibernating', healthState: 'None' }, runningState: 'Hibernating', healthState: 'None', verdict: 'waiting' },
  { outcome: 'ActivationFailed', runningState: 'ActivationFailed', healthState: 'Unhealthy', verdict: 'failed' },
  { outcome: 'Failed', runningState: 'Failed', healthState: 'Unhealthy', verdict: 'failed' },
  { outcome: 'Unhealthy', runningState: 'Degraded', healthState: 'Unhealthy', verdict: 'failed' },
];
const appName = (i: number) => `state-${i}`;

let now = T0;
let arm: ContainerAppsEmulator;
let adapter: ContainerApps;
let deps: RotationDeps;

beforeAll(async () => {
  const { ca } = await loopbackCertificate();
  arm = await new ContainerAppsEmulator({
    clock: () => now,
    activationMs: ACTIVATION_MS,
    tokens: [{ token: 'rotator', actions: [...CONTAINER_APPS_ACTIONS] }],
    apps: [
      ...STATES.map((s, i) => ({ subscriptionId: SUB, resourceGroup: RG, name: appName(i), revisions: [{ name: `${appName(i)}--r1`, replicas: 2, outcome: s.outcome }] })),
      { subscriptionId: SUB, resourceGroup: RG, name: 'stale', activeRevisionsMode: 'Multiple' as const, revisions: [{ name: 'stale--old', active: false }, { name: 'stale--r1' }] },
    ],
  }).start();
  const options = loopbackAzureOptions(ca);
  adapter = new ContainerApps({ endpoint: arm.url, credential: new StaticTokenCredential('rotator'), clientOptions: { ...options, additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(), position: 'perCall' }] } });
  const apps = [...STATES.map((_, i) => appName(i)), 'stale'];
  const config = parseConfig({
    arm: { endpoint: arm.url },
    credentials: [
      {
        id: 'states',
        postgres: { host: 'db.example', database: 'app', role: 'app', admin: { auth: 'entra', user: 'rotator' } },
        keyVault: { url: 'https://vault.example', secret: 'app-password' },
        consumers: { containerApps: apps.map((app) => ({ subscription: SUB, resourceGroup: RG, app, mode: 'restart-only' })) },
      },
    ],
  });
  deps = { config, containerApps: () => adapter } as unknown as RotationDeps;
  // As propagate does: restart every active revision after the change at T0.
  for (const app of apps) for (const r of await adapter.activeRevisions('propagate', { subscription: SUB, resourceGroup: RG, app })) await adapter.restartRevision('propagate', { subscription: SUB, resourceGroup: RG, app }, r.name);
});

afterAll(async () => {
  await arm.stop();
});

const ticket = { since: new Date(T0).toISOString(), liveVersion: 'a'.repeat(32) };
const credential = () => deps.config.credentials[0];

describe('revision states as ARM reports them, and what confirm makes of each', () => {
  it.each(STATES.map((s, i) => ({ ...s, i })))('when a revision reports $runningState/$healthState, then confirm calls it $verdict', async ({ i, activating, runningState, healthState, verdict }) => {
    now = activating ? T0 + 1 : T0 + ACTIVATION_MS;
    const [revision] = await adapter.activeRevisions('confirm', { subscription: SUB, resourceGroup: RG, app: appName(i) });
    expect([revision.runningState, revision.healthState]).toEqual([runningState, healthState]);
    if (runningState === 'ScaledToZero') expect(revision.replicas).toBe(0);
    const seen = await confirmContainerApp(deps, credential(), i, ticket);
    const name = `${appName(i)}--r1`;
    expect(seen).toEqual({ healthy: verdict === 'healthy' ? [name] : [], waiting: verdict === 'waiting' ? [name] : [], failed: verdict === 'failed' ? [{ revision: name, state: `${runningState}/${healthState}` }] : [] });
  });

  it('when an inactive revision reports Stopped, then confirm looks only at the active one', async () => {
    now = T0 + ACTIVATION_MS;
    expect(arm.revisionView('stale', 'stale--old')).toMatchObject({ active: false, runningState: 'Stopped', healthState: 'None' });
    expect(await confirmContainerApp(deps, credential(), STATES.length, ticket)).toEqual({ healthy: ['stale--r1'], waiting: [], failed: [] });
  });

  it('when a revision runs healthy on replicas that started before the change, then confirm waits', async () => {
    now = T0 + ACTIVATION_MS;
    const later = { ...ticket, since: new Date(T0 + 1).toISOString() };
    expect(await confirmContainerApp(deps, credential(), STATES.length, later)).toEqual({ healthy: [], waiting: ['stale--r1'], failed: [] });
  });
});
