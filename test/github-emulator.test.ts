import { createSign, generateKeyPairSync } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import * as sodiumModule from 'libsodium-wrappers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GitHubEmulator, type SecretScope } from '../src/local/emulators/github';
import { loopbackFetch } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';

type Sodium = typeof sodiumModule;
const sodium: Sodium = (sodiumModule as unknown as { default?: Sodium }).default ?? sodiumModule;

const REPO = { owner: 'acme', repo: 'api' };
const ORG = 'acme';
const ENV = 'production';
const APP_ID = 4242;
const INSTALLATION_ID = 77;
const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

let now = Date.now();
let github: GitHubEmulator;
let ca: string;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  github = await new GitHubEmulator({
    clock: () => now,
    repos: [{ fullName: 'acme/api', environments: [ENV] }, 'acme/other'],
    orgs: [ORG],
    tokens: [
      { token: 'ghp_writer', repos: ['acme/api'], orgs: [ORG] },
      { token: 'ghp_reader', repos: ['acme/api'], access: 'read' },
      { token: 'ghp_elsewhere', repos: ['acme/other'] },
    ],
    apps: [
      {
        appId: APP_ID,
        publicKey: appKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installations: [{ id: INSTALLATION_ID, account: 'acme', permissions: { secrets: 'write', organization_secrets: 'write', metadata: 'read' } }],
      },
    ],
  }).start();
  await sodium.ready;
});

afterAll(async () => {
  await github.stop();
});

beforeEach(() => {
  now = Date.now();
  github.clearFaults();
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function octokit(auth?: string): Octokit {
  return new Octokit({ auth, baseUrl: github.url, request: { fetch: loopbackFetch(ca) }, log: silent });
}

function seal(value: string, publicKey: string): string {
  const sealed = sodium.crypto_box_seal(value, sodium.from_base64(publicKey, sodium.base64_variants.ORIGINAL));
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}

async function putRepoSecret(client: Octokit, name: string, value: string) {
  const { data: key } = await client.rest.actions.getRepoPublicKey(REPO);
  return client.rest.actions.createOrUpdateRepoSecret({ ...REPO, secret_name: name, encrypted_value: seal(value, key.key), key_id: key.key_id });
}

/** The status and headers of the RequestError Octokit throws. */
async function failure(promise: Promise<unknown>): Promise<{ status: number; headers: Record<string, string | undefined>; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { status: number; response?: { headers: Record<string, string | undefined>; data?: { message?: string } }; message: string };
    return { status: e.status, headers: e.response?.headers ?? {}, message: e.response?.data?.message ?? e.message };
  }
  throw new Error('expected the request to fail');
}

function appJwt(privateKey = appKeys.privateKey, claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(now / 1000) - 30;
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat, exp: iat + 540, iss: String(APP_ID), ...claims })}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  return `${unsigned}.${signature}`;
}

describe('repository secrets through Octokit', () => {
  it('creates with 201, updates with 204, and the emulator opens exactly the pushed value', async () => {
    const client = octokit('ghp_writer');
    const created = await putRepoSecret(client, 'db_password', 'first-Päss!');
    now += 5_000;
    const updated = await putRepoSecret(client, 'DB_PASSWORD', 'second-pass');

    expect(created.status).toBe(201);
    expect(updated.status).toBe(204);
    const stored = github.secret({ repo: 'acme/api', name: 'DB_PASSWORD' });
    expect(stored?.value).toBe('second-pass');
    expect(stored?.writes).toBe(2);
    expect(stored!.updatedAt.getTime() - stored!.createdAt.getTime()).toBe(5_000);
    const { data } = await client.rest.actions.getRepoSecret({ ...REPO, secret_name: 'db_password' });
    expect(data.name).toBe('DB_PASSWORD');
  });

  it('answers with rate-limit headers on success', async () => {
    const response = await octokit('ghp_writer').rest.actions.getRepoPublicKey(REPO);
    expect(response.headers['x-ratelimit-limit']).toBe('5000');
    expect(Number(response.headers['x-ratelimit-remaining'])).toBeLessThan(5000);
    expect(response.headers['x-github-request-id']).toMatch(/^[0-9A-F:]+$/);
  });

  it('refuses invalid secret names with 422', async () => {
    const client = octokit('ghp_writer');
    for (const name of ['GITHUB_TOKEN', '1PASSWORD', 'DB-PASSWORD', 'DB PASSWORD']) {
      const result = await failure(putRepoSecret(client, name, 'x'));
      expect(result.status, name).toBe(422);
    }
    expect(github.secret({ repo: 'acme/api', name: 'GITHUB_TOKEN' })).toBeUndefined();
  });
});

