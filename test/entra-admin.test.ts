import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerApp } from '../src/app';
import { composeDeps } from '../src/composition';
import { parseConfig } from '../src/config/load';
import { DurableHost, installFunctionsCore } from '../src/local/durable-host';
import { ManagedIdentityEmulator } from '../src/local/emulators/managed-identity';
import { startPostgresTlsFront, type PostgresTlsFront } from '../src/local/postgres-tls-front';
import { ROTATOR_ROLE, secretNameFor, startLocalEnvironment, type LocalEnvironment } from '../src/local/environment';
import { loopbackAzureOptions } from '../src/local/loopback-clients';
import { instanceIdFor, ORCHESTRATOR } from '../src/orchestrations/contract';
import type { RotationStatus } from '../src/rotation/status';
import { scramSha256Verifier } from '../src/rotation/password';
import { managedIdentity } from '../src/targets/identity';
import { ADMIN_DATABASE, ENTRA_POSTGRES_SCOPE } from '../src/targets/postgres';

describe('the rotator logs in to PostgreSQL with a Microsoft Entra token', () => {
  let env: LocalEnvironment;
  let mi: ManagedIdentityEmulator;
  let front: PostgresTlsFront;
  const saved = { ...process.env };

  beforeAll(async () => {
    mi = await new ManagedIdentityEmulator().start();
    Object.assign(process.env, mi.environment);
    env = await startLocalEnvironment([{ id: 'entra-db', role: 'entra_app' }]);
    // On Azure the server validates the token; here the rotator role's password is that token.
    const admin = await env.postgres.connect();
    await admin.query(`ALTER ROLE ${ROTATOR_ROLE} PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(mi.tokenFor(ENTRA_POSTGRES_SCOPE)))}`);
    await admin.end();
    env.vault.grant(mi.tokenFor('https://vault.azure.net'), ['get', 'list', 'set', 'delete', 'recover']);
    // The token may only travel over verified TLS: the server is reached through a TLS-only front.
    front = await startPostgresTlsFront(env.postgres);
  });
  afterAll(async () => {
    process.env = saved;
    await front?.stop();
    await env?.stop();
    await mi?.stop();
  });

  it('when admin auth is entra, then the managed identity token is the password and the rotation succeeds', async () => {
    const credential = env.config.credentials[0];
    const config = parseConfig({
      credentials: [{ ...credential, postgres: { ...credential.postgres, port: front.port, ssl: 'require', admin: { auth: 'entra', user: ROTATOR_ROLE } } }],
    });
    const deps = composeDeps({
      config,
      credential: managedIdentity(mi.clientId),
      keyVaultOptions: { ...loopbackAzureOptions(env.vault.ca), disableChallengeResourceVerification: true },
      pollIntervalMs: 10,
      postgresCa: front.ca,
    });
    const registry = installFunctionsCore();
    registerApp(() => deps);
    const host = new DurableHost({ registry });
    try {
      const instanceId = await host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor('entra-db'), input: { credentialId: 'entra-db', reason: 'manual' } });
      const status = await host.waitForCompletion(instanceId, { timeoutMs: 60_000 });
      expect((status.customStatus as RotationStatus).outcome).toBe('succeeded');
    } finally {
      await host.close();
    }
    const resources = mi.requests.map((r) => r.query.get('resource'));
    expect(resources).toContain('https://ossrdbms-aad.database.windows.net');
    expect(resources).toContain('https://vault.azure.net');
    const adminLogins = env.postgres.serverLog.filter((l) => l.includes(`${ROTATOR_ROLE}@${ADMIN_DATABASE}`) && l.includes('credential_rotation.set_password('));
    expect(adminLogins).toHaveLength(1);
    expect(front.handshakes).toBeGreaterThanOrEqual(2);
    expect(env.vault.versions(secretNameFor('entra-db'))).toHaveLength(2);
  });
});
