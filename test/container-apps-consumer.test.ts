import { randomBytes } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RotationError } from '../src/errors';
import { loopbackOnlyPolicy } from '../src/local/emulators/container-apps-client';
import { ContainerAppsEmulator } from '../src/local/emulators/container-apps';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { CONTAINER_APPS_ACTIONS } from '../src/targets/arm-actions';
import { ContainerApps, type ContainerAppRef } from '../src/targets/container-apps';
import { expectNoSecrets } from './support/secrets';

const SUB = '00000000-1111-2222-3333-444444444444';
const OTHER_SUB = '99999999-8888-7777-6666-555555555555';
const RG = 'rg-apps';
const ACTIVATION_MS = 10_000;
// The rotator's principal holds exactly the actions its custom role grants.
const ROTATOR_TOKEN = `arm-rotator-${randomBytes(16).toString('hex')}`;
const READER_TOKEN = `arm-reader-${randomBytes(16).toString('hex')}`;

const ORDERS: ContainerAppRef = { subscription: SUB, resourceGroup: RG, app: 'orders-api' };
const CHECKOUT: ContainerAppRef = { subscription: SUB, resourceGroup: RG, app: 'checkout' };
const BILLING: ContainerAppRef = { subscription: OTHER_SUB, resourceGroup: 'rg-billing', app: 'billing' };

let now = Date.parse('2026-05-01T10:00:00Z');
let arm: ContainerAppsEmulator;
let ca: string;
let apps: ContainerApps;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  arm = await new ContainerAppsEmulator({
    clock: () => now,
    activationMs: ACTIVATION_MS,
    tokens: [
      { token: ROTATOR_TOKEN, actions: [...CONTAINER_APPS_ACTIONS] },
      { token: READER_TOKEN, actions: ['Microsoft.App/containerApps/read', 'Microsoft.App/containerApps/revisions/read'] },
    ],
    apps: [
      { subscriptionId: SUB, resourceGroup: RG, name: 'orders-api', revisions: [{ name: 'orders-api--v1', active: false }, { name: 'orders-api--v2', replicas: 2 }] },
      {
        subscriptionId: SUB,
        resourceGroup: RG,
        name: 'checkout',
        activeRevisionsMode: 'Multiple',
        revisions: [{ name: 'checkout--old', active: false }, { name: 'checkout--blue', trafficWeight: 80, replicas: 3 }, { name: 'checkout--green', trafficWeight: 20 }],
      },
      { subscriptionId: OTHER_SUB, resourceGroup: 'rg-billing', name: 'billing', revisions: [{ name: 'billing--r1' }] },
    ],
  }).start();
  apps = adapter(new StaticTokenCredential(ROTATOR_TOKEN));
});

afterAll(async () => {
  await arm.stop();
});

beforeEach(() => {
  arm.clearFaults();
});

function adapter(credential: TokenCredential): ContainerApps {
  const options = loopbackAzureOptions(ca);
  return new ContainerApps({
    endpoint: arm.url,
    credential,
    clientOptions: { ...options, additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(), position: 'perCall' }] },
  });
}

async function failure(work: Promise<unknown>): Promise<RotationError> {
  const error = await work.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RotationError);
  const rotation = error as RotationError;
  expect(rotation.cause).toBeUndefined();
  expectNoSecrets({ message: rotation.message, json: JSON.stringify(rotation) }, [ROTATOR_TOKEN, READER_TOKEN]);
  return rotation;
}

function statusesSince(before: number): number[] {
  return arm.requests.slice(before).map((r) => r.status);
}

