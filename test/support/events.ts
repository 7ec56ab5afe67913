import type { LocalEnvironment } from '../../src/local/environment';
import { secretNameFor } from '../../src/local/environment';

/** A Key Vault secret event as Event Grid delivers it: PascalCase data, Unix-second times. */
export function keyVaultEvent(env: LocalEnvironment, opts: { credentialId?: string; secretName?: string; version?: string; type?: string; schema?: 'eventgrid' | 'cloudevents'; id?: string }) {
  const secretName = opts.secretName ?? secretNameFor(opts.credentialId ?? '');
  const version = opts.version ?? env.vault.versions(secretName).at(-1)?.version ?? '0'.repeat(32);
  const type = opts.type ?? 'Microsoft.KeyVault.SecretNearExpiry';
  const data = {
    Id: `${env.vault.url}/secrets/${secretName}/${version}`,
    VaultName: env.vault.vaultName,
    ObjectType: 'Secret',
    ObjectName: secretName,
    Version: version,
    NBF: Math.floor(Date.now() / 1000) - 3600,
    EXP: Math.floor(Date.now() / 1000) + 20 * 86_400,
  };
  const id = opts.id ?? `evt-${secretName}-${version.slice(0, 8)}`;
  const topic = `/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${env.vault.vaultName}`;
  if (opts.schema === 'cloudevents') return { specversion: '1.0', id, source: topic, subject: secretName, type, time: new Date().toISOString(), data };
  return { id, topic, subject: secretName, eventType: type, eventTime: new Date().toISOString(), dataVersion: '1', metadataVersion: '1', data };
}
