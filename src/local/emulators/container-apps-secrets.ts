/**
 * Container App secrets as the platform keeps them: a value, or a Key Vault reference the
 * platform resolves with the app's identity and caches. Each rule cites its source.
 *
 * Docs: https://learn.microsoft.com/azure/container-apps/manage-secrets (DOCS below);
 * spec: specification/app/resource-manager/Microsoft.App/ContainerApps (`Secret`,
 * `Configuration.secrets`, `ContainerApps_ListSecrets`).
 */

/** What a client writes in `properties.configuration.secrets[]` (spec `Secret`). */
export interface SecretInput {
  name?: string;
  value?: string;
  identity?: string;
  keyVaultUrl?: string;
}

/** What a replica got for one secret when it started. */
export interface ResolvedSecret {
  value: string;
  /** Key Vault references: the version the value came from. */
  version?: string;
}

export interface AppSecret {
  name: string;
  value?: string;
  keyVaultUrl?: string;
  identity?: string;
  /** The value the platform hands to replicas that start now (its cache, for references). */
  resolved: ResolvedSecret;
}

/** The Key Vault the platform reads references from (the Key Vault emulator fits). */
export interface ReferencedVault {
  readonly url: string;
  versions(name: string): { version: string; value: string; enabled: boolean; createdOn: Date }[];
}

export class SecretError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// ARM's rule for secret names (the error ARM returns for `Secret.name`): lower-case
// alphanumerics, '-' or '.', starting and ending with an alphanumeric.
const SECRET_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/**
 * Validates a whole `secrets` array and resolves every reference. A write replaces the
 * array as a whole (spec: `configuration.secrets` is a plain array property; PATCH and PUT
 * send it whole, which is why `az containerapp secret set` reads `listSecrets` first).
 * `previous` keeps a reference's cached version when its URL is unchanged.
 */
export function acceptSecrets(input: unknown, vaults: readonly ReferencedVault[], previous: readonly AppSecret[], at: number): AppSecret[] {
  if (!Array.isArray(input)) throw new SecretError('InvalidRequestContent', 'properties.configuration.secrets must be an array.');
  const seen = new Set<string>();
  return input.map((raw: SecretInput) => {
    const name = raw?.name ?? '';
    if (!SECRET_NAME.test(name)) {
      throw new SecretError('ContainerAppSecretInvalidName', `Invalid Request: Container app secret(s) with name(s) '${name}' are invalid: value must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character.`);
    }
    if (seen.has(name)) throw new SecretError('ContainerAppDuplicateSecretName', `Container app secret name '${name}' is duplicated.`);
    seen.add(name);
    const hasValue = typeof raw.value === 'string';
    const hasReference = typeof raw.keyVaultUrl === 'string';
    // DOCS "Defining secrets": each secret is a value or a Key Vault reference, never both. Stricter: both or neither is refused.
    if (hasValue === hasReference) throw new SecretError('ContainerAppSecretInvalid', `Container app secret '${name}' must have exactly one of value and keyVaultUrl.`);
    if (hasValue) return { name, value: raw.value!, resolved: { value: raw.value! } };
    // DOCS "Reference secret from Key Vault": the identity (a user-assigned resource id or `system`) is required with keyVaultUrl.
    if (!raw.identity) throw new SecretError('ContainerAppSecretInvalid', `Container app secret '${name}' references Key Vault but names no identity.`);
    const kept = previous.find((p) => p.name === name && p.keyVaultUrl === raw.keyVaultUrl);
    // Stricter than the docs say: an unresolvable reference is refused at write time rather than failing replicas later.
    const resolved = kept?.resolved ?? resolveReference(raw.keyVaultUrl!, vaults, at);
    return { name, keyVaultUrl: raw.keyVaultUrl, identity: raw.identity, resolved };
  });
}

export interface KeyVaultReference {
  vault: ReferencedVault;
  secret: string;
  /** Absent: versionless, the platform follows the latest version. */
  version?: string;
}

/**
 * DOCS "Key Vault secret URI and secret rotation": the URI is either
 * `https://<vault>.vault.azure.net/secrets/<name>/<version>` or `.../secrets/<name>`. Nothing else is accepted.
 */
export function parseReference(url: string, vaults: readonly ReferencedVault[]): KeyVaultReference {
  const match = /^(https:\/\/[^/]+)\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-f]{32}))?$/.exec(url);
  const vault = match && vaults.find((v) => v.url.replace(/\/+$/, '').toLowerCase() === match[1].toLowerCase());
  if (!match || !vault) throw new SecretError('ContainerAppSecretKeyVaultUrlInvalid', `Key Vault URL '${url}' is not a secret URI of a reachable vault (https://<vault>/secrets/<name>[/<version>]).`);
  return { vault, secret: match[2], version: match[3] };
}

/** The value a reference resolves to now; a versionless one takes the latest enabled version created by `at`. */
export function resolveReference(url: string, vaults: readonly ReferencedVault[], at: number): ResolvedSecret {
  const ref = parseReference(url, vaults);
  const versions = ref.vault.versions(ref.secret);
  const found = ref.version ? versions.find((v) => v.version === ref.version) : versions.filter((v) => v.createdOn.getTime() <= at).at(-1);
  if (!found || !found.enabled) throw new SecretError('ContainerAppSecretKeyVaultUrlInvalid', `Key Vault secret '${url}' could not be read with the secret's identity.`);
  return { value: found.value, version: found.version };
}

/**
 * The platform's refresh of versionless references (DOCS "Key Vault secret URI and secret
 * rotation": the latest version is fetched "within 30 minutes"). Modelled as a sync every
 * `intervalMs` from the app's creation; returns the names whose cached version changed.
 * The docs do not say when in the 30 minutes it happens: the emulator takes the latest
 * moment, which is the stricter reading.
 */
export function syncReferences(secrets: AppSecret[], vaults: readonly ReferencedVault[], at: number): string[] {
  const changed: string[] = [];
  for (const secret of secrets) {
    if (!secret.keyVaultUrl || parseReference(secret.keyVaultUrl, vaults).version) continue;
    let latest: ResolvedSecret;
    try {
      latest = resolveReference(secret.keyVaultUrl, vaults, at);
    } catch {
      continue; // the platform keeps the cached value when Key Vault cannot be read
    }
    if (latest.version !== secret.resolved.version) {
      secret.resolved = latest;
      changed.push(secret.name);
    }
  }
  return changed;
}

/**
 * GET never returns values (spec: `Secret.value` is write-only, `x-ms-secret`); listSecrets
 * does, for value secrets. For references the emulator returns the URL and identity only: the
 * docs do not say listSecrets reveals a referenced value, so it never does here.
 */
export function secretsJson(secrets: readonly AppSecret[], withValues: boolean): unknown[] {
  return secrets.map((s) => (s.keyVaultUrl ? { name: s.name, keyVaultUrl: s.keyVaultUrl, identity: s.identity } : withValues ? { name: s.name, value: s.value } : { name: s.name }));
}