describe('reading revisions', () => {
  it('when an app runs several revisions, then only the active ones are listed with running, health, replicas and traffic', async () => {
    expect(await apps.activeRevisions('confirm', CHECKOUT)).toEqual([
      { name: 'checkout--blue', runningState: 'Running', healthState: 'Healthy', replicas: 3, active: true, trafficWeight: 80 },
      { name: 'checkout--green', runningState: 'Running', healthState: 'Healthy', replicas: 1, active: true, trafficWeight: 20 },
    ]);
    expect(await apps.activeRevisions('confirm', ORDERS)).toEqual([{ name: 'orders-api--v2', runningState: 'Running', healthState: 'Healthy', replicas: 2, active: true, trafficWeight: 100 }]);
  });

  it('when apps live in two subscriptions, then each is reached through its own subscription path', async () => {
    const before = arm.requests.length;
    expect((await apps.activeRevisions('confirm', BILLING)).map((r) => r.name)).toEqual(['billing--r1']);
    expect((await apps.activeRevisions('confirm', ORDERS)).map((r) => r.name)).toEqual(['orders-api--v2']);
    expect(arm.requests.slice(before).map((r) => r.path.split('/')[2])).toEqual([OTHER_SUB, SUB]);
  });

  it('when the client asks for a token, then the scope is the configured endpoint and no request leaves it', async () => {
    const scopes: string[][] = [];
    const recording: TokenCredential = {
      async getToken(scope: string | string[]): Promise<AccessToken> {
        scopes.push(Array.isArray(scope) ? scope : [scope]);
        return { token: ROTATOR_TOKEN, expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const before = arm.requests.length;
    await adapter(recording).revisionState('confirm', ORDERS, 'orders-api--v2');
    expect(scopes).toEqual([[`${arm.url}/.default`]]);
    expect(arm.requests.slice(before).map((r) => r.path)).toEqual([`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/orders-api/revisions/orders-api--v2`]);
  });
});

describe('restarting a revision', () => {
  it('when a revision is restarted, then ARM records it and its state moves from Activating to Running and Healthy on the emulator clock', async () => {
    await apps.restartRevision('propagate', ORDERS, 'orders-api--v2');
    expect(arm.restarts('orders-api').map((r) => [r.revision, r.at.getTime()])).toEqual([['orders-api--v2', now]]);

    expect(await apps.revisionState('confirm', ORDERS, 'orders-api--v2')).toMatchObject({ runningState: 'Activating', healthState: 'None', replicas: 0, active: true });
    now += ACTIVATION_MS;
    expect(await apps.revisionState('confirm', ORDERS, 'orders-api--v2')).toEqual({ name: 'orders-api--v2', runningState: 'Running', healthState: 'Healthy', replicas: 2, active: true, trafficWeight: 100 });
  });

  it('when a restarted revision comes back unhealthy, then its state says so however long confirm waits', async () => {
    arm.setRestartOutcome('checkout', 'checkout--green', 'Unhealthy');
    await apps.restartRevision('propagate', CHECKOUT, 'checkout--green');
    now += ACTIVATION_MS * 10;
    expect(await apps.revisionState('confirm', CHECKOUT, 'checkout--green')).toMatchObject({ runningState: 'Degraded', healthState: 'Unhealthy' });
  });

  it('when ARM answers 500 once, then the SDK retries and the restart happens exactly once', async () => {
    const restarts = arm.restarts('checkout').length;
    arm.inject({ status: 500, match: ContainerAppsEmulator.isRestart('checkout') });
    const before = arm.requests.length;
    await apps.restartRevision('propagate', CHECKOUT, 'checkout--blue');
    expect(statusesSince(before)).toEqual([500, 200]);
    expect(arm.restarts('checkout')).toHaveLength(restarts + 1);
  });
});

describe('errors', () => {
  it('when the app does not exist, then the error is permanent, names the app and is not retried', async () => {
    const before = arm.requests.length;
    const error = await failure(apps.activeRevisions('confirm', { ...ORDERS, app: 'ghost' }));
    expect(error).toMatchObject({ code: 'container-app-not-found', retryable: false, status: 404, stage: 'confirm' });
    expect(error.message).toBe(`confirm: listing revisions of container app ghost (resource group ${RG}, subscription ${SUB}) failed: ARM 404 ResourceNotFound`);
    expect(statusesSince(before)).toEqual([404]);
  });

  it('when the revision does not exist, then the restart fails permanently naming revision and app', async () => {
    const error = await failure(apps.restartRevision('propagate', ORDERS, 'orders-api--v9'));
    expect(error).toMatchObject({ code: 'container-app-not-found', retryable: false, status: 404 });
    expect(error.message).toContain('restarting revision orders-api--v9 of container app orders-api');
  });

  it('when ARM keeps answering 500 beyond the SDK retry budget, then the error is retryable', async () => {
    arm.inject({ status: 500, times: 10, match: ContainerAppsEmulator.isRestart('orders-api') });
    const before = arm.requests.length;
    const error = await failure(apps.restartRevision('propagate', ORDERS, 'orders-api--v2'));
    expect(error).toMatchObject({ code: 'container-apps-unavailable', retryable: true, status: 500 });
    expect(statusesSince(before)).toEqual([500, 500, 500, 500]);
  });

  it('when ARM throttles with 429 beyond the SDK retry budget, then the error is retryable', async () => {
    arm.inject({ status: 429, retryAfterSeconds: 0, times: 10 });
    const error = await failure(apps.activeRevisions('confirm', ORDERS));
    expect(error).toMatchObject({ code: 'container-apps-unavailable', retryable: true, status: 429 });
    expect(error.message).toContain('TooManyRequests');
  });

  it('when ARM drops every connection, then after the SDK retries the error is retryable and names the app', async () => {
    arm.inject({ drop: true, times: 10 });
    const error = await failure(apps.revisionState('confirm', ORDERS, 'orders-api--v2'));
    expect(error).toMatchObject({ code: 'container-apps-unavailable', retryable: true });
    expect(error.message).toContain('reading revision orders-api--v2 of container app orders-api');
  });

  it('when the principal may only read, then a restart is refused permanently naming the missing action', async () => {
    const reader = adapter(new StaticTokenCredential(READER_TOKEN));
    expect(await reader.activeRevisions('confirm', BILLING)).toHaveLength(1);
    const error = await failure(reader.restartRevision('propagate', BILLING, 'billing--r1'));
    expect(error).toMatchObject({ code: 'container-apps-forbidden', retryable: false, status: 403 });
    expect(error.message).toContain('Microsoft.App/containerApps/revisions/restart/action');
    expect(arm.restarts('billing')).toHaveLength(0);
  });

  it('when the token is unknown, then the error is permanent and carries no token', async () => {
    const error = await failure(adapter(new StaticTokenCredential(`arm-stolen-${randomBytes(16).toString('hex')}`)).activeRevisions('confirm', ORDERS));
    expect(error).toMatchObject({ code: 'container-apps-forbidden', retryable: false, status: 401 });
  });
});
