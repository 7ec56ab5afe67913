import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../config/load';
import type { RawConfig, RotationConfig } from '../config/schema';
import { composeDeps } from '../composition';
import type { RotationDeps } from '../rotation/deps';
import { generatePassword, scramSha256Verifier } from '../rotation/password';
import { TAG } from '../rotation/state';
import { startEmbeddedPostgres, type LocalPostgres, type PostgresMajor } from './embedded-postgres';
import { CONTAINER_APPS_ACTIONS } from '../targets/arm-actions';
import { ContainerAppsEmulator } from './emulators/container-apps';
import type { RevisionSpec } from './emulators/container-apps-model';
import { renderTemplate } from '../rotation/templates';
import { EventGridEmulator } from './emulators/event-grid';
import { GitHubEmulator } from './emulators/github';
import { KeyVaultEmulator } from './emulators/key-vault';
import { loopbackAzureOptions, loopbackFetch, StaticTokenCredential } from './loopback-clients';
import { psql } from './psql-script';
import { KEY_VAULT_DATA_ACTIONS, KEY_VAULT_SECRET_PERMISSIONS } from '../targets/key-vault-actions';

export const LOCAL_DATABASE = 'appdb';
export const LOCAL_SUBSCRIPTION = '00000000-0000-4000-8000-00000000a11c';
export const LOCAL_RESOURCE_GROUP = 'rg-local';
const GITHUB_TOKEN_SECRET = 'github-token';
export const ROTATOR_ROLE = 'credential_rotator';
const ADMIN_SECRET = 'pg-rotator-admin';
export function vaultResourceId(vault: KeyVaultEmulator): string {
  return `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/${LOCAL_RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/${vault.vaultName}`;
}

export interface LocalCredentialSpec {
  id: string;
  /** single-user: the login role. alternating-users: the group, with logins `<role>_a` and `<role>_b` (`_a` live). */
  role: string;
  strategy?: 'single-user' | 'alternating-users';
  probeQuery?: string;
  /** Expiry of the seeded live secret, in days from now (default 30). */
  liveExpiresInDays?: number;
  /** false: the role exists but its password was never put in Key Vault. */
  seedLive?: boolean;
  derived?: { secret: string; template: string }[];
  /** GitHub Actions secrets to keep in step; repositories and organisations are created on the emulator. */
  github?: { repo?: string; org?: string; environment?: string; secret: string; format?: string }[];
  /**
   * Container Apps whose app secrets are versionless Key Vault references (as users set them
   * up), read by every revision through `env` or a secret volume. Revisions default to one
   * healthy active revision; secrets default to one mapping: the first derived secret that
   * carries {user}, else the live secret.
   */
  containerApps?: LocalContainerApp[];
  /** Extra credential fields (graceMinutes, consumers, ...). */
  overrides?: Record<string, unknown>;
}

export interface LocalContainerApp {
  app: string;
  revisions?: RevisionSpec[];
  secrets?: { name: string; keyVaultSecret: string }[];
  mode?: 'key-vault-reference' | 'restart-only';
  /** How the revisions read the secrets; default env. */
  via?: 'env' | 'volume';
}

