import { randomBytes } from 'node:crypto';
import { parseConfig } from '../config/load';
import type { RawConfig, RotationConfig } from '../config/schema';
import { composeDeps } from '../composition';
import type { RotationDeps } from '../rotation/deps';
import { generatePassword, scramSha256Verifier } from '../rotation/password';
import { TAG } from '../rotation/state';
import { startEmbeddedPostgres, type LocalPostgres } from './embedded-postgres';
import { CONTAINER_APPS_ACTIONS } from '../targets/arm-actions';
import { ContainerAppsEmulator } from './emulators/container-apps';
import type { RevisionSpec } from './emulators/container-apps-model';
import { EventGridEmulator } from './emulators/event-grid';
import { GitHubEmulator } from './emulators/github';
import { KeyVaultEmulator } from './emulators/key-vault';
import { loopbackAzureOptions, loopbackFetch, StaticTokenCredential } from './loopback-clients';

export const LOCAL_DATABASE = 'appdb';
export const LOCAL_SUBSCRIPTION = '00000000-0000-4000-8000-00000000a11c';
export const LOCAL_RESOURCE_GROUP = 'rg-local';
const GITHUB_TOKEN_SECRET = 'github-token';
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
  derived?: { secret: string; template: string }[];
  /** GitHub Actions secrets to keep in step; repositories and organisations are created on the emulator. */
  github?: { repo?: string; org?: string; environment?: string; secret: string; format?: string }[];
  /** Container Apps restarted after promote; revisions default to one healthy active revision. */
  containerApps?: { app: string; revisions?: RevisionSpec[] }[];
  /** Extra credential fields (graceMinutes, consumers, ...). */
  overrides?: Record<string, unknown>;
}

export interface LocalEnvironment {
  postgres: LocalPostgres;
  vault: KeyVaultEmulator;
  /** The lifecycle events topic the service publishes to. */
  events: EventGridEmulator;
  github: GitHubEmulator;
  containerApps: ContainerAppsEmulator;
  /** The clock the Container Apps emulator runs on: hand it a durable host's clock so timers and revisions agree. */
  useClock(now: () => number): void;
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
  let clock: () => number = Date.now;
  const serviceToken = `rotator-${randomBytes(8).toString('hex')}`;
  const githubToken = `ghs_${randomBytes(12).toString('hex')}`;
  const github = await new GitHubEmulator({ tokens: [{ token: githubToken, ...gitHubScopes(specs) }] }).start();
  const containerApps = await new ContainerAppsEmulator({ tokens: [{ token: serviceToken, actions: [...CONTAINER_APPS_ACTIONS] }], clock: () => clock(), activationMs: 20_000 }).start();
  const stopAll = async () => {
    await containerApps.stop();
    await github.stop();
    await events.stop();
    await vault.stop();
    await postgres.stop();
  };
  try {
    vault.grant(serviceToken, ['get', 'list', 'set', 'delete', 'recover']);
    const rotatorPassword = generatePassword(32);
    vault.seed(ADMIN_SECRET, rotatorPassword);
    vault.seed(GITHUB_TOKEN_SECRET, githubToken);
    for (const spec of specs) addConsumers(github, containerApps, spec);
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
    const config = parseConfig(localConfig(postgres, vault, specs, github, containerApps));
    const deps = composeDeps({
      config,
      credential: new StaticTokenCredential(serviceToken),
      keyVaultOptions: { ...loopbackAzureOptions(vault.ca), disableChallengeResourceVerification: true },
      pollIntervalMs: 10,
      events: { endpoint: events.endpoint, key: events.key, clientOptions: loopbackAzureOptions(vault.ca) },
      requiredAppRole: options.requiredAppRole,
      github: { fetch: loopbackFetch(vault.ca), maxWaitMs: 5_000 },
      armClientOptions: loopbackAzureOptions(vault.ca),
    });
    return {
      postgres,
      vault,
      events,
      github,
      containerApps,
      useClock: (now) => {
        clock = now;
      },
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

function gitHubScopes(specs: LocalCredentialSpec[]): { repos: string[]; orgs: string[] } {
  const targets = specs.flatMap((s) => s.github ?? []);
  return { repos: [...new Set(targets.flatMap((t) => (t.repo ? [t.repo] : [])))], orgs: [...new Set(targets.flatMap((t) => (t.org ? [t.org] : [])))] };
}

function addConsumers(github: GitHubEmulator, containerApps: ContainerAppsEmulator, spec: LocalCredentialSpec): void {
  for (const t of spec.github ?? []) {
    if (t.repo) github.addRepo(t.repo, t.environment ? [t.environment] : []);
    if (t.org) github.addOrg(t.org);
  }
  for (const a of spec.containerApps ?? []) {
    containerApps.addApp({ subscriptionId: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, name: a.app, revisions: a.revisions ?? [{ name: `${a.app}--r1` }] });
  }
}

function localConfig(postgres: LocalPostgres, vault: KeyVaultEmulator, specs: LocalCredentialSpec[], github: GitHubEmulator, containerApps: ContainerAppsEmulator): RawConfig {
  return {
    defaults: { graceMinutes: 15 },
    github: { apiUrl: github.url, auth: { auth: 'token', tokenSecret: GITHUB_TOKEN_SECRET, vaultUrl: vault.url } },
    arm: { endpoint: containerApps.url },
    credentials: specs.map((spec) => ({
      id: spec.id,
      strategy: 'single-user' as const,
      postgres: { host: postgres.host, port: postgres.port, database: LOCAL_DATABASE, ssl: 'disable' as const, role: spec.role, probeQuery: spec.probeQuery, admin: { auth: 'password' as const, user: ROTATOR_ROLE, secret: ADMIN_SECRET } },
      keyVault: { url: vault.url, secret: secretNameFor(spec.id), derived: spec.derived ?? [] },
      consumers: {
        github: (spec.github ?? []).map((t) => ({ ...t, format: t.format ?? 'password' })),
        containerApps: (spec.containerApps ?? []).map((a) => ({ subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, app: a.app })),
      },
      ...spec.overrides,
    })),
  };
}
