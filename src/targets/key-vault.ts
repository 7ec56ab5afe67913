import type { TokenCredential } from '@azure/core-auth';
import type { SecretClient, SecretClientOptions, SecretProperties } from '@azure/keyvault-secrets';
import { isTransient, RotationError } from '../errors';
import { holdSecret } from '../held-secrets';
import { forgetSecret, recallLatest, recallVersion, rememberLatest, rememberVersion } from './secret-memory';

/** What the rest of the service may see of a secret version: never its value. */
export interface SecretVersionInfo {
  name: string;
  version: string;
  tags: Record<string, string>;
  enabled: boolean;
  createdOn?: string;
  expiresOn?: string;
  contentType?: string;
}

/** A secret's latest version as a listing shows it: its properties, without the version id. */
export type SecretSummary = Omit<SecretVersionInfo, 'version'>;

export interface WriteOptions {
  tags: Record<string, string>;
  expiresOn?: Date;
  contentType?: string;
}

export function createKeyVaultSecrets(url: string, credential: TokenCredential, options: SecretClientOptions = {}, pollIntervalMs?: number): KeyVaultSecrets {
  // Required on first use, so a cold start does not load the SDK.
  return new KeyVaultSecrets(new (require('@azure/keyvault-secrets') as typeof import('@azure/keyvault-secrets')).SecretClient(url, credential, options), pollIntervalMs);
}

/** The only module that talks to Key Vault. One instance per vault. */
export class KeyVaultSecrets {
  constructor(private readonly client: SecretClient, private readonly pollIntervalMs = 2000) {}

  get vaultUrl(): string {
    return this.client.vaultUrl;
  }

  /** The latest version's metadata, or undefined when the secret does not exist (or is deleted). */
  async latest(stage: string, name: string): Promise<SecretVersionInfo | undefined> {
    try {
      const secret = await this.client.getSecret(name);
      holdSecret(secret.value);
      const info = describe(secret.properties);
      // The value came with the metadata: a stage that needs it next does not read it again.
      if (secret.value !== undefined && info.enabled) rememberVersion(this.vaultUrl, name, info.version, secret.value);
      return info;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw classifyKeyVaultError(stage, `reading secret ${name}`, error);
    }
  }

  /** The value of a version (the latest when no version is given); a version this worker already holds is not read again. */
  async value(stage: string, name: string, version?: string): Promise<string> {
    const remembered = version === undefined ? undefined : recallVersion(this.vaultUrl, name, version);
    if (remembered !== undefined) {
      holdSecret(remembered);
      return remembered;
    }
    return (await this.read(stage, name, version)).value;
  }

  /**
   * The latest value, read at most every few minutes (the admin login's password, read for
   * every admin session otherwise). A caller whose login it fails calls `forget` and reads again.
   */
  async recentValue(stage: string, name: string): Promise<string> {
    const remembered = recallLatest(this.vaultUrl, name);
    if (remembered !== undefined) {
      holdSecret(remembered);
      return remembered;
    }
    const secret = await this.read(stage, name);
    rememberLatest(this.vaultUrl, name, secret.version, secret.value);
    return secret.value;
  }

  forget(name: string): void {
    forgetSecret(this.vaultUrl, name);
  }

  private async read(stage: string, name: string, version?: string): Promise<{ value: string; version: string }> {
    const what = `reading secret ${name} version ${version ?? '(latest)'}`;
    try {
      const secret = await this.client.getSecret(name, { version });
      if (secret.value === undefined) throw new RotationError({ code: 'secret-empty', stage, message: `${what}: no value` });
      holdSecret(secret.value);
      const read = describe(secret.properties).version;
      rememberVersion(this.vaultUrl, name, read, secret.value);
      return { value: secret.value, version: read };
    } catch (error) {
      throw classifyKeyVaultError(stage, what, error);
    }
  }

  /** Writes a new version; a soft-deleted name is recovered first, since Key Vault refuses to reuse it. */
  async write(stage: string, name: string, value: string, options: WriteOptions): Promise<SecretVersionInfo> {
    holdSecret(value);
    const set = async () => {
      const written = describe((await this.client.setSecret(name, value, { tags: options.tags, expiresOn: options.expiresOn, contentType: options.contentType ?? 'text/plain' })).properties);
      rememberVersion(this.vaultUrl, name, written.version, value);
      return written;
    };
    try {
      try {
        return await set();
      } catch (error) {
        if (!isDeletedButRecoverable(error)) throw error;
        const poller = await this.client.beginRecoverDeletedSecret(name, { intervalInMs: this.pollIntervalMs });
        await poller.pollUntilDone();
        return await set();
      }
    } catch (error) {
      throw classifyKeyVaultError(stage, `writing secret ${name}`, error);
    }
  }

  async setTags(stage: string, name: string, version: string, tags: Record<string, string>): Promise<void> {
    try {
      await this.client.updateSecretProperties(name, version, { tags });
    } catch (error) {
      throw classifyKeyVaultError(stage, `tagging secret ${name} version ${version}`, error);
    }
  }

  /**
   * Soft-deletes the secret; absent is fine. With `wait` (the default) it returns once the
   * deletion is complete, for a caller that writes the name again at once. Without it, the
   * one DELETE: a later write that meets the deletion still in progress gets Key Vault's
   * 409 ObjectIsBeingDeleted, which is retried.
   */
  async remove(stage: string, name: string, options: { wait?: boolean } = {}): Promise<boolean> {
    forgetSecret(this.vaultUrl, name);
    try {
      const once = options.wait === false ? deleteOnly(this.client) : undefined;
      if (once) await once(name);
      else {
        const poller = await this.client.beginDeleteSecret(name, { intervalInMs: this.pollIntervalMs });
        if (options.wait !== false) await poller.pollUntilDone();
      }
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw classifyKeyVaultError(stage, `deleting secret ${name}`, error);
    }
  }

