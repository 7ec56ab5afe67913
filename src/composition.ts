import type { TokenCredential } from '@azure/core-auth';
import type { EventGridPublisherClientOptions } from '@azure/eventgrid';
import type { ContainerAppsAPIClientOptionalParams } from '@azure/arm-appcontainers';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import type { Credential, GitHubSettings, RotationConfig } from './config/schema';
import { RotationError } from './errors';
import type { RotationDeps } from './rotation/deps';
import { ArmPermissions } from './targets/arm-permissions';
import { ContainerApps } from './targets/container-apps';
import { lifecycleEvents } from './targets/event-grid';
import { GitHubSecrets, type GitHubAuth } from './targets/github';
import { createKeyVaultSecrets, type KeyVaultSecrets } from './targets/key-vault';
import { KeyVaultPacer } from './targets/key-vault-pacing';
import { entraTokenPassword, PostgresTarget, type AdminLogin, type PostgresEndpoint } from './targets/postgres';
import { PostgresInspector } from './targets/postgres-inspect';

export interface CompositionOptions {
  config: RotationConfig;
  credential: TokenCredential;
  keyVaultOptions?: SecretClientOptions;
  pollIntervalMs?: number;
  now?: () => Date;
  /** The lifecycle topic: with a key, or else the credential above. Absent: no events. */
  events?: { endpoint: string; key?: string; clientOptions?: EventGridPublisherClientOptions };
  requiredAppRole?: string;
  /** For GitHub behind a loopback certificate, and shorter rate-limit waits in tests. */
  github?: { fetch?: typeof fetch; maxWaitMs?: number };
  armClientOptions?: ContainerAppsAPIClientOptionalParams;
  /** For a PostgreSQL server behind a loopback certificate. */
  postgresCa?: string;
}

/** Wires adapters to configuration. Production and the local sandbox differ only in the options. */
export function composeDeps(options: CompositionOptions): RotationDeps {
  const vaults = new Map<string, KeyVaultSecrets>();
  const keyVaultOptions = paced(options.keyVaultOptions, new KeyVaultPacer(options.config.limits.keyVaultShare));
  const vault = (url: string): KeyVaultSecrets => {
    const key = url.replace(/\/+$/, '').toLowerCase();
    let secrets = vaults.get(key);
    if (!secrets) {
      secrets = createKeyVaultSecrets(url, options.credential, keyVaultOptions, options.pollIntervalMs);
      vaults.set(key, secrets);
    }
    return secrets;
  };
  const adminLogin = (c: Credential): AdminLogin => {
    const admin = c.postgres.admin;
    if (admin.auth === 'entra') return { user: admin.user, password: entraTokenPassword(options.credential) };
    const secrets = vault(c.keyVault.url);
    return { user: admin.user, password: () => secrets.recentValue('admin-login', admin.secret), forget: () => secrets.forget(admin.secret) };
  };
  let github: GitHubSecrets | undefined;
  let containerApps: ContainerApps | undefined;
  let armPermissions: ArmPermissions | undefined;
  const endpoint = (c: Credential): PostgresEndpoint => ({ host: c.postgres.host, port: c.postgres.port, database: c.postgres.database, ssl: c.postgres.ssl, connectTimeoutSeconds: c.postgres.connectTimeoutSeconds, ca: options.postgresCa, maxSessions: options.config.limits.postgresSessionsPerServer });
  return {
    config: options.config,
    github: () => (github ??= gitHubSecrets(options, vault)),
    containerApps: () => (containerApps ??= new ContainerApps({ endpoint: options.config.arm.endpoint, credential: options.credential, clientOptions: options.armClientOptions, pollIntervalMs: options.pollIntervalMs })),
    armPermissions: () => (armPermissions ??= new ArmPermissions({ endpoint: options.config.arm.endpoint, credential: options.credential, clientOptions: options.armClientOptions })),
    vault,
    postgres: (c) => new PostgresTarget(endpoint(c), adminLogin(c)),
    inspectPostgres: (c) => new PostgresInspector(endpoint(c), adminLogin(c)),
    now: options.now ?? (() => new Date()),
    events: options.events && lifecycleEvents(options.events.endpoint, options.events.key, options.credential, options.events.clientOptions),
    requiredAppRole: options.requiredAppRole,
  };
}

/** Every client of every vault goes through one pacer: each vault's share is spent once, whoever reads it. */
function paced(clientOptions: SecretClientOptions = {}, pacer: KeyVaultPacer): SecretClientOptions {
  return { ...clientOptions, additionalPolicies: [...(clientOptions.additionalPolicies ?? []), { policy: pacer.policy(), position: 'perRetry' }] };
}

function gitHubSecrets(options: CompositionOptions, vault: (url: string) => KeyVaultSecrets): GitHubSecrets {
  const settings = options.config.github;
  if (!settings) throw new RotationError({ code: 'invalid-config', stage: 'propagate', message: 'a GitHub consumer is configured but the github section is missing' });
  return new GitHubSecrets({ apiUrl: settings.apiUrl, auth: gitHubAuth(settings, vault), fetch: options.github?.fetch, maxWaitMs: options.github?.maxWaitMs });
}

/** The App key or token stays in Key Vault and is read when a token is needed. */
function gitHubAuth(settings: GitHubSettings, vault: (url: string) => KeyVaultSecrets): GitHubAuth {
  const auth = settings.auth;
  if (auth.auth === 'app') return { kind: 'app', appId: auth.appId, installationId: auth.installationId, privateKey: () => vault(auth.vaultUrl).value('propagate', auth.privateKeySecret) };
  return { kind: 'token', token: () => vault(auth.vaultUrl).value('propagate', auth.tokenSecret) };
}
