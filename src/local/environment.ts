import { randomBytes } from 'node:crypto';
import { parseConfig } from '../config/load';
import type { RawConfig, RotationConfig } from '../config/schema';
import { composeDeps } from '../composition';
import type { RotationDeps } from '../rotation/deps';
import { generatePassword, scramSha256Verifier } from '../rotation/password';
import { TAG } from '../rotation/state';
import { startEmbeddedPostgres, type LocalPostgres } from './embedded-postgres';
import { EventGridEmulator } from './emulators/event-grid';
import { KeyVaultEmulator } from './emulators/key-vault';
import { loopbackAzureOptions, StaticTokenCredential } from './loopback-clients';

export const LOCAL_DATABASE = 'appdb';
export const ROTATOR_ROLE = 'credential_rotator';
const ADMIN_SECRET = 'pg-rotator-admin';

export interface LocalCredentialSpec {
  id: string;
  role: string;
  probeQuery?: string;
  /** Expiry of the seeded live secret, in days from now (default 30). */
  liveExpiresInDays?: number;
  /** false: the role exists but its password was never put in Key Vault. */
  seedLive?: boolean;
  /** Extra credential fields (graceMinutes, consumers, ...). */
  overrides?: Record<string, unknown>;
}

export interface LocalEnvironment {
  postgres: LocalPostgres;
  vault: KeyVaultEmulator;
  /** The lifecycle events topic the service publishes to. */
  events: EventGridEmulator;
  /** The bearer token the service presents to the vault: secrets get/list/set/delete/recover, no purge. */
  serviceToken: string;
  config: RotationConfig;
  deps: RotationDeps;
  /** The password each credential's role had before any rotation (kept by the vault as the live secret). */
  initialPasswords: Map<string, string>;
  stop(): Promise<void>;
}

/**
 * Everything a rotation touches, on this machine: a real PostgreSQL with a least-privilege
 * rotator role (CREATEROLE, ADMIN OPTION on its managed roles only), and a Key Vault
 * emulator holding each credential's live secret and the rotator's own password.
 */
export async function startLocalEnvironment(specs: LocalCredentialSpec[], options: { requiredAppRole?: string } = {}): Promise<LocalEnvironment> {
  const postgres = await startEmbeddedPostgres();
  const vault = await new KeyVaultEmulator().start();
  const events = await new EventGridEmulator().start();
  const stopAll = async () => {
    await events.stop();
    await vault.stop();
    await postgres.stop();
  };
  try {
    const serviceToken = `rotator-${randomBytes(8).toString('hex')}`;
    vault.grant(serviceToken, ['get', 'list', 'set', 'delete', 'recover']);
    const rotatorPassword = generatePassword(32);
    vault.seed(ADMIN_SECRET, rotatorPassword);
    const initialPasswords = new Map<string, string>();
    const admin = await postgres.connect();
    try {
      await admin.query(`CREATE DATABASE ${LOCAL_DATABASE}`);
      await admin.query(`CREATE ROLE ${ROTATOR_ROLE} LOGIN CREATEROLE PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(rotatorPassword))}`);
      await admin.query(`GRANT CONNECT ON DATABASE ${LOCAL_DATABASE} TO ${ROTATOR_ROLE}`);
      for (const spec of specs) initialPasswords.set(spec.id, await createManagedRole(admin, vault, spec));
    } finally {
      await admin.end();
    }
    const config = parseConfig(localConfig(postgres, vault, specs));
    const deps = composeDeps({
      config,
      credential: new StaticTokenCredential(serviceToken),
      keyVaultOptions: { ...loopbackAzureOptions(vault.ca), disableChallengeResourceVerification: true },
      pollIntervalMs: 10,
      events: { endpoint: events.endpoint, key: events.key, clientOptions: loopbackAzureOptions(vault.ca) },
      requiredAppRole: options.requiredAppRole,
    });
    return {
      postgres,
      vault,
      events,
      serviceToken,
      config,
      deps,
      initialPasswords,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function createManagedRole(admin: import('pg').Client, vault: KeyVaultEmulator, spec: LocalCredentialSpec): Promise<string> {
  const password = generatePassword(32);
  const role = admin.escapeIdentifier(spec.role);
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(password))}`);
  await admin.query(`GRANT CONNECT ON DATABASE ${LOCAL_DATABASE} TO ${role}`);
  await admin.query(`GRANT ${role} TO ${ROTATOR_ROLE} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE`);
  if (spec.seedLive !== false) vault.seed(secretNameFor(spec.id), password, { tags: { [TAG.credential]: spec.id, [TAG.role]: spec.role }, expiresOn: new Date(Date.now() + (spec.liveExpiresInDays ?? 30) * 86_400_000) });
  return password;
}

export function secretNameFor(credentialId: string): string {
  return `${credentialId}-password`;
}

function localConfig(postgres: LocalPostgres, vault: KeyVaultEmulator, specs: LocalCredentialSpec[]): RawConfig {
  return {
    defaults: { graceMinutes: 15 },
    credentials: specs.map((spec) => ({
      id: spec.id,
      strategy: 'single-user' as const,
      postgres: { host: postgres.host, port: postgres.port, database: LOCAL_DATABASE, ssl: 'disable' as const, role: spec.role, probeQuery: spec.probeQuery, admin: { auth: 'password' as const, user: ROTATOR_ROLE, secret: ADMIN_SECRET } },
      keyVault: { url: vault.url, secret: secretNameFor(spec.id) },
      ...spec.overrides,
    })),
  };
}
