import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RotationError } from '../src/errors';
import { GitHubEmulator } from '../src/local/emulators/github';
import { loopbackFetch } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { generatePassword } from '../src/rotation/password';
import { GitHubSecrets, type GitHubAuth, type GitHubSecretsOptions } from '../src/targets/github';
import { expectNoSecrets } from './support/secrets';

const APP_ID = 4242;
const INSTALLATION_ID = 77;
const ENV = 'production';
const token = (label: string) => `ghp_${label}_${randomBytes(16).toString('hex')}`;
const TOKENS = { writer: token('writer'), reader: token('reader'), primaryShort: token('short'), primaryLong: token('long') };
const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const appPrivateKey = appKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

// Emulator and adapter share one clock; a test moves both forward by raising the offset.
let offset = 0;
const clock = () => Date.now() + offset;
let github: GitHubEmulator;
let ca: string;
/** Every secret a test pushed or authenticated with: no error may contain any of them. */
const secrets = new Set<string>(Object.values(TOKENS));

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  github = await new GitHubEmulator({
    clock,
    repos: [{ fullName: 'acme/api', environments: [ENV] }],
    orgs: ['acme'],
    tokens: [
      { token: TOKENS.writer, repos: ['acme/api'], orgs: ['acme'] },
      { token: TOKENS.reader, repos: ['acme/api'], access: 'read' },
      { token: TOKENS.primaryShort, repos: ['acme/api'] },
      { token: TOKENS.primaryLong, repos: ['acme/api'] },
    ],
    apps: [
      {
        appId: APP_ID,
        publicKey: appKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installations: [{ id: INSTALLATION_ID, account: 'acme', permissions: { secrets: 'write', organization_secrets: 'write', metadata: 'read' } }],
      },
    ],
  }).start();
});

afterAll(async () => {
  await github.stop();
});

beforeEach(() => {
  github.clearFaults();
});

function tokenAuth(value: string): GitHubAuth {
  return { kind: 'token', token: async () => value };
}

function appAuth(privateKey = appPrivateKey): GitHubAuth {
  return { kind: 'app', appId: APP_ID, installationId: INSTALLATION_ID, privateKey: async () => privateKey };
}

function adapter(auth: GitHubAuth, options: Partial<GitHubSecretsOptions> = {}): GitHubSecrets {
  return new GitHubSecrets({ apiUrl: github.url, auth, fetch: loopbackFetch(ca), clock, maxWaitMs: 5_000, ...options });
}

function newValue(): string {
  const value = generatePassword(32);
  secrets.add(value);
  return value;
}

