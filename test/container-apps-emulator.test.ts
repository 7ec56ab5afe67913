import { ContainerAppsAPIClient, type Revision } from '@azure/arm-appcontainers';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ContainerAppsEmulator, type RestartRecord } from '../src/local/emulators/container-apps';
import { loopbackContainerAppsClient, loopbackOnlyPolicy } from '../src/local/emulators/container-apps-client';
import { loopbackAzureOptions, loopbackFetch, StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'rg-rotator';
const ACTIVATION_MS = 10_000;
const RESTART = 'Microsoft.App/containerApps/revisions/restart/action';

let now = Date.parse('2026-05-01T10:00:00Z');
let arm: ContainerAppsEmulator;
let ca: string;
let client: ContainerAppsAPIClient;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  arm = await new ContainerAppsEmulator({
    clock: () => now,
    activationMs: ACTIVATION_MS,
    pageSize: 2,
    tokens: ['arm-token', { token: 'reader-token', objectId: 'reader-oid', actions: ['Microsoft.App/containerApps/read', 'Microsoft.App/containerApps/revisions/read'] }],
    apps: [
      {
        subscriptionId: SUB,
        resourceGroup: RG,
        name: 'orders-api',
        revisions: [{ name: 'orders-api--v1', active: false }, { name: 'orders-api--v2', active: false }, { name: 'orders-api--v3', replicas: 2 }],
      },
      { subscriptionId: SUB, resourceGroup: RG, name: 'flaky-worker', revisions: [{ name: 'flaky-worker--r1', outcome: 'Unhealthy' }] },
      { subscriptionId: SUB, resourceGroup: RG, name: 'batch', revisions: [{ name: 'batch--r1' }] },
    ],
  }).start();
  client = loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('arm-token'), SUB);
});

afterAll(async () => {
  await arm.stop();
});

beforeEach(() => {
  arm.clearFaults();
});

async function collect(app: string): Promise<Revision[]> {
  const revisions: Revision[] = [];
  for await (const revision of client.containerAppsRevisions.listRevisions(RG, app)) revisions.push(revision);
  return revisions;
}

async function restError(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; code?: string; message: string };
  }
  throw new Error('expected the call to fail');
}

function requestsTo(fragment: string): number {
  return arm.requests.filter((r) => r.path.includes(fragment)).length;
}

