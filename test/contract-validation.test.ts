import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubEmulator } from '../src/local/emulators/github';
import { loopbackFetch } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { contracts } from './support/contract-validator';

const REPO = { owner: 'acme', repo: 'api' };
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let ca: string;
let github: GitHubEmulator;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  github = await new GitHubEmulator({ repos: ['acme/api'], tokens: [{ token: 'ghp_writer', repos: ['acme/api'] }] }).start();
});

afterAll(async () => {
  await github.stop();
});

function octokit(): Octokit {
  return new Octokit({ auth: 'ghp_writer', baseUrl: github.url, request: { fetch: loopbackFetch(ca) }, log: silent });
}

/** The violations the exchanges of `run` caused; taking them keeps the harness's own check quiet. */
async function violationsOf(run: () => Promise<unknown>): Promise<string[]> {
  contracts.take();
  await run().catch(() => undefined);
  return contracts.take();
}

describe('contract validation of emulator exchanges', () => {
  it('when an emulator answers a public key without its required key field, then the check names the operation and the missing field', async () => {
    github.inject({ status: 200, body: { key_id: '568250167242549743' }, match: (req) => req.path.endsWith('/public-key') });
    const found = await violationsOf(() => octokit().rest.actions.getRepoPublicKey(REPO));
    expect(found).toEqual([expect.stringMatching(/GET \/repos\/acme\/api\/actions\/secrets\/public-key → 200 \[github\.json actions\/get-repo-public-key\]: response body \$: must have required property 'key'/)]);
  });

  it('when an emulator answers a public key with a wrongly typed field, then the check names the JSON path and the type it got', async () => {
    github.inject({ status: 200, body: { key_id: 568250167242549743, key: 'Ym9ndXM=' }, match: (req) => req.path.endsWith('/public-key') });
    const found = await violationsOf(() => octokit().rest.actions.getRepoPublicKey(REPO));
    expect(found).toEqual([expect.stringContaining('[github.json actions/get-repo-public-key]: response body $.key_id: must be string, got number')]);
  });

  it('when an emulator accepts a request body the spec forbids, then the check reports the request', async () => {
    github.inject({ status: 201, body: {}, match: (req) => req.method === 'PUT' });
    const found = await violationsOf(() => octokit().request('PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}', { ...REPO, secret_name: 'DB', encrypted_value: 'c2VhbGVk' } as never));
    expect(found).toEqual([expect.stringContaining("[github.json actions/create-or-update-repo-secret]: request body $: must have required property 'key_id'")]);
  });

  it('when an emulator serves an operation no vendored spec describes, then the check says which spec to extend', async () => {
    github.inject({ status: 200, body: { total_count: 0, variables: [] }, match: (req) => req.path.endsWith('/actions/variables') });
    const found = await violationsOf(() => octokit().request('GET /repos/{owner}/{repo}/actions/variables', REPO));
    expect(found).toEqual([expect.stringContaining('GitHubEmulator GET /repos/acme/api/actions/variables → 200: no operation in github.json matches this request; vendor the operation')]);
  });

  it('when an undescribed error status is not one of the listed deviations, then the check reports the status', async () => {
    github.inject({ status: 418, body: { message: 'teapot' }, match: (req) => req.path.endsWith('/public-key') });
    const found = await violationsOf(() => octokit().rest.actions.getRepoPublicKey(REPO));
    expect(found).toEqual([expect.stringContaining("status 418 is not among the operation's responses (200)")]);
  });
});
