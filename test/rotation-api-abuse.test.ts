import { HttpRequest, type HttpResponse } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DurableHost } from '../src/local/durable-host';
import { startHarness, type Harness } from './support/harness';

function request(method: 'GET' | 'POST', path: string, opts: { body?: string; principal?: string } = {}) {
  const headers: Record<string, string> = opts.principal === undefined ? {} : { 'x-ms-client-principal': opts.principal };
  return new HttpRequest({ method, url: `http://localhost/api/${path}`, headers, body: opts.body === undefined ? undefined : { string: opts.body } });
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

/** Every header and the body of a response, as one text to scan. */
async function wholeResponse(response: HttpResponse): Promise<string> {
  return `${[...response.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${await response.text()}`;
}

describe('the rotation HTTP API against a caller holding only a function key', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { id: 'keyed-db', role: 'keyed_app' },
      { id: 'often-db', role: 'often_app' },
    ]);
  });
  afterAll(() => h?.stop());

  it('when any API call answers, then no header or body carries the Durable system key or a runtime/webhooks URL', async () => {
    const host = h.newHost();
    const systemKey = (host as unknown as { systemKey: string }).systemKey;
    expect(systemKey.length).toBeGreaterThan(16);
    const seen: string[] = [];
    const call = async (name: string, req: HttpRequest) => {
      const response = await host.invokeHttp(name, req);
      seen.push(`${name} ${response.status}\n${await wholeResponse(response)}`);
      return response;
    };
    expect((await call('rotationApiRotate', request('POST', 'credentials/keyed-db/rotate'))).status).toBe(202);
    expect((await call('rotationApiPropagate', request('POST', 'credentials/keyed-db/propagate'))).status).toBe(409);
    await host.waitForCompletion('rotate-keyed-db', { timeoutMs: 60_000 });
    expect((await call('rotationApiPropagate', request('POST', 'credentials/keyed-db/propagate', { body: '{"force": true}' }))).status).toBe(202);
    await host.waitForCompletion('rotate-keyed-db', { timeoutMs: 60_000 });
    await call('rotationApiStatus', request('GET', 'credentials/keyed-db/rotation'));
    await call('rotationApiList', request('GET', 'credentials'));
    await call('rotationApiRotate', request('POST', 'credentials/keyed-db/rotate'));
    await call('rotationApiRotate', request('POST', 'credentials/missing/rotate'));
    expect(seen).toHaveLength(7);
    for (const text of seen) {
      expect(text).not.toContain(systemKey);
      expect(text).not.toMatch(/runtime\/webhooks/i);
    }
  });

  it('when a credential completed a rotation less than minIntervalMinutes ago, then rotate and propagate get 429 with when it may run again, and force starts it', async () => {
    const host = h.newHost();
    expect((await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/often-db/rotate'))).status).toBe(202);
    const first = await host.waitForCompletion('rotate-often-db', { timeoutMs: 60_000 });
    const rotationId = (first.customStatus as { rotationId: string }).rotationId;

    for (const name of ['rotationApiRotate', 'rotationApiPropagate']) {
      const refused = await host.invokeHttp(name, request('POST', `credentials/often-db/${name === 'rotationApiRotate' ? 'rotate' : 'propagate'}`));
      expect(refused.status).toBe(429);
      const body = (await refused.json()) as { error: { code: string; message: string }; notBefore: string };
      // The status API reports times to the second.
      const sinceCompletion = Date.parse(body.notBefore) - new Date(first.lastUpdatedTime).getTime();
      expect(sinceCompletion).toBeGreaterThan(60 * 60_000 - 1000);
      expect(sinceCompletion).toBeLessThanOrEqual(60 * 60_000);
      expect(body.error).toEqual({ code: 'too-soon', message: `credential "often-db" completed a rotation less than 60 min ago; it may run again at ${body.notBefore}, or send {"force": true}` });
      expect(Number(refused.headers.get('retry-after'))).toBe(Math.ceil((Date.parse(body.notBefore) - h.deps.current.now().getTime()) / 1000));
    }
    const unchanged = await host.getStatus('rotate-often-db');
    expect((unchanged!.customStatus as { rotationId: string }).rotationId).toBe(rotationId);

    const forced = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/often-db/rotate', { body: '{"force": true}' }));
    expect(forced.status).toBe(202);
    const second = await host.waitForCompletion('rotate-often-db', { timeoutMs: 60_000 });
    expect(second.customStatus).toMatchObject({ outcome: 'succeeded' });
    expect((second.customStatus as { rotationId: string }).rotationId).not.toBe(rotationId);
  });

  it('when the id in the path is longer than 128 characters, then the 404 names its length and does not echo it', async () => {
    const host = h.newHost();
    const longId = 'x'.repeat(129);
    for (const [name, path] of [['rotationApiRotate', `credentials/${longId}/rotate`], ['rotationApiStatus', `credentials/${longId}/rotation`]] as const) {
      const req = request(name === 'rotationApiRotate' ? 'POST' : 'GET', path);
      req.params.id = longId;
      const response = await host.invokeHttp(name, req);
      expect(response.status).toBe(404);
      const text = await response.text();
      expect(text).not.toContain(longId);
      expect(JSON.parse(text)).toEqual({ error: { code: 'unknown-credential', message: 'no credential with id of 129 characters is configured' } });
    }
    const shortId = 'y'.repeat(128);
    const req = request('POST', `credentials/${shortId}/rotate`);
    req.params.id = shortId;
    expect(await (await host.invokeHttp('rotationApiRotate', req)).text()).toContain(shortId);
  });

  it('when the client principal is null, has claims that are not an array, or a null claim, then 401 and nothing starts', async () => {
    const current = h.deps.current;
    h.deps.current = { ...current, requiredAppRole: 'Rotation.Operator' };
    try {
      const host: DurableHost = h.newHost();
      const malformed = ['null', '{"claims": "roles"}', '{"claims": null}', '{"role_typ": "roles", "claims": [null]}', '{"claims": [{"typ": "roles", "val": 7}]}', '[]', '"text"'];
      for (const json of malformed) {
        const response = await host.invokeHttp('rotationApiRotate', request('POST', 'credentials/keyed-db/rotate', { principal: base64(json) }));
        expect({ json, status: response.status, body: await response.json() }).toEqual({ json, status: 401, body: { error: { code: 'unauthenticated', message: expect.stringContaining('principal') } } });
      }
      expect(host.listInstances()).toEqual([]);
    } finally {
      h.deps.current = current;
    }
  });
});