/** Records the scopes the client asks for, so a test can see which options it honoured. */
class RecordingCredential implements TokenCredential {
  readonly scopes: string[][] = [];
  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.scopes.push(Array.isArray(scopes) ? scopes : [scopes]);
    return { token: 'arm-token', expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

describe('reading apps and revisions through the real client', () => {
  it('gets the app with its latest revisions, mode and provisioning state', async () => {
    const app = await client.containerApps.get(RG, 'orders-api');
    expect(app).toMatchObject({ name: 'orders-api', latestRevisionName: 'orders-api--v3', latestReadyRevisionName: 'orders-api--v3', provisioningState: 'Succeeded' });
    expect(app.configuration?.activeRevisionsMode).toBe('Single');
    expect(arm.requests.at(-1)?.query.get('api-version')).toBe('2026-07-01');
  });

  it('lists revisions across pages with active, running, health, replicas and traffic', async () => {
    const before = requestsTo('/orders-api/revisions');
    const revisions = await collect('orders-api');
    expect(requestsTo('/orders-api/revisions') - before).toBe(2);
    expect(revisions.map((r) => [r.name, r.active, r.runningState, r.healthState, r.replicas, r.trafficWeight])).toEqual([
      ['orders-api--v1', false, 'Stopped', 'None', 0, 0],
      ['orders-api--v2', false, 'Stopped', 'None', 0, 0],
      ['orders-api--v3', true, 'Running', 'Healthy', 2, 100],
    ]);
    expect(revisions[2].createdTime).toBeInstanceOf(Date);
    expect(revisions[2].lastActiveTime).toBeInstanceOf(Date);
  });
});

describe('restarting a revision', () => {
  it('answers 200 and moves the revision from Activating to Running and Healthy on the clock', async () => {
    const heard: RestartRecord[] = [];
    const stop = arm.onRestart((restart) => void heard.push(restart));
    await expect(client.containerAppsRevisions.restartRevision(RG, 'orders-api', 'orders-api--v3')).resolves.toBeUndefined();
    stop();

    expect(arm.requests.at(-1)?.status).toBe(200);
    expect(arm.restarts('orders-api')).toEqual([{ subscriptionId: SUB, resourceGroup: RG, app: 'orders-api', revision: 'orders-api--v3', at: new Date(now), readyAt: new Date(now + ACTIVATION_MS), by: 'client' }]);
    expect(heard).toEqual(arm.restarts('orders-api'));

    const during = await client.containerAppsRevisions.getRevision(RG, 'orders-api', 'orders-api--v3');
    expect([during.runningState, during.healthState, during.replicas]).toEqual(['Activating', 'None', 0]);
    now += ACTIVATION_MS - 1;
    expect((await client.containerAppsRevisions.getRevision(RG, 'orders-api', 'orders-api--v3')).runningState).toBe('Activating');
    now += 1;
    const after = await client.containerAppsRevisions.getRevision(RG, 'orders-api', 'orders-api--v3');
    expect([after.runningState, after.healthState, after.replicas]).toEqual(['Running', 'Healthy', 2]);
  });

  it('leaves a never-healthy revision Degraded and Unhealthy however long the test waits', async () => {
    await client.containerAppsRevisions.restartRevision(RG, 'flaky-worker', 'flaky-worker--r1');
    expect(arm.restarts('flaky-worker').at(-1)?.readyAt).toBeUndefined();
    now += ACTIVATION_MS * 100;
    const [revision] = await collect('flaky-worker');
    expect([revision.active, revision.runningState, revision.healthState]).toEqual([true, 'Degraded', 'Unhealthy']);
  });

  it('applies a configured outcome at the next restart: Failed with a provisioning error', async () => {
    arm.setRestartOutcome('batch', 'batch--r1', 'Failed');
    expect(arm.revisionView('batch', 'batch--r1').runningState).toBe('Running');
    await client.containerAppsRevisions.restartRevision(RG, 'batch', 'batch--r1');
    now += ACTIVATION_MS;
    const revision = await client.containerAppsRevisions.getRevision(RG, 'batch', 'batch--r1');
    expect([revision.runningState, revision.healthState, revision.provisioningState]).toEqual(['Failed', 'Unhealthy', 'Failed']);
    expect(revision.provisioningError).toContain('crashing');
  });

  it('refuses to restart an inactive revision with 400', async () => {
    const error = await restError(client.containerAppsRevisions.restartRevision(RG, 'orders-api', 'orders-api--v1'));
    expect(error.statusCode).toBe(400);
    expect(arm.restarts('orders-api').some((r) => r.revision === 'orders-api--v1')).toBe(false);
  });

  it('moves through Processing in real time when configured so', async () => {
    const realTime = await new ContainerAppsEmulator({
      tokens: ['arm-token'],
      activationMs: 150,
      activatingState: 'Processing',
      apps: [{ subscriptionId: SUB, resourceGroup: RG, name: 'web', revisions: [{ name: 'web--a' }] }],
    }).start();
    try {
      const web = loopbackContainerAppsClient(realTime.url, ca, new StaticTokenCredential('arm-token'), SUB);
      await web.containerAppsRevisions.restartRevision(RG, 'web', 'web--a');
      expect((await web.containerAppsRevisions.getRevision(RG, 'web', 'web--a')).runningState).toBe('Processing');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await web.containerAppsRevisions.getRevision(RG, 'web', 'web--a')).runningState).toBe('Running');
    } finally {
      await realTime.stop();
    }
  });
});

