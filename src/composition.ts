import type { TokenCredential } from '@azure/core-auth';
import type { EventGridPublisherClientOptions } from '@azure/eventgrid';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import type { Credential, RotationConfig } from './config/schema';
import type { RotationDeps } from './rotation/deps';
import { lifecycleEvents } from './targets/event-grid';
import { createKeyVaultSecrets, type KeyVaultSecrets } from './targets/key-vault';
import { entraTokenPassword, PostgresTarget, type AdminLogin } from './targets/postgres';

export interface CompositionOptions {
  config: RotationConfig;
  credential: TokenCredential;
  keyVaultOptions?: SecretClientOptions;
  pollIntervalMs?: number;
  now?: () => Date;
  /** The lifecycle topic: with a key, or else the credential above. Absent: no events. */
  events?: { endpoint: string; key?: string; clientOptions?: EventGridPublisherClientOptions };
  requiredAppRole?: string;
}

/** Wires adapters to configuration. Production and the local sandbox differ only in the options. */
export function composeDeps(options: CompositionOptions): RotationDeps {
  const vaults = new Map<string, KeyVaultSecrets>();
  const vault = (url: string): KeyVaultSecrets => {
    const key = url.replace(/\/+$/, '').toLowerCase();
    let secrets = vaults.get(key);
    if (!secrets) {
      secrets = createKeyVaultSecrets(url, options.credential, options.keyVaultOptions, options.pollIntervalMs);
      vaults.set(key, secrets);
    }
    return secrets;
  };
  const adminLogin = (c: Credential): AdminLogin => {
    const admin = c.postgres.admin;
    if (admin.auth === 'entra') return { user: admin.user, password: entraTokenPassword(options.credential) };
    return { user: admin.user, password: () => vault(c.keyVault.url).value('admin-login', admin.secret) };
  };
  return {
    config: options.config,
    vault,
    postgres: (c) => new PostgresTarget({ host: c.postgres.host, port: c.postgres.port, database: c.postgres.database, ssl: c.postgres.ssl, connectTimeoutSeconds: c.postgres.connectTimeoutSeconds }, adminLogin(c)),
    now: options.now ?? (() => new Date()),
    events: options.events && lifecycleEvents(options.events.endpoint, options.events.key, options.credential, options.events.clientOptions),
    requiredAppRole: options.requiredAppRole,
  };
}
