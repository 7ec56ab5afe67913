import { request } from 'node:https';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { AzureKeyCredential, AzureSASCredential, EventGridPublisherClient, generateSharedAccessSignature, type SendCloudEventInput } from '@azure/eventgrid';
import { EventGridEmulator } from '../src/local/emulators/event-grid';
import { loopbackCertificate } from '../src/local/tls';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';

interface RawResponse {
  status: number;
  body: { error?: { code: string; message: string; details: Array<{ code: string; message: string }> } };
}

let ca: string;
const cloudTopic = new EventGridEmulator();
const gridTopic = new EventGridEmulator({ inputSchema: 'EventGridSchema' });

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  await Promise.all([cloudTopic.start(), gridTopic.start()]);
});

afterAll(async () => {
  await Promise.all([cloudTopic.stop(), gridTopic.stop()]);
});

afterEach(() => {
  cloudTopic.clearFaults();
  cloudTopic.deliveries.length = 0;
  cloudTopic.requests.length = 0;
});

function cloudClient(credential: AzureKeyCredential | AzureSASCredential | TokenCredential = new AzureKeyCredential(cloudTopic.key)) {
  return new EventGridPublisherClient(cloudTopic.endpoint, 'CloudEvent', credential, loopbackAzureOptions(ca));
}

function rotationEvent(id: string): SendCloudEventInput<{ role: string }> {
  return { id, type: 'Rotator.PasswordRotated', source: '/rotator/app', subject: 'roles/app_user', data: { role: 'app_user' } };
}

/** A raw publish, for bodies and headers the SDK would never produce. */
function rawPublish(body: string, options: { contentType?: string; query?: string; key?: string } = {}): Promise<RawResponse> {
  const url = new URL(`${cloudTopic.endpoint}${options.query ?? '?api-version=2018-01-01'}`);
  const headers = { 'content-type': options.contentType ?? 'application/cloudevents-batch+json; charset=utf-8', 'aeg-sas-key': options.key ?? cloudTopic.key };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as RawResponse['body']) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function validEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id: 'e-1', source: '/rotator/app', type: 'Rotator.PasswordRotated', time: '2025-01-02T03:04:05.678Z', data: { ok: true }, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as { statusCode?: number; code?: string; message: string };
}