describe('environment and organization scopes', () => {
  it('keeps a separate key pair and secret store per environment', async () => {
    const client = octokit('ghp_writer');
    const { data: repoKey } = await client.rest.actions.getRepoPublicKey(REPO);
    const { data: envKey } = await client.rest.actions.getEnvironmentPublicKey({ ...REPO, environment_name: ENV });
    expect(envKey.key_id).not.toBe(repoKey.key_id);
    expect(envKey.key).not.toBe(repoKey.key);

    const response = await client.rest.actions.createOrUpdateEnvironmentSecret({
      ...REPO, environment_name: ENV, secret_name: 'PG_PASSWORD', encrypted_value: seal('env-value', envKey.key), key_id: envKey.key_id,
    });
    expect(response.status).toBe(201);
    expect(github.secretValue({ repo: 'acme/api', environment: ENV, name: 'PG_PASSWORD' })).toBe('env-value');
    expect(github.secretValue({ repo: 'acme/api', name: 'PG_PASSWORD' })).toBeUndefined();
  });

  it('requires visibility for organization secrets and records it', async () => {
    const client = octokit('ghp_writer');
    const { data: key } = await client.rest.actions.getOrgPublicKey({ org: ORG });
    const body = { org: ORG, secret_name: 'PG_PASSWORD', encrypted_value: seal('org-value', key.key), key_id: key.key_id };
    // The typed route would not let the body omit `visibility`; the untyped form sends it as is.
    const missing = await failure(client.request({ method: 'PUT', url: '/orgs/{org}/actions/secrets/{secret_name}', ...body }));
    expect(missing.status).toBe(422);
    expect(missing.message).toContain('visibility');

    const repoId = github.addRepo('acme/api');
    const created = await client.rest.actions.createOrUpdateOrgSecret({ ...body, visibility: 'selected', selected_repository_ids: [repoId] });
    expect(created.status).toBe(201);
    const stored = github.secret({ org: ORG, name: 'PG_PASSWORD' });
    expect(stored).toMatchObject({ value: 'org-value', visibility: 'selected', selectedRepositoryIds: [repoId], writes: 1 });
  });
});