/** The RotationError a push fails with, checked for leaks: no secret, no token, no SDK error kept as cause. */
async function failure(push: Promise<unknown>): Promise<RotationError> {
  const error = await push.then(
    () => {
      throw new Error('expected the push to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RotationError);
  const rotation = error as RotationError;
  expect(rotation.cause).toBeUndefined();
  expectNoSecrets({ message: rotation.message, json: JSON.stringify(rotation), stack: String(rotation.stack) }, secrets);
  return rotation;
}

function requestsSince(before: number) {
  return github.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`);
}

describe('pushing secrets with a token', () => {
  it('when a repository secret is pushed twice, then the first push creates it, the second updates it, and the emulator opens exactly the latest value', async () => {
    const pusher = adapter(tokenAuth(TOKENS.writer));
    const first = newValue();
    const second = newValue();
    expect(await pusher.putSecret('propagate', { repo: 'acme/api', name: 'PG_PASSWORD' }, first)).toEqual({ created: true });
    expect(github.secretValue({ repo: 'acme/api', name: 'PG_PASSWORD' })).toBe(first);
    expect(await pusher.putSecret('propagate', { repo: 'acme/api', name: 'PG_PASSWORD' }, second)).toEqual({ created: false });
    expect(github.secret({ repo: 'acme/api', name: 'PG_PASSWORD' })).toMatchObject({ value: second, writes: 2 });
  });

  it('when an environment secret is pushed, then it lands in that environment only', async () => {
    const value = newValue();
    const result = await adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', environment: ENV, name: 'ENV_ONLY' }, value);
    expect(result).toEqual({ created: true });
    expect(github.secretValue({ repo: 'acme/api', environment: ENV, name: 'ENV_ONLY' })).toBe(value);
    expect(github.secretValue({ repo: 'acme/api', name: 'ENV_ONLY' })).toBeUndefined();
  });

  it('when an organization secret is pushed, then it is stored with private visibility', async () => {
    const value = newValue();
    await adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { org: 'acme', name: 'ORG_PG_PASSWORD' }, value);
    expect(github.secret({ org: 'acme', name: 'ORG_PG_PASSWORD' })).toMatchObject({ value, visibility: 'private', writes: 1 });
  });

  it('when the scope key is rotated between pushes, then each push seals for the key current at that moment', async () => {
    const pusher = adapter(tokenAuth(TOKENS.writer));
    await pusher.putSecret('propagate', { repo: 'acme/api', name: 'ROTATED_KEY' }, newValue());
    const key = await github.rotatePublicKey({ repo: 'acme/api' });
    const value = newValue();
    await pusher.putSecret('propagate', { repo: 'acme/api', name: 'ROTATED_KEY' }, value);
    expect(github.secret({ repo: 'acme/api', name: 'ROTATED_KEY' })).toMatchObject({ value, keyId: key.key_id });
  });
});

describe('pushing secrets as a GitHub App', () => {
  it('when two pushes run as the app, then one installation token serves both, and a new one is fetched shortly before it expires', async () => {
    const pusher = adapter(appAuth());
    const exchanges = () => github.requests.filter((r) => r.path === `/app/installations/${INSTALLATION_ID}/access_tokens`);
    const before = exchanges().length;
    const values = [newValue(), newValue()];
    await Promise.all([
      pusher.putSecret('propagate', { repo: 'acme/api', name: 'APP_ONE' }, values[0]),
      pusher.putSecret('propagate', { org: 'acme', name: 'APP_TWO' }, values[1]),
    ]);
    expect(exchanges().length - before).toBe(1);
    expect(github.secretValue({ repo: 'acme/api', name: 'APP_ONE' })).toBe(values[0]);
    expect(github.secretValue({ org: 'acme', name: 'APP_TWO' })).toBe(values[1]);

    offset += 56 * 60_000;
    const later = newValue();
    await pusher.putSecret('propagate', { repo: 'acme/api', name: 'APP_ONE' }, later);
    expect(exchanges().length - before).toBe(2);
    expect(github.secretValue({ repo: 'acme/api', name: 'APP_ONE' })).toBe(later);
  });

  it('when the app signs its JWT, then iat is backdated a minute and the lifetime stays within ten minutes', async () => {
    const before = github.requests.length;
    const signedAt = Math.floor(clock() / 1000);
    await adapter(appAuth()).putSecret('propagate', { repo: 'acme/api', name: 'JWT_CHECK' }, newValue());
    const exchange = github.requests.slice(before).find((r) => r.path.endsWith('/access_tokens'));
    const jwt = /^bearer (\S+)$/i.exec(String(exchange?.headers.authorization))?.[1] ?? '';
    const [header, claims] = jwt.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(claims.iss).toBe(String(APP_ID));
    expect(signedAt - claims.iat).toBeGreaterThanOrEqual(59);
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);
    expect(claims.exp).toBeGreaterThan(signedAt);
  });

  it('when the app key is not the registered one, then the exchange fails permanently naming the app and installation', async () => {
    const error = await failure(adapter(appAuth(strangerKey)).putSecret('propagate', { repo: 'acme/api', name: 'NEVER' }, newValue()));
    expect(error).toMatchObject({ code: 'github-forbidden', retryable: false, status: 401 });
    expect(error.message).toBe(`propagate: github app ${APP_ID} installation ${INSTALLATION_ID}: 401 A JSON web token could not be decoded`);
    expect(github.secret({ repo: 'acme/api', name: 'NEVER' })).toBeUndefined();
  });
});

describe('refusals GitHub will not change its mind about', () => {
  it('when the token may only read, then the push fails fast with a permanent error naming the target and holding no secret or token', async () => {
    const before = github.requests.length;
    const started = Date.now();
    const error = await failure(adapter(tokenAuth(TOKENS.reader)).putSecret('propagate', { repo: 'acme/api', name: 'DB_PASSWORD' }, newValue()));
    expect(error).toMatchObject({ code: 'github-forbidden', retryable: false, status: 403, stage: 'propagate' });
    expect(error.message).toBe('propagate: github repo acme/api secret DB_PASSWORD: 403 Resource not accessible by integration');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(requestsSince(before)).toEqual(['GET /repos/acme/api/actions/secrets/public-key 200', 'PUT /repos/acme/api/actions/secrets/DB_PASSWORD 403']);
  });

  it('when the token is unknown, or the repository or environment does not exist, then the error is permanent and names the target', async () => {
    const unknown = await failure(adapter(tokenAuth(token('unknown'))).putSecret('propagate', { repo: 'acme/api', name: 'X' }, newValue()));
    expect(unknown).toMatchObject({ code: 'github-forbidden', retryable: false, status: 401 });
    expect(unknown.message).toContain('github repo acme/api secret X: 401 Bad credentials');
    const missingEnv = await failure(adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', environment: 'staging', name: 'X' }, newValue()));
    expect(missingEnv).toMatchObject({ code: 'github-not-found', retryable: false, status: 404 });
    expect(missingEnv.message).toContain('github repo acme/api environment staging secret X: 404 Not Found');
  });

  it('when GitHub refuses the secret name, then the 422 is permanent and carries GitHub reason', async () => {
    const error = await failure(adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', name: 'GITHUB_PASSWORD' }, newValue()));
    expect(error).toMatchObject({ code: 'github-rejected', retryable: false, status: 422 });
    expect(error.message).toContain('github repo acme/api secret GITHUB_PASSWORD: 422 Secret names must not start with GITHUB_.');
  });
});

describe('rate limits', () => {
  it.each([403, 429] as const)('when GitHub answers a secondary rate limit (%i) with retry-after, then the push waits it out and the emulator holds the new value', async (status) => {
    github.secondaryRateLimit({ status, retryAfterSeconds: 1, match: (r) => r.method === 'PUT' });
    const value = newValue();
    const before = github.requests.length;
    const started = Date.now();
    const result = await adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', name: `SECONDARY_${status}` }, value);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(result).toEqual({ created: true });
    expect(github.secretValue({ repo: 'acme/api', name: `SECONDARY_${status}` })).toBe(value);
    expect(requestsSince(before).map((line) => line.split(' ').at(-1))).toEqual(['200', String(status), '201']);
  });

  it('when the primary limit is spent and resets within the bound, then the push waits for the reset and succeeds', async () => {
    github.setRateLimit(TOKENS.primaryShort, { remaining: 0, resetInSeconds: 1 });
    const value = newValue();
    const started = Date.now();
    await adapter(tokenAuth(TOKENS.primaryShort)).putSecret('propagate', { repo: 'acme/api', name: 'PRIMARY_SHORT' }, value);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(github.secretValue({ repo: 'acme/api', name: 'PRIMARY_SHORT' })).toBe(value);
  });

  it('when the primary limit resets beyond the bound, then the push fails at once with a retryable error', async () => {
    github.setRateLimit(TOKENS.primaryLong, { remaining: 0, resetInSeconds: 3600 });
    const started = Date.now();
    const error = await failure(adapter(tokenAuth(TOKENS.primaryLong), { maxWaitMs: 200 }).putSecret('propagate', { repo: 'acme/api', name: 'PRIMARY_LONG' }, newValue()));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toMatchObject({ code: 'github-rate-limited', retryable: true, status: 403 });
    expect(error.message).toMatch(/^propagate: github repo acme\/api secret PRIMARY_LONG: 403 primary rate limit, GitHub asks to wait \d+ s/);
    expect(github.secret({ repo: 'acme/api', name: 'PRIMARY_LONG' })).toBeUndefined();
  });

  it('when a secondary limit asks for longer than the bound, then the push gives up retryably without sleeping', async () => {
    github.secondaryRateLimit({ status: 403, retryAfterSeconds: 120 });
    const started = Date.now();
    const error = await failure(adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', name: 'SECONDARY_LONG' }, newValue()));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toMatchObject({ code: 'github-rate-limited', retryable: true, status: 403 });
    expect(error.message).toContain('secondary rate limit, GitHub asks to wait 120 s');
  });
});

describe('faults that heal', () => {
  it('when GitHub answers 502, then the push fails once with a retryable error and is not retried inside the adapter', async () => {
    github.inject({ status: 502, match: (r) => r.method === 'PUT' });
    const before = github.requests.length;
    const error = await failure(adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', name: 'BAD_GATEWAY' }, newValue()));
    expect(error).toMatchObject({ code: 'github-unavailable', retryable: true, status: 502 });
    expect(error.message).toBe('propagate: github repo acme/api secret BAD_GATEWAY: 502 Server Error');
    expect(requestsSince(before)).toHaveLength(2);
  });

  it('when the connection is dropped, then the push fails with a retryable connection error', async () => {
    github.inject({ drop: true, match: (r) => r.method === 'PUT' });
    const error = await failure(adapter(tokenAuth(TOKENS.writer)).putSecret('propagate', { repo: 'acme/api', name: 'DROPPED' }, newValue()));
    expect(error).toMatchObject({ code: 'github-unavailable', retryable: true });
    expect(error.message).toMatch(/^propagate: github repo acme\/api secret DROPPED: connection failed/);
    expect(github.secret({ repo: 'acme/api', name: 'DROPPED' })).toBeUndefined();
  });

  it('when GitHub does not answer within the timeout, then the push fails with a retryable timeout', async () => {
    github.inject({ delayMs: 1_000 });
    const error = await failure(adapter(tokenAuth(TOKENS.writer), { timeoutMs: 100 }).putSecret('propagate', { repo: 'acme/api', name: 'SLOW' }, newValue()));
    expect(error).toMatchObject({ code: 'github-unavailable', retryable: true });
    expect(error.message).toContain('github repo acme/api secret SLOW: timed out');
  });
});
