import { request } from 'node:https';
import { RestError } from '@azure/core-rest-pipeline';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyVaultEmulator, vaultRequest, type KeyVaultEmulatorOptions, type VaultRequestEvent } from '../src/local/emulators/key-vault';
import { createLocalSecretClient } from '../src/local/key-vault-client';

const running: KeyVaultEmulator[] = [];

async function startVault(options: KeyVaultEmulatorOptions = {}): Promise<KeyVaultEmulator> {
  const vault = await new KeyVaultEmulator(options).start();
  running.push(vault);
  return vault;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((v) => v.stop()));
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string }; [key: string]: unknown };
}

/** A plain HTTPS request, for what the SDK would never send. */
function raw(vault: KeyVaultEmulator, method: string, path: string, opts: { token?: string; body?: string } = {}): Promise<RawResponse> {
  const url = new URL(vault.url);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers, ca: vault.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} });
      });
    });
    req.on('error', reject);
    req.end(opts.body ?? '');
  });
}

async function restError(promise: Promise<unknown>): Promise<RestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RestError);
  return error as RestError;
}

function innerCode(error: RestError): string | undefined {
  return (error.details as { error?: { innerError?: { code?: string } } } | undefined)?.error?.innerError?.code;
}

function attempts(vault: KeyVaultEmulator, operation: Parameters<typeof vaultRequest>[0]['operation'], name: string): number {
  const matches = vaultRequest({ operation, name });
  return vault.requests.filter((r) => matches(r) && r.headers.authorization !== undefined).length;
}

const HEX32 = /^[0-9a-f]{32}$/;