describe('refusals', () => {
  it('refuses a key_id that is not the scope current key with 422', async () => {
    const client = octokit('ghp_writer');
    const { data: repoKey } = await client.rest.actions.getRepoPublicKey(REPO);
    const otherScope = await failure(client.rest.actions.createOrUpdateEnvironmentSecret({
      ...REPO, environment_name: ENV, secret_name: 'X', encrypted_value: seal('v', repoKey.key), key_id: repoKey.key_id,
    }));
    expect(otherScope.status).toBe(422);

    const scope: SecretScope = { org: ORG };
    const { data: stale } = await client.rest.actions.getOrgPublicKey({ org: ORG });
    await github.rotatePublicKey(scope);
    const rotated = await failure(client.rest.actions.createOrUpdateOrgSecret({
      org: ORG, secret_name: 'X', visibility: 'all', encrypted_value: seal('v', stale.key), key_id: stale.key_id,
    }));
    expect(rotated.status).toBe(422);
    expect(github.secret({ org: ORG, name: 'X' })).toBeUndefined();
  });

  it('refuses tampered and non-standard-Base64 ciphertext with 422', async () => {
    const client = octokit('ghp_writer');
    const { data: key } = await client.rest.actions.getRepoPublicKey(REPO);
    const bytes = Buffer.from(seal('secret', key.key), 'base64');
    bytes[bytes.length - 1] ^= 0x01;
    const tampered = await failure(client.rest.actions.createOrUpdateRepoSecret({
      ...REPO, secret_name: 'TAMPERED', encrypted_value: bytes.toString('base64'), key_id: key.key_id,
    }));
    expect(tampered.status).toBe(422);

    // libsodium's default Base64 variant is URL-safe without padding; a 7-byte value makes the
    // missing padding certain, so the refusal does not depend on which characters come out.
    const urlSafe = sodium.crypto_box_seal('secret7', sodium.from_base64(key.key, sodium.base64_variants.ORIGINAL), 'base64');
    const wrongVariant = await failure(client.rest.actions.createOrUpdateRepoSecret({ ...REPO, secret_name: 'URLSAFE', encrypted_value: urlSafe, key_id: key.key_id }));
    expect(wrongVariant.status).toBe(422);
    expect(github.secret({ repo: 'acme/api', name: 'TAMPERED' })).toBeUndefined();
  });

  it('answers 401 Bad credentials for an unknown token and for none', async () => {
    const bad = await failure(octokit('ghp_unknown').rest.actions.getRepoPublicKey(REPO));
    expect(bad.status).toBe(401);
    expect(bad.message).toBe('Bad credentials');
    const none = await failure(octokit().rest.actions.getRepoPublicKey(REPO));
    expect(none.status).toBe(401);
  });

  it('answers 403 to a token without write permission on the scope', async () => {
    const reader = octokit('ghp_reader');
    const { data: key } = await reader.rest.actions.getRepoPublicKey(REPO);
    const readOnly = await failure(reader.rest.actions.createOrUpdateRepoSecret({ ...REPO, secret_name: 'X', encrypted_value: seal('v', key.key), key_id: key.key_id }));
    expect(readOnly.status).toBe(403);
    expect(readOnly.message).toBe('Resource not accessible by integration');

    const elsewhere = await failure(octokit('ghp_elsewhere').rest.actions.getRepoPublicKey(REPO));
    expect(elsewhere.status).toBe(403);
  });

  it('answers 404 for an unknown repository, environment or organization', async () => {
    const client = octokit('ghp_writer');
    const repo = await failure(client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'missing' }));
    const env = await failure(client.rest.actions.getEnvironmentPublicKey({ ...REPO, environment_name: 'staging' }));
    const org = await failure(client.rest.actions.getOrgPublicKey({ org: 'nobody' }));
    expect([repo.status, env.status, org.status]).toEqual([404, 404, 404]);
    expect(repo.message).toBe('Not Found');
  });

  it('answers 400 to an API version GitHub does not serve', async () => {
    const result = await failure(octokit('ghp_writer').request('GET /repos/{owner}/{repo}/actions/secrets/public-key', { ...REPO, headers: { 'x-github-api-version': '2019-01-01' } }));
    expect(result.status).toBe(400);
  });
});

