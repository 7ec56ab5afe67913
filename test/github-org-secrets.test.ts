import { randomBytes } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import * as sodiumModule from 'libsodium-wrappers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubEmulator } from '../src/local/emulators/github';
import { loopbackFetch } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { GitHubSecrets } from '../src/targets/github';

type Sodium = typeof sodiumModule;
const sodium: Sodium = (sodiumModule as unknown as { default?: Sodium }).default ?? sodiumModule;

const ORG = 'acme';
const TOKEN = `ghp_org_${randomBytes(16).toString('hex')}`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let github: GitHubEmulator;
let ca: string;
let client: Octokit;
let repoIds: number[];

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  github = await new GitHubEmulator({ orgs: [ORG, 'other'], tokens: [{ token: TOKEN, orgs: [ORG, 'other'] }] }).start();
  // 150 repositories: more than one page of GitHub's selected-repositories list.
  repoIds = Array.from({ length: 150 }, (_, i) => github.addRepo(`${ORG}/service-${i}`));
  github.addRepo('other/outsider');
  await sodium.ready;
  client = new Octokit({ auth: TOKEN, baseUrl: github.url, request: { fetch: loopbackFetch(ca) }, log: silent });
});

afterAll(() => github?.stop());

function rotator(): GitHubSecrets {
  return new GitHubSecrets({ apiUrl: github.url, auth: { kind: 'token', token: async () => TOKEN }, fetch: loopbackFetch(ca), maxWaitMs: 5_000 });
}

/** What an operator set up by hand before the rotator ever ran. */
async function operatorCreates(name: string, access: { visibility: 'all' | 'private' | 'selected'; selected_repository_ids?: number[] }): Promise<void> {
  const { data: key } = await client.rest.actions.getOrgPublicKey({ org: ORG });
  const sealed = sodium.to_base64(sodium.crypto_box_seal('by hand', sodium.from_base64(key.key, sodium.base64_variants.ORIGINAL)), sodium.base64_variants.ORIGINAL);
  await client.rest.actions.createOrUpdateOrgSecret({ org: ORG, secret_name: name, encrypted_value: sealed, key_id: key.key_id, ...access });
}

describe('organisation secrets keep who may read them', () => {
  it('when a selected secret is shared with 150 repositories, then a rotation writes the new value and keeps exactly those repositories', async () => {
    await operatorCreates('DB_SELECTED', { visibility: 'selected', selected_repository_ids: repoIds });

    await rotator().putSecret('propagate', { org: ORG, name: 'DB_SELECTED' }, 'new value');

    const stored = github.secret({ org: ORG, name: 'DB_SELECTED' });
    expect(stored).toMatchObject({ value: 'new value', visibility: 'selected', writes: 2 });
    expect([...(stored?.selectedRepositoryIds ?? [])].sort()).toEqual([...repoIds].sort());
  });

  it('when a secret is visible to all repositories, then a rotation leaves it visible to all, public ones included', async () => {
    await operatorCreates('DB_ALL', { visibility: 'all' });

    await rotator().putSecret('propagate', { org: ORG, name: 'DB_ALL' }, 'new value');

    expect(github.secret({ org: ORG, name: 'DB_ALL' })).toMatchObject({ value: 'new value', visibility: 'all' });
  });

  it('when the secret does not exist yet, then it is created private, or with the configured visibility', async () => {
    await rotator().putSecret('propagate', { org: ORG, name: 'DB_NEW' }, 'first');
    await rotator().putSecret('propagate', { org: ORG, name: 'DB_NEW_ALL', visibility: 'all' }, 'first');

    expect(github.secret({ org: ORG, name: 'DB_NEW' })).toMatchObject({ value: 'first', visibility: 'private' });
    expect(github.secret({ org: ORG, name: 'DB_NEW_ALL' })).toMatchObject({ value: 'first', visibility: 'all' });
  });
});

describe('the GitHub emulator models visibility and selected repositories', () => {
  it('when a selected secret is read, then GitHub links its repository list, which pages by per_page and page', async () => {
    await operatorCreates('LISTED', { visibility: 'selected', selected_repository_ids: repoIds.slice(0, 3) });

    const { data: secret } = await client.rest.actions.getOrgSecret({ org: ORG, secret_name: 'LISTED' });
    const { data: page } = await client.rest.actions.listSelectedReposForOrgSecret({ org: ORG, secret_name: 'LISTED', per_page: 2, page: 2 });

    expect(secret).toMatchObject({ visibility: 'selected', selected_repositories_url: `${github.url}/orgs/${ORG}/actions/secrets/LISTED/repositories` });
    expect(page.total_count).toBe(3);
    expect(page.repositories.map((r) => r.full_name)).toEqual([`${ORG}/service-2`]);
  });

  it('when a write changes the visibility away from selected, then the repository list is gone; selected without ids leaves none', async () => {
    await operatorCreates('NARROWED', { visibility: 'selected', selected_repository_ids: repoIds.slice(0, 2) });
    await operatorCreates('NARROWED', { visibility: 'private' });
    expect(github.secret({ org: ORG, name: 'NARROWED' })?.selectedRepositoryIds).toBeUndefined();
    await expect(client.rest.actions.listSelectedReposForOrgSecret({ org: ORG, secret_name: 'NARROWED' })).rejects.toMatchObject({ status: 409 });

    await operatorCreates('NARROWED', { visibility: 'selected' });
    expect(github.secret({ org: ORG, name: 'NARROWED' })?.selectedRepositoryIds).toEqual([]);
  });

  it("when the selected ids name another organisation's repository, then the write is refused with 422", async () => {
    const outsider = github.addRepo('other/outsider');
    await expect(operatorCreates('FOREIGN', { visibility: 'selected', selected_repository_ids: [outsider] })).rejects.toMatchObject({ status: 422 });
    expect(github.secret({ org: ORG, name: 'FOREIGN' })).toBeUndefined();
  });
});