describe('errors and how the SDK handles them', () => {
  it('answers 404 ResourceNotFound for an unknown app or revision, without retrying', async () => {
    const before = arm.requests.length;
    const app = await restError(client.containerApps.get(RG, 'nope'));
    const revision = await restError(client.containerAppsRevisions.getRevision(RG, 'orders-api', 'orders-api--v9'));
    expect([app.statusCode, app.code, revision.statusCode, revision.code]).toEqual([404, 'ResourceNotFound', 404, 'ResourceNotFound']);
    expect(app.message).toBe("The Resource 'Microsoft.App/containerApps/nope' under resource group 'rg-rotator' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix");
    expect(arm.requests.length - before).toBe(2);
  });

  it('answers 404 ResourceGroupNotFound for an unknown resource group', async () => {
    const error = await restError(client.containerApps.get('rg-missing', 'orders-api'));
    expect([error.statusCode, error.code]).toEqual([404, 'ResourceGroupNotFound']);
  });

  it('passes an injected 409 on restart straight to the caller and records no restart', async () => {
    const restarts = arm.restarts('batch').length;
    arm.inject({ status: 409, match: ContainerAppsEmulator.isRestart('batch') });
    const error = await restError(client.containerAppsRevisions.restartRevision(RG, 'batch', 'batch--r1'));
    expect([error.statusCode, error.code]).toEqual([409, 'Conflict']);
    expect(arm.requests.filter((r) => r.faulted && r.status === 409)).toHaveLength(1);
    expect(arm.restarts('batch')).toHaveLength(restarts);
  });

  it('retries an injected 500 and then succeeds; gives up after the retry budget', async () => {
    const restarts = arm.restarts('batch').length;
    arm.inject({ status: 500, match: ContainerAppsEmulator.isRestart('batch') });
    await client.containerAppsRevisions.restartRevision(RG, 'batch', 'batch--r1');
    const lastTwo = arm.requests.slice(-2).map((r) => [r.status, r.faulted]);
    expect(lastTwo).toEqual([[500, true], [200, false]]);
    expect(arm.restarts('batch')).toHaveLength(restarts + 1);

    const before = arm.requests.length;
    arm.inject({ status: 500, times: 4, match: ContainerAppsEmulator.isRestart('batch') });
    const error = await restError(client.containerAppsRevisions.restartRevision(RG, 'batch', 'batch--r1'));
    expect([error.statusCode, error.code]).toEqual([500, 'InternalServerError']);
    expect(arm.requests.length - before).toBe(4);
  });

  it('honours Retry-After on an injected 429', async () => {
    arm.inject({ status: 429, retryAfterSeconds: 1, match: (r) => r.path.endsWith('/containerApps/batch') });
    const started = Date.now();
    const app = await client.containerApps.get(RG, 'batch');
    expect(app.name).toBe('batch');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('answers 401 InvalidAuthenticationToken to an unknown token, once', async () => {
    const stranger = loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('stolen'), SUB);
    const before = arm.requests.length;
    const error = await restError(stranger.containerApps.get(RG, 'orders-api'));
    expect([error.statusCode, error.code]).toEqual([401, 'InvalidAuthenticationToken']);
    expect(arm.requests.length - before).toBe(1);
  });

  it('answers 401 AuthenticationFailed with a challenge when there is no Authorization header', async () => {
    const response = await loopbackFetch(ca)(`${arm.url}/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/batch?api-version=2026-07-01`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await response.json()).toMatchObject({ error: { code: 'AuthenticationFailed' } });
  });

  it('answers 403 AuthorizationFailed to a reader that tries to restart', async () => {
    const reader = loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('reader-token'), SUB);
    expect((await reader.containerApps.get(RG, 'batch')).name).toBe('batch');
    const error = await restError(reader.containerAppsRevisions.restartRevision(RG, 'batch', 'batch--r1'));
    expect([error.statusCode, error.code]).toEqual([403, 'AuthorizationFailed']);
    expect(error.message).toContain(RESTART);
  });

  it('answers 400 InvalidApiVersionParameter to an api-version ARM does not serve', async () => {
    const options = loopbackAzureOptions(ca);
    const old = new ContainerAppsAPIClient(new StaticTokenCredential('arm-token'), SUB, {
      ...options, endpoint: arm.url, apiVersion: '2023-05-01', additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(), position: 'perCall' }],
    });
    const error = await restError(old.containerApps.get(RG, 'batch'));
    expect([error.statusCode, error.code]).toEqual([400, 'InvalidApiVersionParameter']);
    expect(error.message).toContain("'2023-05-01'");
  });
});

describe('client options', () => {
  it('uses `endpoint` and `credentials.scopes` (v4 names)', async () => {
    const credential = new RecordingCredential();
    const options = loopbackAzureOptions(ca);
    const seen: string[] = [];
    const v4 = new ContainerAppsAPIClient(credential, SUB, {
      ...options, endpoint: arm.url, credentials: { scopes: ['https://management.core.windows.net//.default'] },
      additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(seen), position: 'perCall' }],
    });
    const before = arm.requests.length;
    await v4.containerApps.get(RG, 'batch');
    expect(seen.every((url) => url.startsWith(`${arm.url}/subscriptions/${SUB}/`))).toBe(true);
    expect(arm.requests.length - before).toBe(1);
    expect(credential.scopes).toEqual([['https://management.core.windows.net//.default']]);
  });

  it('ignores the v3 names `baseUri`/`credentialScopes` and would call the real ARM endpoint', async () => {
    const credential = new RecordingCredential();
    const options = loopbackAzureOptions(ca);
    const seen: string[] = [];
    const v3Style = { ...options, baseUri: arm.url, credentialScopes: ['https://example.invalid/.default'], additionalPolicies: [...options.additionalPolicies, { policy: loopbackOnlyPolicy(seen), position: 'perCall' as const }] };
    const misconfigured = new ContainerAppsAPIClient(credential, SUB, v3Style as ConstructorParameters<typeof ContainerAppsAPIClient>[2]);
    const before = arm.requests.length;
    const error = await restError(misconfigured.containerApps.get(RG, 'batch'));
    expect(error.message).toContain('refusing to send a request outside the loopback test bed');
    expect(seen[0]).toMatch(/^https:\/\/management\.azure\.com\/subscriptions\//);
    expect(arm.requests.length).toBe(before);
  });
});