describe('Key Vault emulator: secrets through the real SecretClient', () => {
  it('sets a secret and reads the latest version and each version by id', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);

    const first = await client.setSecret('db-password', 'first-value');
    const second = await client.setSecret('db-password', 'second-value');

    expect(first.properties.version).toMatch(HEX32);
    expect(first.properties.id).toBe(`${vault.url}/secrets/db-password/${first.properties.version}`);
    expect(first.value).toBe('first-value');
    expect(first.properties.enabled).toBe(true);
    expect(first.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(first.properties.recoverableDays).toBe(90);
    expect(first.properties.createdOn).toBeInstanceOf(Date);
    expect((await client.getSecret('db-password')).value).toBe('second-value');
    expect((await client.getSecret('db-password', { version: first.properties.version! })).value).toBe('first-value');
    expect(vault.versions('db-password').map((v) => [v.version, v.value])).toEqual([
      [first.properties.version, 'first-value'],
      [second.properties.version, 'second-value'],
    ]);
    expect(vault.currentValue('db-password')).toBe('second-value');
    // The SDK asks for the latest version with a trailing slash and a percent-encoded query key.
    expect(vault.requests.some((r) => r.method === 'GET' && r.path === '/secrets/db-password/' && r.status === 200)).toBe(true);
  });

  it('round-trips tags, content type, activation and expiry as whole Unix seconds', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    const expiresOn = new Date(Date.now() + 86_400_000 + 789);
    const notBefore = new Date(Date.now() - 60_000 + 123);

    await client.setSecret('api-key', 'k', { tags: { owner: 'rotator', role: 'app' }, contentType: 'text/plain', expiresOn, notBefore });
    const read = await client.getSecret('api-key');

    expect(read.properties.tags).toEqual({ owner: 'rotator', role: 'app' });
    expect(read.properties.contentType).toBe('text/plain');
    expect(read.properties.expiresOn?.getTime()).toBe(Math.floor(expiresOn.getTime() / 1000) * 1000);
    expect(read.properties.notBefore?.getTime()).toBe(Math.floor(notBefore.getTime() / 1000) * 1000);
    const put = vault.requests.find((r) => r.method === 'PUT' && r.rawBody !== '');
    expect(JSON.parse(put?.rawBody ?? '{}').attributes.exp).toBe(Math.floor(expiresOn.getTime() / 1000));
    expect(vault.versions('api-key')[0]).toMatchObject({ tags: { owner: 'rotator', role: 'app' }, expiresOn: read.properties.expiresOn, enabled: true });
  });

  it('updates properties: a disabled version is refused with 403 SecretDisabled, and can be re-enabled', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    const old = await client.setSecret('db-password', 'old');
    await client.setSecret('db-password', 'new');

    const updated = await client.updateSecretProperties('db-password', old.properties.version!, { enabled: false, tags: { state: 'retired' } });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ state: 'retired' });
    expect(updated).not.toHaveProperty('value');

    const refused = await restError(client.getSecret('db-password', { version: old.properties.version! }));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe('Forbidden');
    expect(refused.message).toBe('Operation get is not allowed on a disabled secret.');
    expect(innerCode(refused)).toBe('SecretDisabled');
    expect((await client.getSecret('db-password')).value).toBe('new');

    await client.updateSecretProperties('db-password', old.properties.version!, { enabled: true });
    expect((await client.getSecret('db-password', { version: old.properties.version! })).value).toBe('old');
    expect(vault.versions('db-password').map((v) => v.tags)).toEqual([{ state: 'retired' }, {}]);
  });

  it('refuses to read the latest version when that version is disabled', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    const only = await client.setSecret('db-password', 'v');
    await client.updateSecretProperties('db-password', only.properties.version!, { enabled: false });

    const refused = await restError(client.getSecret('db-password'));
    expect(refused.statusCode).toBe(403);
    expect(innerCode(refused)).toBe('SecretDisabled');
  });

  it('lists versions across several pages, following absolute nextLinks', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    const seeded = Array.from({ length: 30 }, (_, i) => vault.seed('db-password', `value-${i}`));

    const listed: string[] = [];
    for await (const props of client.listPropertiesOfSecretVersions('db-password')) listed.push(props.version!);
    expect(listed.sort()).toEqual([...seeded].sort());

    const pageSizes: number[] = [];
    for await (const page of client.listPropertiesOfSecretVersions('db-password').byPage({ maxPageSize: 7 })) pageSizes.push(page.length);
    expect(pageSizes).toEqual([7, 7, 7, 7, 2]);
    const followUps = vault.requests.filter((r) => r.path === '/secrets/db-password/versions' && r.query.has('$skiptoken'));
    expect(followUps.length).toBeGreaterThanOrEqual(5);
    expect(followUps.every((r) => r.status === 200 && r.query.get('api-version') === '2025-07-01')).toBe(true);

    const firstPage = await raw(vault, 'GET', '/secrets/db-password/versions?api-version=7.5&maxresults=25', { token: vault.adminToken });
    expect(firstPage.body.nextLink).toMatch(new RegExp(`^${vault.url.replace(/\./g, '\\.')}/secrets/db-password/versions\\?api-version=7\\.5&`));
  });

  it('lists secrets across pages, without deleted ones', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    for (let i = 0; i < 27; i++) vault.seed(`secret-${String(i).padStart(2, '0')}`, 'v');
    await (await client.beginDeleteSecret('secret-00', { intervalInMs: 10 })).pollUntilDone();

    const names: string[] = [];
    for await (const props of client.listPropertiesOfSecrets()) names.push(props.name);
    expect(names).toHaveLength(26);
    expect(names).not.toContain('secret-00');
    const deleted: string[] = [];
    for await (const d of client.listDeletedSecrets()) deleted.push(d.name);
    expect(deleted).toEqual(['secret-00']);
  });

  it('soft-deletes with polling, recovers, and writes the recovered secret again', async () => {
    const vault = await startVault({ softDeleteLatencyMs: 150 });
    const client = createLocalSecretClient(vault);
    await client.setSecret('db-password', 'before-delete');

    const deleting = await client.beginDeleteSecret('db-password', { intervalInMs: 20 });
    const deleted = await deleting.pollUntilDone();
    expect(deleted.recoveryId).toBe(`${vault.url}/deletedsecrets/db-password`);
    expect(deleted.deletedOn).toBeInstanceOf(Date);
    expect(deleted.scheduledPurgeDate!.getTime() - deleted.deletedOn!.getTime()).toBe(90 * 86_400_000);
    const polls = vault.requests.filter((r) => r.method === 'GET' && r.path === '/deletedsecrets/db-password' && r.headers.authorization);
    expect(polls.map((r) => r.status)).toContain(404);
    expect(polls.at(-1)?.status).toBe(200);
    expect(vault.isDeleted('db-password')).toBe(true);
    expect((await restError(client.getSecret('db-password'))).statusCode).toBe(404);

    const recovering = await client.beginRecoverDeletedSecret('db-password', { intervalInMs: 20 });
    const recovered = await recovering.pollUntilDone();
    expect(recovered.name).toBe('db-password');
    // Recovery is not instant either: the poller saw the secret missing before it came back.
    const recoverAt = vault.requests.findIndex((r) => r.path === '/deletedsecrets/db-password/recover' && r.status === 200);
    const recoveryPolls = vault.requests.slice(recoverAt + 1).filter((r) => r.method === 'GET' && r.path === '/secrets/db-password/');
    expect(recoverAt).toBeGreaterThan(0);
    expect(recoveryPolls[0].status).toBe(404);
    expect(recoveryPolls.at(-1)?.status).toBe(200);
    expect(vault.isDeleted('db-password')).toBe(false);
    expect((await client.getSecret('db-password')).value).toBe('before-delete');
    await client.setSecret('db-password', 'after-recover');
    expect(vault.versions('db-password').map((v) => v.value)).toEqual(['before-delete', 'after-recover']);
  });

  it('refuses to reuse the name of a deleted but recoverable secret with 409 Conflict', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    await client.setSecret('db-password', 'v1');
    await (await client.beginDeleteSecret('db-password', { intervalInMs: 10 })).pollUntilDone();

    const conflict = await restError(client.setSecret('db-password', 'v2'));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');
    expect(conflict.message).toBe(
      'Secret db-password is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.',
    );
    expect(innerCode(conflict)).toBe('ObjectIsDeletedButRecoverable');
    expect(vault.versions('db-password').map((v) => v.value)).toEqual(['v1']);
  });

  it('purges a deleted secret so its name is free again', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    await client.setSecret('db-password', 'old');
    await (await client.beginDeleteSecret('db-password', { intervalInMs: 10 })).pollUntilDone();

    await client.purgeDeletedSecret('db-password');
    const gone = await restError(client.getDeletedSecret('db-password'));
    expect(gone.statusCode).toBe(404);
    expect(gone.message).toBe('Deleted Secret not found: db-password');
    await client.setSecret('db-password', 'fresh');
    expect(vault.versions('db-password').map((v) => v.value)).toEqual(['fresh']);
  });

  it('refuses to purge on a purge-protected vault', async () => {
    const vault = await startVault({ purgeProtection: true });
    const client = createLocalSecretClient(vault);
    const set = await client.setSecret('db-password', 'v');
    expect(set.properties.recoveryLevel).toBe('Recoverable');
    await (await client.beginDeleteSecret('db-password', { intervalInMs: 10 })).pollUntilDone();

    const refused = await restError(client.purgeDeletedSecret('db-password'));
    expect(refused.statusCode).toBe(403);
    expect(refused.message).toMatch(/^Operation "purge" is not allowed because purge protection is enabled for this vault/);
    expect(vault.isDeleted('db-password')).toBe(true);
  });

  it('treats secret names case-insensitively and keeps the name as first written', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    vault.seed('Api-Key', 'seeded');

    const read = await client.getSecret('api-key');
    expect(read.value).toBe('seeded');
    expect(read.name).toBe('Api-Key');
    await client.setSecret('API-KEY', 'second');
    expect(vault.versions('api-key').map((v) => v.value)).toEqual(['seeded', 'second']);
  });
});