describe('EventGridEmulator through the real EventGridPublisherClient', () => {
  it('accepts a CloudEvent batch with the topic key and records every attribute', async () => {
    const binary: SendCloudEventInput<Uint8Array> = { id: 'b-1', type: 'Rotator.Blob', source: '/rotator/app', data: new Uint8Array([1, 2, 3]), datacontenttype: 'application/octet-stream', extensionAttributes: { attempt: 2, rotationid: 'r-9' } };
    await cloudClient().send([rotationEvent('a-1'), binary]);

    const [first, second] = cloudTopic.events<{ role: string }>();
    expect(cloudTopic.events()).toHaveLength(2);
    expect(first).toMatchObject({ specversion: '1.0', id: 'a-1', type: 'Rotator.PasswordRotated', source: '/rotator/app', subject: 'roles/app_user', datacontenttype: 'application/json', data: { role: 'app_user' }, extensions: {} });
    expect(Date.parse(first.time ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(second).toMatchObject({ id: 'b-1', data_base64: 'AQID', datacontenttype: 'application/octet-stream', extensions: { attempt: 2, rotationid: 'r-9' } });
    expect(second.data).toBeUndefined();
    expect(cloudTopic.deliveries[0].auth).toBe('key');
    expect(cloudTopic.requests[0].headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8');
    expect(cloudTopic.rawBodies().join('')).toContain('"app_user"');
  });

  it('accepts the second topic key and refuses a wrong one with 401 Unauthorized', async () => {
    await cloudClient(new AzureKeyCredential(cloudTopic.keys[1])).send([rotationEvent('k2')]);
    const error = await rejection(cloudClient(new AzureKeyCredential(Buffer.from('wrong key').toString('base64'))).send([rotationEvent('bad')]));

    expect(error.statusCode).toBe(401);
    expect(error.code).toBe('Unauthorized');
    expect(error.message).toContain('aeg-sas-key');
    expect(cloudTopic.events().map((e) => e.id)).toEqual(['k2']);
  });

  it('accepts a configured bearer token requested for the Event Grid audience, and refuses others', async () => {
    const scopes: string[][] = [];
    const recording: TokenCredential = {
      getToken: async (requested: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> => {
        scopes.push([requested].flat());
        return new StaticTokenCredential('mi-token-for-eventgrid').getToken();
      },
    };
    cloudTopic.acceptBearerToken('mi-token-for-eventgrid');
    await cloudClient(recording).send([rotationEvent('bearer-1')]);
    const error = await rejection(cloudClient(new StaticTokenCredential('some-other-token')).send([rotationEvent('bearer-2')]));

    expect(scopes[0]).toEqual(['https://eventgrid.azure.net/.default']);
    expect(cloudTopic.requests[0].headers.authorization).toBe('Bearer mi-token-for-eventgrid');
    expect(cloudTopic.deliveries.map((d) => d.auth)).toEqual(['bearer']);
    expect(error.statusCode).toBe(401);
    expect(cloudTopic.events().map((e) => e.id)).toEqual(['bearer-1']);
  });

  it('accepts a SAS token signed with the topic key and refuses an expired one', async () => {
    const sign = (expiresOn: Date) => generateSharedAccessSignature(cloudTopic.endpoint, new AzureKeyCredential(cloudTopic.key), expiresOn);
    await cloudClient(new AzureSASCredential(await sign(new Date(Date.now() + 600_000)))).send([rotationEvent('sas-1')]);
    const error = await rejection(cloudClient(new AzureSASCredential(await sign(new Date(Date.now() - 1_000)))).send([rotationEvent('sas-2')]));

    expect(cloudTopic.deliveries.map((d) => d.auth)).toEqual(['sas']);
    expect(error.statusCode).toBe(401);
    expect(error.message).toContain('expired');
  });

  it('refuses the Event Grid schema on a CloudEvents topic and CloudEvents on an Event Grid topic', async () => {
    const gridOnCloud = new EventGridPublisherClient(cloudTopic.endpoint, 'EventGrid', new AzureKeyCredential(cloudTopic.key), loopbackAzureOptions(ca));
    const cloudOnGrid = new EventGridPublisherClient(gridTopic.endpoint, 'CloudEvent', new AzureKeyCredential(gridTopic.key), loopbackAzureOptions(ca));
    const gridEvent = { eventType: 'Rotator.PasswordRotated', subject: 'roles/app_user', dataVersion: '1.0', data: { role: 'app_user' } };

    const first = await rejection(gridOnCloud.send([gridEvent]));
    const second = await rejection(cloudOnGrid.send([rotationEvent('wrong-topic')]));
    await new EventGridPublisherClient(gridTopic.endpoint, 'EventGrid', new AzureKeyCredential(gridTopic.key), loopbackAzureOptions(ca)).send([gridEvent]);

    expect(first.statusCode).toBe(400);
    expect(first.message).toContain("'CloudEventV10' schema");
    expect(second.statusCode).toBe(400);
    expect(second.message).toContain("'EventGridSchema' schema");
    expect(cloudTopic.events()).toHaveLength(0);
    expect(gridTopic.eventGridEvents()).toEqual([expect.objectContaining({ eventType: 'Rotator.PasswordRotated', subject: 'roles/app_user', dataVersion: '1.0', data: { role: 'app_user' } })]);
  });

  it('retries an injected 503 and a dropped connection, delivering each batch exactly once', async () => {
    cloudTopic.inject({ status: 503, retryAfterSeconds: 0 });
    await cloudClient().send([rotationEvent('after-503')]);
    cloudTopic.inject({ drop: true });
    await cloudClient().send([rotationEvent('after-drop')]);

    expect(cloudTopic.events().map((e) => e.id)).toEqual(['after-503', 'after-drop']);
    expect(cloudTopic.requests.map((r) => [r.status, r.faulted])).toEqual([[503, true], [200, false], [0, true], [200, false]]);
  });

  it('surfaces a persistent fault with the Event Grid error shape once retries run out', async () => {
    cloudTopic.inject({ status: 503, times: 10 });
    const error = await rejection(cloudClient().send([rotationEvent('never')]));

    expect(error.statusCode).toBe(503);
    expect(error.code).toBe('ServiceUnavailable');
    expect(error.message).toContain('to our forums for assistance');
    expect(cloudTopic.requests).toHaveLength(4);
    expect(cloudTopic.events()).toHaveLength(0);
  });
});

describe('EventGridEmulator validation of raw requests', () => {
  it('refuses an event without source, naming the property', async () => {
    const { source: _omitted, ...withoutSource } = validEvent();
    const response = await rawPublish(JSON.stringify([withoutSource]));

    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe('BadRequest');
    expect(response.body.error?.details[0].code).toBe('InputJsonInvalid');
    expect(response.body.error?.message).toContain("requires 'source' property");
    expect(cloudTopic.deliveries).toHaveLength(0);
  });

  it('refuses a wrong or missing api-version', async () => {
    const wrong = await rawPublish(JSON.stringify([validEvent()]), { query: '?api-version=2020-06-01' });
    const missing = await rawPublish(JSON.stringify([validEvent()]), { query: '' });

    expect(wrong.status).toBe(400);
    expect(wrong.body.error?.message).toContain("api-version '2020-06-01' is invalid");
    expect(missing.status).toBe(400);
    expect(missing.body.error?.message).toContain('api-version query parameter is required');
    expect(cloudTopic.deliveries).toHaveLength(0);
  });

  it('refuses a content type other than the CloudEvents ones', async () => {
    const response = await rawPublish(JSON.stringify([validEvent()]), { contentType: 'text/plain' });
    const latin1 = await rawPublish(JSON.stringify([validEvent()]), { contentType: 'application/cloudevents-batch+json; charset=iso-8859-1' });

    expect(response.status).toBe(400);
    expect(response.body.error?.details[0].code).toBe('InvalidContentType');
    expect(latin1.status).toBe(400);
  });

  it('accepts a single structured-mode event and refuses an array sent as application/json', async () => {
    const single = await rawPublish(JSON.stringify(validEvent({ id: 'single' })), { contentType: 'application/cloudevents+json; charset=utf-8' });
    const array = await rawPublish(JSON.stringify([validEvent()]), { contentType: 'application/json' });

    expect(single.status).toBe(200);
    expect(cloudTopic.events().map((e) => e.id)).toEqual(['single']);
    expect(array.status).toBe(400);
    expect(array.body.error?.message).toContain('Actual Token Received: StartArray');
  });

  it.each([
    ['a wrong specversion', [validEvent({ specversion: '0.3' })], "'specversion' must be '1.0'"],
    ['an empty id', [validEvent({ id: '' })], "'id' must not be empty"],
    ['a numeric type', [validEvent({ type: 7 })], "'type' must be a string"],
    ['a time that is not RFC 3339', [validEvent({ time: '2025-02-30T00:00:00Z' })], "'time' must be an RFC 3339 timestamp"],
    ['both data and data_base64', [validEvent({ data_base64: 'AQID' })], "both 'data' and 'data_base64'"],
    ['invalid base64', [validEvent({ data: undefined, data_base64: 'not base64!' })], "'data_base64' is not valid base64"],
    ['an upper-case extension name', [validEvent({ rotationId: 'r' })], "extension attribute name 'rotationId'"],
    ['an object extension value', [validEvent({ rotation: { id: 1 } })], "extension attribute 'rotation'"],
    ['a relative dataschema', [validEvent({ dataschema: 'schemas/v1' })], "'dataschema' must be an absolute URI"],
    ['an empty batch', [], 'contains no events'],
  ])('refuses %s with 400', async (_name, body, message) => {
    const response = await rawPublish(JSON.stringify(body));

    expect(response.status).toBe(400);
    expect(response.body.error?.message).toContain(message);
    expect(cloudTopic.deliveries).toHaveLength(0);
  });

  it('refuses malformed JSON, but checks the key before the body', async () => {
    const malformed = await rawPublish('[{"id":');
    const wrongKey = await rawPublish('[{"id":', { key: 'd3Jvbmc=' });

    expect(malformed.status).toBe(400);
    expect(malformed.body.error?.message).toContain('not valid JSON');
    expect(wrongKey.status).toBe(401);
  });

  it('refuses a batch over the size limit with 413', async () => {
    const small = new EventGridEmulator({ keys: [cloudTopic.key], maxBatchBytes: 2_000, maxEventBytes: 1_000 });
    await small.start();
    try {
      const client = new EventGridPublisherClient(small.endpoint, 'CloudEvent', new AzureKeyCredential(small.key), loopbackAzureOptions(ca));
      const big = (id: string, size: number): SendCloudEventInput<{ blob: string }> => ({ id, type: 't', source: '/s', data: { blob: 'x'.repeat(size) } });
      const oneTooBig = await rejection(client.send([big('one', 1_200)]));
      const batchTooBig = await rejection(client.send([big('a', 800), big('b', 800), big('c', 800)]));
      await client.send([big('fits', 500)]);

      expect(oneTooBig.statusCode).toBe(413);
      expect(oneTooBig.message).toContain('maximum size (1000)');
      expect(batchTooBig.statusCode).toBe(413);
      expect(batchTooBig.message).toContain('maximum size (2000)');
      expect(small.events().map((e) => e.id)).toEqual(['fits']);
    } finally {
      await small.stop();
    }
  });
});
