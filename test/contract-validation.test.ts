import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerAppsEmulator } from '../src/local/emulators/container-apps';
import { loopbackContainerAppsClient } from '../src/local/emulators/container-apps-client';
import { GitHubEmulator } from '../src/local/emulators/github';
import { loopbackFetch, StaticTokenCredential } from '../src/local/loopback-clients';
import { loopbackCertificate } from '../src/local/tls';
import { contracts } from './support/contract-validator';

const SUB = '00000000-1111-2222-3333-444444444444';
const RG = 'rg-rotator';
const REPO = { owner: 'acme', repo: 'api' };
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let ca: string;
let github: GitHubEmulator;
let arm: ContainerAppsEmulator;

beforeAll(async () => {
  ca = (await loopbackCertificate()).ca;
  github = await new GitHubEmulator({ repos: ['acme/api'], tokens: [{ token: 'ghp_writer', repos: ['acme/api'] }] }).start();
  arm = await new ContainerAppsEmulator({ tokens: ['arm-token'], apps: [{ subscriptionId: SUB, resourceGroup: RG, name: 'web', revisions: [{ name: 'web--a' }] }] }).start();
});

afterAll(async () => {
  await github.stop();
  await arm.stop();
});

function octokit(): Octokit {
  return new Octokit({ auth: 'ghp_writer', baseUrl: github.url, request: { fetch: loopbackFetch(ca) }, log: silent });
}

function revisions() {
  return loopbackContainerAppsClient(arm.url, ca, new StaticTokenCredential('arm-token'), SUB).containerAppsRevisions;
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

  it('when an emulator answers a revision with a wrongly typed field, then the check names the JSON path and the type it got', async () => {
    const wrong = { id: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.App/containerApps/web/revisions/web--a`, name: 'web--a', properties: { replicas: 'two' } };
    arm.inject({ status: 200, body: wrong, match: (req) => req.method === 'GET' });
    const found = await violationsOf(() => revisions().getRevision(RG, 'web', 'web--a'));
    expect(found).toEqual([expect.stringContaining('[container-apps-revisions.json ContainerAppsRevisions_GetRevision]: response body $.properties.replicas: must be integer, got string')]);
  });

  it('when a revision reports a running state ARM is observed to return beyond the enum, then it passes, and any other value does not', async () => {
    const revision = (runningState: string) => ({ name: 'web--a', properties: { runningState } });
    arm.inject({ status: 200, body: revision('ActivationFailed'), match: (req) => req.method === 'GET' });
    expect(await violationsOf(() => revisions().getRevision(RG, 'web', 'web--a'))).toEqual([]);
    arm.inject({ status: 200, body: revision('Sleeping'), match: (req) => req.method === 'GET' });
    expect(await violationsOf(() => revisions().getRevision(RG, 'web', 'web--a'))).toEqual([expect.stringContaining('$.properties.runningState: must be equal to one of the allowed values (Running, Processing, Stopped, Degraded, Failed, Unknown), got "Sleeping"')]);
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