describe('Key Vault emulator: rejects what Key Vault rejects', () => {
  it('answers a request without a token with the 401 bearer challenge, even with an empty PUT body', async () => {
    const vault = await startVault({ tenantId: '11111111-2222-3333-4444-555555555555' });

    for (const [method, path] of [
      ['GET', '/secrets/db-password/?api-version=7.5'],
      ['PUT', '/secrets/db-password?api%2Dversion=2025-07-01'],
    ]) {
      const res = await raw(vault, method, path);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(
        'Bearer authorization="https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555", resource="https://vault.azure.net"',
      );
      expect(res.body.error).toEqual({ code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' });
    }
  });

  it('refuses an unknown token with 401, after the SDK has answered the challenge', async () => {
    const vault = await startVault();
    vault.seed('db-password', 'v');
    const client = createLocalSecretClient(vault, 'a-token-this-vault-never-issued');

    const refused = await restError(client.getSecret('db-password'));
    expect(refused.statusCode).toBe(401);
    expect(refused.code).toBe('Unauthorized');
    expect(vault.requests.some((r) => r.headers.authorization === 'Bearer a-token-this-vault-never-issued')).toBe(true);
  });

  it('refuses a token without the set permission with 403 and the access-policy message', async () => {
    const vault = await startVault({ tokens: { 'reader-token': ['get', 'list'] } });
    vault.seed('db-password', 'original');
    const reader = createLocalSecretClient(vault, 'reader-token');

    expect((await reader.getSecret('db-password')).value).toBe('original');
    const refused = await restError(reader.setSecret('db-password', 'intruder'));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe('Forbidden');
    expect(refused.message).toMatch(
      new RegExp(
        `^The user, group or application 'appid=[0-9a-f-]{36};oid=[0-9a-f-]{36};iss=https://sts\\.windows\\.net/${vault.tenantId}/' does not have secrets set permission on key vault 'local-vault;location=local'\\. For help resolving this issue`,
      ),
    );
    expect(innerCode(refused)).toBe('AccessDenied');
    expect(vault.currentValue('db-password')).toBe('original');
  });

  it('refuses an unknown api-version with 400 BadParameter and accepts the percent-encoded key', async () => {
    const vault = await startVault();
    vault.seed('db-password', 'v');

    const wrong = await raw(vault, 'GET', '/secrets/db-password/?api-version=7.9', { token: vault.adminToken });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toEqual({ code: 'BadParameter', message: 'The specified version (7.9) is not recognized. Consider using the latest supported version (2025-07-01).' });
    const missing = await raw(vault, 'GET', '/secrets/db-password/', { token: vault.adminToken });
    expect(missing.status).toBe(400);
    const encoded = await raw(vault, 'GET', '/secrets/db-password/?api%2Dversion=7.5', { token: vault.adminToken });
    expect(encoded.status).toBe(200);
    expect(encoded.body.value).toBe('v');

    const pinned = createLocalSecretClient(vault, undefined, { serviceVersion: '7.5' });
    expect((await pinned.getSecret('db-password')).value).toBe('v');
    expect(vault.requests.at(-1)?.query.get('api-version')).toBe('7.5');
  });

  it('refuses a malformed body with 400 BadParameter and stores nothing', async () => {
    const vault = await startVault();
    const bodies = ['not json', '[]', '{"value":42}', '{"contentType":"text/plain"}', '{"value":"x","attributes":{"exp":"tomorrow"}}', '{"value":"x","tags":{"n":1}}'];

    for (const body of bodies) {
      const res = await raw(vault, 'PUT', '/secrets/db-password?api-version=7.5', { token: vault.adminToken, body });
      expect(res.status, body).toBe(400);
      expect(res.body.error?.code, body).toBe('BadParameter');
    }
    expect(vault.versions('db-password')).toEqual([]);
  });

  it('refuses an invalid secret name with 400 BadParameter', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);

    for (const name of ['bad_name', 'has space', 'x'.repeat(128)]) {
      const refused = await restError(client.setSecret(name, 'v'));
      expect(refused.statusCode, name).toBe(400);
      expect(refused.code, name).toBe('BadParameter');
    }
    expect(vault.secretNames()).toEqual([]);
    expect((await client.setSecret('x'.repeat(127), 'v')).name).toHaveLength(127);
  });

  it('answers an unknown secret or version with 404 SecretNotFound and the service message', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    vault.seed('db-password', 'v');

    const noSecret = await restError(client.getSecret('missing'));
    expect(noSecret.statusCode).toBe(404);
    expect(noSecret.code).toBe('SecretNotFound');
    expect(noSecret.message).toMatch(/^A secret with \(name\/id\) missing was not found in this key vault\./);
    const version = 'a'.repeat(32);
    const noVersion = await restError(client.getSecret('db-password', { version }));
    expect(noVersion.statusCode).toBe(404);
    expect(noVersion.message).toContain(`(name/id) db-password/${version} was not found`);
  });
});

