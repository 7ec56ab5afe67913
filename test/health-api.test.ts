import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DurableHost } from '../src/local/durable-host';
import { startHarness, type Harness } from './support/harness';

/** GET /api/credentials/{id}/health, the health field of the list, and the driftCheck timer's registration. */

let h: Harness;
let host: DurableHost;

function request(method: 'GET' | 'POST', path: string, principal?: object) {
  const headers: Record<string, string> = principal ? { 'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64') } : {};
  return new HttpRequest({ method, url: `http://localhost/api/${path}`, headers });
}

beforeAll(async () => {
  h = await startHarness([{ id: 'api-db', role: 'api_app' }]);
  host = h.newHost();
}, 120_000);

afterAll(async () => h?.stop());

describe('health in the HTTP API', () => {
  it('registers the timer on its app setting and the two routes with the function key', () => {
    expect(host.registry.trigger('driftCheck')).toMatchObject({ type: 'timerTrigger', schedule: '%ROTATOR_DRIFT_SCHEDULE%' });
    expect(host.registry.trigger('rotationApiHealth')).toMatchObject({ type: 'httpTrigger', route: 'credentials/{id}/health', methods: ['GET'], authLevel: 'function' });
    expect(host.registry.trigger('rotationApiPreflight')).toMatchObject({ type: 'httpTrigger', route: 'credentials/{id}/preflight', methods: ['POST'], authLevel: 'function' });
  });

  it('when health is asked, then a fresh check answers with findings, and the list shows the health the last timer run recorded', async () => {
    const fresh = await host.invokeHttp('rotationApiHealth', request('GET', 'credentials/api-db/health'));
    expect(fresh.status).toBe(200);
    expect(await fresh.json()).toMatchObject({ credentialId: 'api-db', health: 'healthy', findings: [] });
    const before = (await (await host.invokeHttp('rotationApiList', request('GET', 'credentials'))).json()) as { credentials: { health: string | null }[] };
    expect(before.credentials[0].health).toBeNull();
    await host.invokeTimer('driftCheck');
    const after = (await (await host.invokeHttp('rotationApiList', request('GET', 'credentials'))).json()) as { credentials: { health: string | null }[] };
    expect(after.credentials[0].health).toBe('healthy');
  });

  it('when the credential is unknown, then 404 names it; a caller without the app role gets 403', async () => {
    const unknown = await host.invokeHttp('rotationApiHealth', request('GET', 'credentials/nope/health'));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'unknown-credential', message: 'no credential with id "nope" is configured' } });
    h.deps.current = { ...h.deps.current, requiredAppRole: 'Rotation.Operator' };
    try {
      const reader = { auth_typ: 'aad', role_typ: 'roles', claims: [{ typ: 'roles', val: 'Rotation.Reader' }] };
      expect((await host.invokeHttp('rotationApiPreflight', request('POST', 'credentials/api-db/preflight', reader))).status).toBe(403);
    } finally {
      h.deps.current = { ...h.deps.current, requiredAppRole: undefined };
    }
  });
});