export interface LocalEnvironment {
  postgres: LocalPostgres;
  vault: KeyVaultEmulator;
  /** The lifecycle events topic the service publishes to. */
  events: EventGridEmulator;
  github: GitHubEmulator;
  containerApps: ContainerAppsEmulator;
  /** Logs in as `role` with `password` and runs SELECT 1: `accepted`, or `refused <SQLSTATE>`. */
  login(role: string, password: string): Promise<string>;
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
 * rotator role (EXECUTE on the password functions, which accept its managed roles only), and
 * a Key Vault emulator holding each credential's live secret and the rotator's own password.
 */
export async function startLocalEnvironment(specs: LocalCredentialSpec[], options: { requiredAppRole?: string; postgresMajor?: PostgresMajor } = {}): Promise<LocalEnvironment> {
  const postgres = await startEmbeddedPostgres({ major: options.postgresMajor });
  const vault = await new KeyVaultEmulator().start();
  const events = await new EventGridEmulator().start();
  let clock: () => number = Date.now;
  const serviceToken = `rotator-${randomBytes(8).toString('hex')}`;
  const githubToken = `ghs_${randomBytes(12).toString('hex')}`;
  const github = await new GitHubEmulator({ tokens: [{ token: githubToken, ...gitHubScopes(specs) }] }).start();
  const containerApps = await new ContainerAppsEmulator({ tokens: [{ token: serviceToken, actions: [...CONTAINER_APPS_ACTIONS], dataActions: [...KEY_VAULT_DATA_ACTIONS] }], clock: () => clock(), activationMs: 20_000, keyVaults: [vault] }).start();
  const stopAll = async () => {
    await containerApps.stop();
    await github.stop();
    await events.stop();
    await vault.stop();
    await postgres.stop();
  };
  try {
    vault.grant(serviceToken, KEY_VAULT_SECRET_PERMISSIONS);
    containerApps.addResource(vaultResourceId(vault));
    const rotatorPassword = generatePassword(32);
    vault.seed(ADMIN_SECRET, rotatorPassword);
    vault.seed(GITHUB_TOKEN_SECRET, githubToken);
    for (const spec of specs) addGitHubConsumers(github, spec);
    const initialPasswords = new Map<string, string>();
    const admin = await postgres.connect();
    try {
      // The set-up's own verifiers are fixtures: kept out of the statement log, so a test can
      // require that no verifier at all appears there.
      await admin.query(`SET log_statement = 'none'`);
      await admin.query(`CREATE DATABASE ${LOCAL_DATABASE}`);
      // The rotator is made exactly as infra/postgres makes it on Azure, with a password instead of Entra.
      await admin.query(`CREATE ROLE ${ROTATOR_ROLE} LOGIN PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(rotatorPassword))}`);
      await admin.query(bootstrapScript('10-rotator.sql', {}));
      for (const spec of specs) initialPasswords.set(spec.id, await createManagedRole(admin, vault, spec));
    } finally {
      await admin.end();
    }
    await grantGroupsCreate(postgres, specs);
    for (const spec of specs) addContainerApps(containerApps, vault, postgres, spec, initialPasswords.get(spec.id)!);
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
      login: (role, password) => tryLogin(postgres, role, password),
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

/** Creates the credential's roles with the bootstrap scripts, gives the live login a password and stores it as the live secret. */
async function createManagedRole(admin: Client, vault: KeyVaultEmulator, spec: LocalCredentialSpec): Promise<string> {
  const password = generatePassword(32);
  const live = liveLoginOf(spec);
  if (spec.strategy === 'alternating-users') {
    await admin.query(bootstrapScript('21-alternating-users.sql', { group_role: spec.role, login_a: `${spec.role}_a`, login_b: `${spec.role}_b` }));
    await admin.query(`ALTER ROLE ${admin.escapeIdentifier(`${spec.role}_b`)} NOLOGIN`);
  } else {
    await admin.query(bootstrapScript('20-single-user.sql', { managed_role: spec.role }));
  }
  await admin.query(`ALTER ROLE ${admin.escapeIdentifier(live)} PASSWORD ${admin.escapeLiteral(await scramSha256Verifier(password))}`);
  for (const role of loginsOf(spec)) await admin.query(`GRANT CONNECT ON DATABASE ${LOCAL_DATABASE} TO ${admin.escapeIdentifier(role)}`);
  if (spec.seedLive !== false) vault.seed(secretNameFor(spec.id), password, { tags: { [TAG.credential]: spec.id, [TAG.role]: live }, expiresOn: new Date(Date.now() + (spec.liveExpiresInDays ?? 30) * 86_400_000) });
  return password;
}

async function tryLogin(postgres: LocalPostgres, role: string, password: string): Promise<string> {
  const client = new Client({ host: postgres.host, port: postgres.port, database: LOCAL_DATABASE, user: role, password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'accepted';
  } catch (error) {
    return `refused ${(error as { code?: string }).code ?? (error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Alternating groups own what either login creates, so they need to create in the application's schema. */
async function grantGroupsCreate(postgres: LocalPostgres, specs: LocalCredentialSpec[]): Promise<void> {
  const groups = specs.filter((s) => s.strategy === 'alternating-users').map((s) => s.role);
  if (groups.length === 0) return;
  const app = await postgres.connect(LOCAL_DATABASE);
  try {
    for (const group of groups) await app.query(`GRANT CREATE, USAGE ON SCHEMA public TO ${app.escapeIdentifier(group)}`);
  } finally {
    await app.end();
  }
}

function loginsOf(spec: LocalCredentialSpec): string[] {
  return spec.strategy === 'alternating-users' ? [`${spec.role}_a`, `${spec.role}_b`] : [spec.role];
}

export function liveLoginOf(spec: LocalCredentialSpec): string {
  return loginsOf(spec)[0];
}

function bootstrapScript(file: string, variables: Record<string, string>): string {
  return psql(readFileSync(join(__dirname, '..', '..', 'infra', 'postgres', file), 'utf8'), { rotator_role: ROTATOR_ROLE, ...variables });
}

export function secretNameFor(credentialId: string): string {
  return `${credentialId}-password`;
}

function gitHubScopes(specs: LocalCredentialSpec[]): { repos: string[]; orgs: string[] } {
  const targets = specs.flatMap((s) => s.github ?? []);
  return { repos: [...new Set(targets.flatMap((t) => (t.repo ? [t.repo] : [])))], orgs: [...new Set(targets.flatMap((t) => (t.org ? [t.org] : [])))] };
}

function addGitHubConsumers(github: GitHubEmulator, spec: LocalCredentialSpec): void {
  for (const t of spec.github ?? []) {
    if (t.repo) github.addRepo(t.repo, t.environment ? [t.environment] : []);
    if (t.org) github.addOrg(t.org);
  }
}

/**
 * Each app gets versionless references to the Key Vault secrets it maps, as users set them
 * up, and derived secrets it maps are written from the initial password (the deployment
 * would have them before any rotation).
 */
function addContainerApps(containerApps: ContainerAppsEmulator, vault: KeyVaultEmulator, postgres: LocalPostgres, spec: LocalCredentialSpec, password: string): void {
  for (const a of spec.containerApps ?? []) {
    const mappings = appSecretsOf(spec, a);
    for (const m of mappings) {
      const derived = spec.derived?.find((d) => d.secret === m.keyVaultSecret);
      if (derived && vault.versions(derived.secret).length === 0) {
        vault.seed(derived.secret, renderTemplate(derived.template, { user: liveLoginOf(spec), password, host: postgres.host, port: postgres.port, database: LOCAL_DATABASE, sslmode: 'verify-full' }), { tags: { [TAG.credential]: spec.id } });
      }
    }
    const identity = `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/${LOCAL_RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${a.app}`;
    const secrets = mappings.map((m) => ({ name: m.name, keyVaultUrl: `${vault.url}/secrets/${m.keyVaultSecret}`, identity }));
    const reads = a.via === 'volume' ? { secretVolumes: [{ name: 'secrets', mountPath: '/mnt/secrets' }] } : { env: mappings.map((m) => ({ name: m.name.toUpperCase().replace(/[-.]/g, '_'), secretRef: m.name })) };
    const revisions = (a.revisions ?? [{ name: `${a.app}--r1` }]).map((r) => ({ ...reads, ...r }));
    containerApps.addApp({ subscriptionId: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, name: a.app, secrets, revisions });
  }
}

/** What the emulated app references; a restart-only app keeps its references, the rotator just does not touch them. */
function appSecretsOf(spec: LocalCredentialSpec, a: LocalContainerApp): { name: string; keyVaultSecret: string }[] {
  if (a.secrets) return a.secrets;
  const carrier = spec.derived?.find((d) => d.template.includes('{user}'));
  return carrier ? [{ name: 'database-url', keyVaultSecret: carrier.secret }] : [{ name: 'db-password', keyVaultSecret: secretNameFor(spec.id) }];
}

function localConfig(postgres: LocalPostgres, vault: KeyVaultEmulator, specs: LocalCredentialSpec[], github: GitHubEmulator, containerApps: ContainerAppsEmulator): RawConfig {
  return {
    defaults: { graceMinutes: 15 },
    github: { apiUrl: github.url, auth: { auth: 'token', tokenSecret: GITHUB_TOKEN_SECRET, vaultUrl: vault.url } },
    arm: { endpoint: containerApps.url },
    credentials: specs.map((spec) => ({
      id: spec.id,
      strategy: spec.strategy ?? 'single-user',
      postgres: {
        host: postgres.host,
        port: postgres.port,
        database: LOCAL_DATABASE,
        ssl: 'disable' as const,
        ...(spec.strategy === 'alternating-users' ? { roles: loginsOf(spec) as [string, string], group: spec.role } : { role: spec.role }),
        probeQuery: spec.probeQuery,
        admin: { auth: 'password' as const, user: ROTATOR_ROLE, secret: ADMIN_SECRET },
      },
      keyVault: { url: vault.url, secret: secretNameFor(spec.id), derived: spec.derived ?? [], resourceId: vaultResourceId(vault) },
      consumers: {
        github: (spec.github ?? []).map((t) => ({ ...t, format: t.format ?? 'password' })),
        containerApps: (spec.containerApps ?? []).map((a) => ({ subscription: LOCAL_SUBSCRIPTION, resourceGroup: LOCAL_RESOURCE_GROUP, app: a.app, mode: a.mode, secrets: a.mode === 'restart-only' ? [] : appSecretsOf(spec, a) })),
      },
      ...spec.overrides,
    })),
  };
}