describe('GitHub App installation tokens', () => {
  it('exchanges a signed app JWT for an installation token that can write', async () => {
    const app = octokit(appJwt());
    const { status, data } = await app.rest.apps.createInstallationAccessToken({ installation_id: INSTALLATION_ID });
    expect(status).toBe(201);
    expect(data.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(new Date(data.expires_at).getTime()).toBeGreaterThan(now);
    expect(data.permissions).toMatchObject({ secrets: 'write' });

    const written = await putRepoSecret(octokit(data.token), 'FROM_APP', 'app-value');
    expect(written.status).toBe(201);
    expect(github.secretValue({ repo: 'acme/api', name: 'FROM_APP' })).toBe('app-value');
  });

  it('refuses a JWT signed with another key, and an expired JWT, with 401', async () => {
    const forged = await failure(octokit(appJwt(strangerKeys.privateKey)).rest.apps.createInstallationAccessToken({ installation_id: INSTALLATION_ID }));
    expect(forged.status).toBe(401);
    const expired = await failure(octokit(appJwt(appKeys.privateKey, { exp: Math.floor(now / 1000) - 1 })).rest.apps.createInstallationAccessToken({ installation_id: INSTALLATION_ID }));
    expect(expired.status).toBe(401);
    expect(expired.message).toContain("'exp'");
  });

  it('answers 404 for an installation the app does not have', async () => {
    const result = await failure(octokit(appJwt()).rest.apps.createInstallationAccessToken({ installation_id: 1 }));
    expect(result.status).toBe(404);
  });

  it('limits a narrowed token to its repositories and expires it after an hour', async () => {
    const { data } = await octokit(appJwt()).rest.apps.createInstallationAccessToken({ installation_id: INSTALLATION_ID, repositories: ['other'] });
    const client = octokit(data.token);
    expect((await failure(client.rest.actions.getRepoPublicKey(REPO))).status).toBe(403);
    expect((await client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'other' })).status).toBe(200);

    now += 3600_000;
    expect((await failure(client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'other' }))).status).toBe(401);
  });
});

describe('rate limits and faults (Octokit does not retry by itself)', () => {
  it('exhausts the primary limit with 403 and x-ratelimit-remaining 0', async () => {
    github.setRateLimit('ghp_elsewhere', { remaining: 1, resetInSeconds: 30 });
    const client = octokit('ghp_elsewhere');
    const last = await client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'other' });
    expect(last.headers['x-ratelimit-remaining']).toBe('0');

    const limited = await failure(client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'other' }));
    expect(limited.status).toBe(403);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['x-ratelimit-reset'])).toBe(Math.ceil((now + 30_000) / 1000));
    expect(limited.message).toMatch(/^API rate limit exceeded/);

    now += 31_000;
    expect((await client.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'other' })).status).toBe(200);
  });

  it('answers an injected secondary limit with 429 and retry-after, once', async () => {
    github.secondaryRateLimit({ status: 429, retryAfterSeconds: 7 });
    const client = octokit('ghp_writer');
    const before = github.requests.length;
    const limited = await failure(client.rest.actions.getRepoPublicKey(REPO));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(limited.message).toContain('secondary rate limit');
    expect(github.requests.length).toBe(before + 1);
    expect((await client.rest.actions.getRepoPublicKey(REPO)).status).toBe(200);
  });

  it('answers an injected secondary limit as 403 with retry-after', async () => {
    github.secondaryRateLimit({ status: 403, retryAfterSeconds: 60 });
    const limited = await failure(octokit('ghp_writer').rest.actions.getRepoPublicKey(REPO));
    expect(limited.status).toBe(403);
    expect(limited.headers['retry-after']).toBe('60');
    expect(limited.headers['x-ratelimit-remaining']).toBeUndefined();
  });

  it('passes an injected 502 to the caller in GitHub error shape', async () => {
    github.inject({ status: 502 });
    const result = await failure(octokit('ghp_writer').rest.actions.getRepoPublicKey(REPO));
    expect(result.status).toBe(502);
    expect(result.message).toBe('Server Error');
  });

  it('surfaces a dropped connection as a RequestError with status 500', async () => {
    github.inject({ drop: true });
    const before = github.requests.length;
    const result = await failure(octokit('ghp_writer').rest.actions.getRepoPublicKey(REPO));
    expect(result.status).toBe(500);
    expect(github.requests.length).toBe(before + 1);
    expect(github.requests.at(-1)?.faulted).toBe(true);
  });
});
