import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretNameFor } from '../src/local/environment';
import { loopbackAzureOptions, StaticTokenCredential } from '../src/local/loopback-clients';
import { TAG } from '../src/rotation/state';
import { startHarness, type Harness } from './support/harness';

const OPERATOR_TAGS = { owner: 'team-data', 'cost-center': '4711', environment: 'prod' };

describe("operators' tags and content type on the live secret", () => {
  let h: Harness;
  let client: SecretClient;
  beforeAll(async () => {
    h = await startHarness([{ id: 'tagged-db', role: 'tagged_app', derived: [{ secret: 'tagged-db-url', template: 'postgresql://{user}:{password}@{host}:{port}/{database}' }] }]);
    client = new SecretClient(h.env.vault.url, new StaticTokenCredential(h.env.serviceToken), { ...loopbackAzureOptions(h.env.vault.ca), disableChallengeResourceVerification: true });
  });
  afterAll(() => h?.stop());

  async function label(name: string, contentType: string): Promise<void> {
    const current = await client.getSecret(name);
    await client.updateSecretProperties(name, current.properties.version!, { tags: { ...current.properties.tags, ...OPERATOR_TAGS }, contentType });
  }

  it('when operators tagged the live and derived secrets and set their content type, then two rotations keep both on the new versions, beside the rotator\'s own tags', async () => {
    const live = secretNameFor('tagged-db');
    await label(live, 'application/x-postgres-password');
    expect((await h.rotate(h.newHost(), 'tagged-db')).custom.outcome).toBe('succeeded');
    await label('tagged-db-url', 'application/x-postgres-url');

    const second = await h.rotate(h.newHost(), 'tagged-db');

    expect(second.custom.outcome).toBe('succeeded');
    for (const [name, contentType] of [[live, 'application/x-postgres-password'], ['tagged-db-url', 'application/x-postgres-url']]) {
      const current = h.env.vault.versions(name).at(-1)!;
      expect(current.tags, name).toMatchObject({ ...OPERATOR_TAGS, [TAG.rotationId]: second.custom.rotationId });
      expect(current.contentType, name).toBe(contentType);
    }
  });
});
