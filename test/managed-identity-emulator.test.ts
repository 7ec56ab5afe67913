import { get } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedIdentityCredential } from '@azure/identity';
import { ManagedIdentityEmulator } from '../src/local/emulators/managed-identity';

// MSAL picks its managed identity source from these; any of them set could send it elsewhere,
// and with none of IDENTITY_ENDPOINT / IDENTITY_HEADER it would probe IMDS at 169.254.169.254.
const IDENTITY_VARIABLES = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'DEFAULT_IDENTITY_CLIENT_ID',
] as const;

const CLIENT_ID = '6f4c7f38-2b1e-4c55-9d0a-0c7f3c1e8a11';
const VAULT_SCOPE = 'https://vault.azure.net/.default';
const POSTGRES_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';

const emulator = new ManagedIdentityEmulator({ userAssigned: [{ clientId: CLIENT_ID }] });
const savedEnvironment = new Map<string, string | undefined>();
const connections: string[] = [];
const originalConnect = net.Socket.prototype.connect;

/** Records every outgoing TCP connection in this process and refuses any that leaves loopback. */
function guardLoopbackOnly(): void {
  const guarded = function (this: net.Socket, ...args: unknown[]): net.Socket {
    const target = connectTarget(args);
    connections.push(target);
    if (!isLoopback(target)) {
      process.nextTick(() => this.destroy(new Error(`test guard refused a connection to ${target}`)));
      return this;
    }
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  net.Socket.prototype.connect = guarded as unknown as typeof net.Socket.prototype.connect;
}

/** `net.connect` hands Socket#connect its normalized arguments as one array. */
function connectTarget(args: unknown[]): string {
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; port?: number | string; path?: string };
    return options.path ?? `${options.host ?? 'localhost'}:${options.port}`;
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return first;
  return `${typeof args[1] === 'string' ? args[1] : 'localhost'}:${String(first)}`;
}

function isLoopback(target: string): boolean {
  return target.startsWith('/') || /^(127\.0\.0\.1|localhost|::1|\[::1\]):\d+$/.test(target);
}

