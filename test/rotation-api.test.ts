import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurableHost } from '../src/local/durable-host';
import { startHarness, type Harness } from './support/harness';

function request(method: 'GET' | 'POST', path: string, opts: { body?: string; principal?: object } = {}) {
  const headers: Record<string, string> = {};
  if (opts.principal) headers['x-ms-client-principal'] = Buffer.from(JSON.stringify(opts.principal)).toString('base64');
  return new HttpRequest({ method, url: `http://localhost/api/${path}`, headers, body: opts.body === undefined ? undefined : { string: opts.body } });
}

const operator = { auth_typ: 'aad', role_typ: 'roles', claims: [{ typ: 'roles', val: 'Rotation.Operator' }] };
const reader = { auth_typ: 'aad', role_typ: 'roles', claims: [{ typ: 'roles', val: 'Rotation.Reader' }] };

describe('the rotation HTTP API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'api-db', role: 'api_app' },
      { id: 'slow-db', role: 'slow_app' },
      { id: 'guarded-db', role: 'guarded_app' },
      { id: 'busy-db', role: 'busy_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('registers each trigger with its route, methods, schedule and auth level', () => {
    const host = h.newHost();
    expect(host.registry.trigger('rotationApiRotate')).toMatchObject({ type: 'httpTrigger', route: 'credentials/{id}/rotate', methods: ['POST'], authLevel: 'function' });
    expect(host.registry.trigger('rotationApiList')).toMatchObject({ type: 'httpTrigger', route: 'credentials', methods: ['GET'], authLevel: 'function' });
    expect(host.registry.trigger('rotationApiStatus')).toMatchObject({ type: 'httpTrigger', route: 'credentials/{id}/rotation', methods: ['GET'], authLevel: 'function' });
    expect(host.registry.trigger('scheduledRotation')).toMatchObject({ type: 'timerTrigger', schedule: '%ROTATOR_SCHEDULE%' });
    expect(host.registry.trigger('keyVaultEvents')).toMatchObject({ type: 'eventGridTrigger' });
  });

  it('when a rotation is requested, then 202 points at the rotation endpoint, which then shows its stages and no secret', async () => {
    const host = h.newHost();
    const response = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/api-db/rotate'));
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe('/api/credentials/api-db/rotation');
    expect(await response.json()).toEqual({ id: 'rotate-api-db', instanceId: 'rotate-api-db', credentialId: 'api-db', mode: 'rotate', statusUri: '/api/credentials/api-db/rotation' });
    await host.waitForCompletion('rotate-api-db', { timeoutMs: 60_000 });

    const shown = await host.invokeHttp('rotationApiStatus', request('GET', 'credentials/api-db/rotation'));
    const text = await shown.text();
    expect(shown.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ instanceId: 'rotate-api-db', runtimeStatus: 'Completed', rotation: { outcome: 'succeeded', stage: 'done' } });
    expect(JSON.parse(text).rotation.stages.map((s: { stage: string }) => s.stage)).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'grace', 'retire']);
    expect(text).not.toContain(h.liveValue('api-db'));
  });

  it('when credentials are listed, then each shows its live version, rotation and expiry dates, next due and last result', async () => {
    const host = h.newHost();
    await h.rotate(host, 'api-db');
    const response = await host.invokeHttp('rotationApiList', request('GET', 'credentials'));
    const body = (await response.json()) as { credentials: Record<string, unknown>[] };
    const api = body.credentials.find((c) => c.id === 'api-db')!;
    const live = h.env.vault.versions('api-db-password').at(-1)!;
    expect(api).toMatchObject({ strategy: 'single-user', role: 'api_app', liveVersion: live.version, expiresOn: live.expiresOn!.toISOString(), lastResult: { runtimeStatus: 'Completed', outcome: 'succeeded' } });
    expect(Date.parse(api.nextDue as string) - Date.parse(api.rotatedAt as string)).toBe(90 * 86_400_000);
    expect(body.credentials.find((c) => c.id === 'slow-db')).toMatchObject({ lastResult: null });
  });

  it('when the id is unknown, the body is not empty JSON, or a rotation is already running, then 404, 400 and 409 say so and nothing new starts', async () => {
    // Real time: the rotation waits out its 15-minute grace timer, so it is surely running.
    const host = new DurableHost({ registry: h.newHost().registry, clock: 'real' });
    try {
      expect((await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/nope/rotate'))).status).toBe(404);
      expect((await host.invokeHttp('rotationApiStatus', request('GET', 'credentials/slow-db/rotation'))).status).toBe(404);
      const bad = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/slow-db/rotate', { body: '{"dryRun": true}' }));
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: 'bad-request', message: expect.stringContaining('dryRun') } });
      expect((await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/slow-db/rotate', { body: '{"force": "yes"}' }))).status).toBe(400);
      expect(host.listInstances()).toEqual([]);

      expect((await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/slow-db/rotate', { body: '{}' }))).status).toBe(202);
      const again = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/slow-db/rotate'));
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ error: { code: 'rotation-running' }, instanceId: 'rotate-slow-db', runtimeStatus: 'Running' });
      expect(host.listInstances()).toHaveLength(1);
    } finally {
      await host.terminate('rotate-slow-db', 'test over').catch(() => undefined);
      await host.close();
    }
  });

  it('when an app role is required, then a call without a principal gets 401, one without the role 403, and neither starts anything', async () => {
    const base = h.deps.current;
    h.deps.current = { ...base, requiredAppRole: 'Rotation.Operator' };
    try {
      const host = h.newHost();
      const anonymous = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/guarded-db/rotate'));
      const wrongRole = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/guarded-db/rotate', { principal: reader }));
      const listing = await host.invokeHttp('rotationApiList', request('GET', 'credentials', { principal: reader }));
      expect([anonymous.status, wrongRole.status, listing.status]).toEqual([401, 403, 403]);
      expect(await wrongRole.json()).toMatchObject({ error: { code: 'forbidden', message: 'the caller does not hold the app role Rotation.Operator' } });
      expect(host.listInstances()).toEqual([]);
      const allowed = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/guarded-db/rotate', { principal: operator }));
      expect(allowed.status).toBe(202);
      await host.waitForCompletion('rotate-guarded-db', { timeoutMs: 60_000 });
    } finally {
      h.deps.current = base;
    }
  });
});