  async versions(stage: string, name: string): Promise<SecretVersionInfo[]> {
    try {
      const all: SecretVersionInfo[] = [];
      for await (const properties of this.client.listPropertiesOfSecretVersions(name)) all.push(describe(properties));
      return all;
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw classifyKeyVaultError(stage, `listing versions of secret ${name}`, error);
    }
  }

  /** Every live secret's latest version, by lower-cased name (Key Vault names are case-insensitive): one paged listing, no value read. */
  async latestOfAll(stage: string): Promise<Map<string, SecretSummary>> {
    try {
      const all = new Map<string, SecretSummary>();
      for await (const p of this.client.listPropertiesOfSecrets()) all.set(p.name.toLowerCase(), summarize(p));
      return all;
    } catch (error) {
      throw classifyKeyVaultError(stage, 'listing the secrets', error);
    }
  }

  /** Disables the given versions; returns them. */
  async disable(stage: string, name: string, versions: string[]): Promise<string[]> {
    for (const version of versions) {
      try {
        await this.client.updateSecretProperties(name, version, { enabled: false });
      } catch (error) {
        throw classifyKeyVaultError(stage, `disabling secret ${name} version ${version}`, error);
      }
    }
    return versions;
  }
}

/**
 * The REST API's DELETE alone. SecretClient offers deletion only as a poller, whose first poll
 * sends the DELETE and then a GET of the deleted secret, a request a caller that does not
 * wait has no use for. The client's generated REST client (the same pipeline: credential,
 * retries, pacing) sends just the DELETE; a release of the library without it falls back
 * to the poller. `test/round-trips.test.ts` counts the requests either way.
 */
function deleteOnly(client: SecretClient): ((name: string) => Promise<unknown>) | undefined {
  const generated = (client as unknown as { client?: { deleteSecret?: (name: string) => Promise<unknown> } }).client;
  return typeof generated?.deleteSecret === 'function' ? (name) => generated.deleteSecret!(name) : undefined;
}

function describe(p: SecretProperties): SecretVersionInfo {
  if (!p.version) throw new Error(`Key Vault returned secret ${p.name} without a version`);
  return { ...summarize(p), version: p.version };
}

function summarize(p: SecretProperties): SecretSummary {
  return {
    name: p.name,
    tags: { ...(p.tags ?? {}) },
    enabled: p.enabled !== false,
    createdOn: p.createdOn?.toISOString(),
    expiresOn: p.expiresOn?.toISOString(),
    contentType: p.contentType,
  };
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

/** The service's inner error code (`error.innererror.code` on the wire), which the SDK keeps in `details`. */
function innerCodeOf(error: unknown): string | undefined {
  return (error as { details?: { error?: { innerError?: { code?: string } } } })?.details?.error?.innerError?.code;
}

function isDeletedButRecoverable(error: unknown): boolean {
  return statusOf(error) === 409 && (innerCodeOf(error) === 'ObjectIsDeletedButRecoverable' || /deleted but recoverable/i.test((error as Error).message ?? ''));
}

/**
 * Soft delete and recovery complete asynchronously; until they do, Key Vault answers 409
 * with these inner codes, and the same request succeeds once the operation has finished.
 * https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview
 */
const SETTLING = new Set(['ObjectIsBeingDeleted', 'ObjectIsBeingRecovered']);

function isSettling(error: unknown): boolean {
  return statusOf(error) === 409 && SETTLING.has(innerCodeOf(error) ?? '');
}

/** Builds a fresh error from status and service message only: the SDK error carries the request body. */
export function classifyKeyVaultError(stage: string, what: string, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  const status = statusOf(error);
  const code = (error as { code?: string })?.code;
  const serviceMessage = keyVaultServiceMessage(error);
  const settling = isSettling(error);
  const retryable = settling || isTransient(status, code);
  const kind = status === 401 || status === 403 ? 'key-vault-forbidden' : status === 404 ? 'secret-not-found' : settling ? 'key-vault-settling' : retryable ? 'key-vault-unavailable' : 'key-vault-error';
  return new RotationError({ code: kind, stage, retryable, status, message: `${what} failed: Key Vault ${status ?? code ?? 'error'}${serviceMessage ? `: ${serviceMessage}` : ''}` });
}

/**
 * Only what Key Vault said in an error body it sent (its code and message name the
 * operation, caller and vault), or the SDK's error code. Never the SDK's own message: for a
 * response it could not parse, a malformed 200 included, that quotes the body, value and all.
 */
function keyVaultServiceMessage(error: unknown): string {
  const { statusCode, code, details } = (error ?? {}) as { statusCode?: number; code?: unknown; details?: { error?: { code?: unknown; message?: unknown } } };
  const body = statusCode !== undefined && statusCode >= 400 ? details?.error : undefined;
  // Without a status the SDK's code (ECONNRESET) already heads the message.
  const sdkCode = statusCode !== undefined && typeof code === 'string' && /^[A-Za-z_]{1,64}$/.test(code) ? code : undefined;
  const serviceCode = typeof body?.code === 'string' ? body.code : sdkCode;
  const message = typeof body?.message === 'string' ? body.message.split('\n')[0].slice(0, 300) : undefined;
  return [serviceCode, message].filter(Boolean).join(' ');
}