describe('Key Vault emulator: injected faults', () => {
  async function warmClient(vault: KeyVaultEmulator) {
    const client = createLocalSecretClient(vault);
    vault.seed('db-password', 'v');
    // The first request of a client is the challenge round trip; get it out of the way.
    await client.getSecret('db-password');
    return client;
  }

  it('retries a 429 after its Retry-After and then succeeds', async () => {
    const vault = await startVault();
    const client = await warmClient(vault);
    vault.inject({ match: vaultRequest({ operation: 'setSecret' }), status: 429, retryAfterSeconds: 1 });

    const started = Date.now();
    const set = await client.setSecret('db-password', 'after-throttle');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(set.value).toBe('after-throttle');
    const puts = vault.requests.filter(vaultRequest({ operation: 'setSecret' }));
    expect(puts.map((r) => r.status)).toEqual([429, 200]);
    expect(puts[0].faulted).toBe(true);
  });

  it('retries 503s and writes the secret exactly once', async () => {
    const vault = await startVault();
    const client = await warmClient(vault);
    vault.inject({ match: vaultRequest({ operation: 'setSecret' }), status: 503, times: 2 });

    await client.setSecret('db-password', 'after-outage');
    expect(attempts(vault, 'setSecret', 'db-password')).toBe(3);
    expect(vault.versions('db-password').map((v) => v.value)).toEqual(['v', 'after-outage']);
  });

  it('retries a dropped connection', async () => {
    const vault = await startVault();
    const client = await warmClient(vault);
    vault.inject({ match: vaultRequest({ operation: 'getSecret', name: 'db-password' }), drop: true });

    expect((await client.getSecret('db-password')).value).toBe('v');
    const gets = vault.requests.filter(vaultRequest({ operation: 'getSecret' })).slice(-2);
    expect(gets.map((r) => r.status)).toEqual([0, 200]);
  });

  it('surfaces a permanent 403 at once, without retrying', async () => {
    const vault = await startVault();
    const client = await warmClient(vault);
    const before = attempts(vault, 'getSecret', 'db-password');
    vault.inject({ match: vaultRequest({ operation: 'getSecret' }), status: 403, times: 5 });

    const refused = await restError(client.getSecret('db-password'));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe('Forbidden');
    expect(attempts(vault, 'getSecret', 'db-password') - before).toBe(1);
  });

  it('gives injected faults the service error shape', async () => {
    const vault = await startVault();
    vault.inject({ status: 429, retryAfterSeconds: 3 });

    const res = await raw(vault, 'GET', '/secrets?api-version=7.5', { token: vault.adminToken });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.body.error?.code).toBe('Throttled');
  });
});