function rawToken(emulatorUnderTest: ManagedIdentityEmulator, query: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    get(`${emulatorUnderTest.endpoint}?${query}`, { headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

function credential(): ManagedIdentityCredential {
  if (process.env.IDENTITY_ENDPOINT !== emulator.endpoint) throw new Error('IDENTITY_ENDPOINT must point at the emulator');
  return new ManagedIdentityCredential({ clientId: CLIENT_ID, retryOptions: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 } });
}

beforeAll(async () => {
  guardLoopbackOnly();
  await emulator.start();
  for (const name of IDENTITY_VARIABLES) {
    savedEnvironment.set(name, process.env[name]);
    delete process.env[name];
  }
  Object.assign(process.env, emulator.environment);
});

afterAll(async () => {
  for (const [name, value] of savedEnvironment) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  net.Socket.prototype.connect = originalConnect;
  await emulator.stop();
});

// MSAL keeps the managed identity source (endpoint and header) and its token cache in static
// state for the whole process, so these tests share one emulator and run in order.
describe('ManagedIdentityEmulator through the real ManagedIdentityCredential', () => {
  it('issues the tokenFor() token for Key Vault and for PostgreSQL', async () => {
    const vault = await credential().getToken(VAULT_SCOPE);
    const postgres = await credential().getToken(POSTGRES_SCOPE);

    expect(vault?.token).toBe(emulator.tokenFor(VAULT_SCOPE));
    expect(vault?.token).toBe(emulator.tokenFor('https://vault.azure.net'));
    expect(postgres?.token).toBe(emulator.tokenFor('https://ossrdbms-aad.database.windows.net'));
    expect(postgres?.token).not.toBe(vault?.token);
    expect(claims(postgres?.token ?? '')).toMatchObject({ aud: 'https://ossrdbms-aad.database.windows.net', appid: CLIENT_ID });
    expect(vault?.expiresOnTimestamp).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(vault?.tokenType).toBe('Bearer');
  });

  it('was asked with the App Service wire format', () => {
    const [first] = emulator.requests;

    expect(emulator.requests.map((r) => r.query.get('resource'))).toEqual(['https://vault.azure.net', 'https://ossrdbms-aad.database.windows.net']);
    expect(first.method).toBe('GET');
    expect(first.headers['x-identity-header']).toBe(emulator.identityHeader);
    expect(first.query.get('api-version')).toBe('2019-08-01');
    expect(first.query.get('client_id')).toBe(CLIENT_ID);
    expect(emulator.issued.map((t) => t.clientId)).toEqual([CLIENT_ID, CLIENT_ID]);
  });

  it('is not asked again for a cached token', async () => {
    const before = emulator.requests.length;
    const again = await credential().getToken(VAULT_SCOPE);

    expect(again?.token).toBe(emulator.tokenFor(VAULT_SCOPE));
    expect(emulator.requests).toHaveLength(before);
  });

  it('survives an injected 503 and a dropped connection through the SDK retries', async () => {
    emulator.inject({ status: 503 });
    const eventGrid = await credential().getToken('https://eventgrid.azure.net/.default');
    emulator.inject({ drop: true });
    const management = await credential().getToken('https://management.azure.com/.default');

    expect(eventGrid?.token).toBe(emulator.tokenFor('https://eventgrid.azure.net'));
    expect(management?.token).toBe(emulator.tokenFor('https://management.azure.com'));
    expect(emulator.requests.slice(-4).map((r) => [r.status, r.faulted])).toEqual([[503, true], [200, false], [0, true], [200, false]]);
  });

  it('refuses the credential once its identity header is no longer the platform secret', async () => {
    const original = emulator.identityHeader;
    emulator.rotateIdentityHeader();
    const error = await credential().getToken('https://storage.azure.com/.default').then(() => undefined, (e: unknown) => e);
    emulator.rotateIdentityHeader(original);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('CredentialUnavailableError');
    expect((error as Error).message).toContain('Unauthorized request.');
    expect(emulator.requests.at(-1)?.status).toBe(401);
    expect(emulator.issued.some((t) => t.resource === 'https://storage.azure.com')).toBe(false);
  });
});

describe('ManagedIdentityEmulator raw requests', () => {
  const validQuery = `api-version=2019-08-01&resource=${encodeURIComponent('https://vault.azure.net')}&client_id=${CLIENT_ID}`;

  it('answers with access_token, expires_on in string seconds, resource, token_type and client_id', async () => {
    const { status, body } = await rawToken(emulator, validQuery, { 'X-IDENTITY-HEADER': emulator.identityHeader });

    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['access_token', 'client_id', 'expires_on', 'resource', 'token_type']);
    expect(body).toMatchObject({ access_token: emulator.tokenFor(VAULT_SCOPE), resource: 'https://vault.azure.net', token_type: 'Bearer', client_id: CLIENT_ID });
    expect(body.expires_on).toMatch(/^\d{10}$/);
  });

  it('refuses a wrong or missing identity header with 401', async () => {
    const wrong = await rawToken(emulator, validQuery, { 'X-IDENTITY-HEADER': 'not-the-secret' });
    const missing = await rawToken(emulator, validQuery, {});

    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ statusCode: 401, message: 'Unauthorized request.' });
    expect(missing.status).toBe(401);
  });

  it.each([
    ['an unknown client_id', `api-version=2019-08-01&resource=https://vault.azure.net&client_id=00000000-0000-0000-0000-000000000000`, 'Unable to load the proper Managed Identity.'],
    ['no identity without a system-assigned one', 'api-version=2019-08-01&resource=https://vault.azure.net', 'Unable to load the proper Managed Identity.'],
    ['two identity parameters', `api-version=2019-08-01&resource=https://vault.azure.net&client_id=${CLIENT_ID}&object_id=x`, 'Unable to load the proper Managed Identity.'],
    ['the 2017 api-version', `api-version=2017-09-01&resource=https://vault.azure.net&client_id=${CLIENT_ID}`, "api-version '2017-09-01'"],
    ['a missing resource', `api-version=2019-08-01&client_id=${CLIENT_ID}`, 'resource parameter is required'],
    ['a scope instead of a resource', `api-version=2019-08-01&resource=${encodeURIComponent(VAULT_SCOPE)}&client_id=${CLIENT_ID}`, 'is a scope, not a resource'],
  ])('refuses %s with 400', async (_name, query, message) => {
    const { status, body } = await rawToken(emulator, query, { 'X-IDENTITY-HEADER': emulator.identityHeader });

    expect(status).toBe(400);
    expect(body.statusCode).toBe(400);
    expect(String(body.message)).toContain(message);
  });

  it('uses the system-assigned identity when a request names none', async () => {
    const systemOnly = await new ManagedIdentityEmulator({ userAssigned: [], systemAssigned: { clientId: 'system-client' } }).start();
    try {
      const query = 'api-version=2019-08-01&resource=https://vault.azure.net';
      const { status, body } = await rawToken(systemOnly, query, { 'X-IDENTITY-HEADER': systemOnly.identityHeader });

      expect(status).toBe(200);
      expect(body).toMatchObject({ client_id: 'system-client', access_token: systemOnly.tokenFor(VAULT_SCOPE) });
      expect(systemOnly.tokenFor(VAULT_SCOPE)).not.toBe(emulator.tokenFor(VAULT_SCOPE));
    } finally {
      await systemOnly.stop();
    }
  });
});

describe('network containment', () => {
  it('made connections, and only to loopback', () => {
    expect(connections.length).toBeGreaterThan(0);
    expect(connections.filter((target) => !isLoopback(target))).toEqual([]);
  });

  it('has a guard that really refuses other addresses', async () => {
    // 127.0.0.2 is outside the allow-list yet harmless if the guard were broken.
    const port = new URL(emulator.endpoint).port;
    const error = await new Promise<Error>((resolve) => {
      const socket = net.connect({ host: '127.0.0.2', port: Number(port) });
      socket.on('error', resolve);
      socket.on('connect', () => resolve(new Error('connected')));
    });

    expect(error.message).toBe(`test guard refused a connection to 127.0.0.2:${port}`);
  });
});