describe('Key Vault emulator: inspection for tests', () => {
  it('reports the moment a secret is written, with the new value already current', async () => {
    const vault = await startVault();
    const client = createLocalSecretClient(vault);
    const seen: Array<VaultRequestEvent & { valueThen?: string }> = [];
    const stop = vault.onRequest((event) => {
      if (event.operation === 'setSecret') seen.push({ ...event, valueThen: vault.currentValue('db-password') });
    });

    const before = Date.now();
    const set = await client.setSecret('db-password', 'rotated');
    stop();
    await client.setSecret('db-password', 'unobserved');

    const written = seen.filter((e) => e.status === 200);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ method: 'PUT', path: '/secrets/db-password', secretName: 'db-password', version: set.properties.version, valueThen: 'rotated' });
    expect(written[0].at.getTime()).toBeGreaterThanOrEqual(before);
    // The challenge round trip is visible too: a 401 for the same operation before the write.
    expect(seen[0].status).toBe(401);
  });

  it('follows a virtual clock for timestamps and purges deleted secrets after the retention period', async () => {
    let clock = Date.UTC(2030, 0, 1);
    const vault = await startVault({ now: () => clock, softDeleteRetentionDays: 7 });
    const client = createLocalSecretClient(vault);

    const set = await client.setSecret('db-password', 'v');
    expect(set.properties.createdOn?.getTime()).toBe(clock);
    expect(set.properties.recoveryLevel).toBe('CustomizedRecoverable+Purgeable');
    clock += 60_000;
    const updated = await client.updateSecretProperties('db-password', set.properties.version!, { tags: { t: '1' } });
    expect(updated.updatedOn?.getTime()).toBe(clock);
    await (await client.beginDeleteSecret('db-password', { intervalInMs: 10 })).pollUntilDone();
    expect(vault.isDeleted('db-password')).toBe(true);

    clock += 7 * 86_400_000;
    expect(vault.isDeleted('db-password')).toBe(false);
    expect(vault.versions('db-password')).toEqual([]);
    expect((await client.setSecret('db-password', 'reborn')).value).toBe('reborn');
  });
});
