// Sources: challenge authentication, first request without a token and an empty body, answered 401
// with `WWW-Authenticate: Bearer authorization=…, resource=…` (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses),
// service throttling with 429 and Retry-After (https://learn.microsoft.com/azure/key-vault/general/overview-throttling;
// the per-vault limits and how they are counted are in key-vault-throttle.ts),
// the secret operations (https://learn.microsoft.com/rest/api/keyvault/secrets).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { loopbackCertificate } from '../tls';
import { LoopbackEmulator, type EmulatorRequest, type EmulatorResponse } from './loopback-emulator';
import { VaultError, faultBodyFor, vaultErrors } from './key-vault-errors';
import { ALL_SECRET_PERMISSIONS, PERMISSION_FOR, routeOf, type Route, type SecretPermission, type VaultOperation } from './key-vault-routes';
import { SecretStore, assertSecretName, type SecretRecord, type StoredVersion } from './key-vault-store';
import { DOCUMENTED_LIMITS, VaultThrottle, type ThrottleLimits } from './key-vault-throttle';
import { BundleWriter, checkApiVersion, parsePaging, parseSetBody, parseUpdateBody } from './key-vault-wire';

export { ALL_SECRET_PERMISSIONS, vaultRequest, type SecretPermission, type VaultOperation } from './key-vault-routes';
export { LATEST_API_VERSION, SUPPORTED_API_VERSIONS } from './key-vault-wire';
export { VaultError } from './key-vault-errors';

export interface KeyVaultEmulatorOptions {
  tenantId?: string;
  vaultName?: string;
  location?: string;
  /** Bearer tokens the vault accepts and the secret permissions each one grants. */
  tokens?: Record<string, readonly SecretPermission[]>;
  /** When on, purging a deleted secret is refused (403) as on a purge-protected vault. */
  purgeProtection?: boolean;
  /** 7 to 90 days, as the service allows. */
  softDeleteRetentionDays?: number;
  /** How long a delete or recover takes before it is visible; the real service takes seconds. */
  softDeleteLatencyMs?: number;
  /** Clock in epoch milliseconds, so a virtual clock can drive created/updated and purge dates, and the throttling window. */
  now?: () => number;
  /** The service's throttling limits by default; lower ones for a test that hammers the vault, or false for none. */
  throttle?: Partial<ThrottleLimits> | false;
}

/** What a test sees of every request that reached the vault (injected faults excluded). */
export interface VaultRequestEvent {
  method: string;
  path: string;
  operation?: VaultOperation;
  secretName?: string;
  /** The version written or read, when the request succeeded on one. */
  version?: string;
  status: number;
  /** The vault clock when the operation took effect. */
  at: Date;
}

export interface SecretVersionView {
  version: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  createdOn: Date;
  updatedOn: Date;
}

export interface SeedOptions {
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  notBefore?: Date;
  expiresOn?: Date;
}

interface Principal {
  token: string;
  permissions: ReadonlySet<SecretPermission>;
}

interface Outcome {
  status: number;
  body?: unknown;
  version?: string;
}

const DEFAULT_TENANT = '72f988bf-0000-4000-8000-00000000c0de';

/**
 * A strict Azure Key Vault (secrets only) for the real `SecretClient`: challenge
 * authentication, per-token access policies, soft delete, paging with absolute nextLinks,
 * and the service's error shapes. Inspection methods read the state without HTTP.
 */
export class KeyVaultEmulator extends LoopbackEmulator {
  readonly contract = { specs: ['key-vault-secrets.json'] };
  readonly tenantId: string;
  readonly vaultName: string;
  readonly location: string;
  /** A token with every secret permission, registered at construction. */
  readonly adminToken = `kv-admin-${randomBytes(8).toString('hex')}`;
  purgeProtection: boolean;
  softDeleteLatencyMs: number;
  private readonly retentionDays: number;
  private readonly now: () => number;
  private readonly principals = new Map<string, Principal>();
  private readonly listeners = new Set<(event: VaultRequestEvent) => void>();
  private readonly store: SecretStore;
  private readonly writer: BundleWriter;
  private readonly throttle?: VaultThrottle;
  private caPem?: string;

  constructor(options: KeyVaultEmulatorOptions = {}) {
    super();
    this.tenantId = options.tenantId ?? DEFAULT_TENANT;
    this.vaultName = options.vaultName ?? 'local-vault';
    this.location = options.location ?? 'local';
    this.purgeProtection = options.purgeProtection ?? false;
    this.softDeleteLatencyMs = options.softDeleteLatencyMs ?? 0;
    this.retentionDays = checkRetention(options.softDeleteRetentionDays ?? 90);
    this.now = options.now ?? Date.now;
    this.grant(this.adminToken, ALL_SECRET_PERMISSIONS);
    for (const [token, permissions] of Object.entries(options.tokens ?? {})) this.grant(token, permissions);
    this.store = new SecretStore({
      nowMs: this.now,
      retentionDays: this.retentionDays,
      purgeProtection: () => this.purgeProtection,
      transitionMs: () => this.softDeleteLatencyMs,
      vaultName: this.vaultName,
      location: this.location,
    });
    this.writer = new BundleWriter(() => this.url, () => this.recovery());
    if (options.throttle !== false) this.throttle = new VaultThrottle({ ...DOCUMENTED_LIMITS, ...options.throttle }, this.now);
  }

  /** The limits this vault enforces; undefined when throttling is off. */
  get throttleLimits(): ThrottleLimits | undefined {
    return this.throttle?.limits;
  }

  /** The PEM to trust for this vault's certificate (after `start`). */
  get ca(): string {
    if (!this.caPem) throw new Error('KeyVaultEmulator is not started');
    return this.caPem;
  }

  override async start(): Promise<this> {
    this.caPem = (await loopbackCertificate()).ca;
    return super.start();
  }

  /** Accept `token`, with exactly these permissions (replacing any earlier grant). */
  grant(token: string, permissions: readonly SecretPermission[]): void {
    this.principals.set(token, { token, permissions: new Set(permissions) });
  }

  revoke(token: string): void {
    this.principals.delete(token);
  }

  /** Called synchronously once a request's effect is in the vault and before the answer goes out. */
  onRequest(listener: (event: VaultRequestEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes a version directly (no HTTP, no event); returns its version id. */
  seed(name: string, value: string, options: SeedOptions = {}): string {
    assertSecretName(name);
    const { version } = this.store.set(name, {
      value,
      contentType: options.contentType,
      tags: options.tags,
      enabled: options.enabled,
      nbf: toSeconds(options.notBefore),
      exp: toSeconds(options.expiresOn),
    });
    return version.version;
  }

  /** Every version of `name` in creation order, whatever the secret's state; [] if unknown. */
  versions(name: string): SecretVersionView[] {
    return (this.store.lookup(name)?.versions ?? []).map(toView);
  }

  /** The latest version's value of a live secret; undefined if absent or deleted. */
  currentValue(name: string): string | undefined {
    const record = this.store.lookup(name);
    if (!record || !this.store.isLive(record)) return undefined;
    return record.versions[record.versions.length - 1].value;
  }

  /** True while the secret is soft-deleted (including a deletion still in progress). */
  isDeleted(name: string): boolean {
    return this.store.lookup(name)?.deletion !== undefined;
  }

  /** Names of live secrets, as first written. */
  secretNames(): string[] {
    return this.store.active().map((r) => r.name);
  }

  protected override faultBody(status: number, message?: string): unknown {
    return faultBodyFor(status, message);
  }

  protected handle(req: EmulatorRequest): EmulatorResponse {
    const route = routeOf(req.method, req.path);
    const retryAfter = this.throttle?.admit(this.throttle.cost(isCreation(req, route)));
    let outcome: Outcome;
    try {
      if (retryAfter !== undefined) throw vaultErrors.throttled();
      outcome = this.serve(req, route);
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      outcome = { status: error.status, body: error.toBody() };
    }
    this.emit(req, route, outcome);
    const headers = this.responseHeaders(outcome.status);
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    return { status: outcome.status, body: outcome.body, headers };
  }

  private serve(req: EmulatorRequest, route: Route | VaultError): Outcome {
    const principal = this.authenticate(req);
    const apiVersion = checkApiVersion(req.query);
    if (route instanceof VaultError) throw route;
    if (route.name !== undefined) assertSecretName(route.name);
    this.authorize(principal, PERMISSION_FOR[route.operation]);
    return this.execute(req, route, apiVersion);
  }

  private authenticate(req: EmulatorRequest): Principal {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) throw vaultErrors.missingToken();
    const principal = this.principals.get(match[1]);
    if (!principal) throw vaultErrors.unknownToken();
    return principal;
  }

  private authorize(principal: Principal, permission: SecretPermission): void {
    if (principal.permissions.has(permission)) return;
    throw vaultErrors.accessDenied(callerOf(principal.token, this.tenantId), permission, this.vaultName, this.location);
  }

  private execute(req: EmulatorRequest, route: Route, apiVersion: string): Outcome {
    const name = route.name ?? '';
    switch (route.operation) {
      case 'setSecret':
        return this.bundle(this.store.set(name, parseSetBody(req.rawBody)), true);
      case 'getSecret':
        return this.bundle(this.store.get(name, route.version), true);
      case 'updateSecret':
        return this.bundle(this.store.update(name, route.version, parseUpdateBody(req.rawBody)), false);
      case 'deleteSecret':
        return { status: 200, body: this.writer.deletedBundle(this.store.delete(name)) };
      case 'getDeletedSecret':
        return { status: 200, body: this.writer.deletedBundle(this.store.getDeleted(name)) };
      case 'recoverDeletedSecret':
        return this.bundle(latestOf(this.store.recover(name)), false);
      case 'purgeDeletedSecret':
        this.store.purge(name);
        return { status: 204 };
      case 'listSecrets':
        return this.list(req, apiVersion, '/secrets', this.store.active().map((r) => this.writer.secretItem(r, latestOf(r).version, false)));
      case 'listSecretVersions':
        return this.listVersions(req, apiVersion, name);
      case 'listDeletedSecrets':
        return this.list(req, apiVersion, '/deletedsecrets', this.store.deleted().map((r) => this.writer.deletedItem(r)));
      case 'backupSecret':
      case 'restoreSecret':
        throw vaultErrors.notImplemented(route.operation);
    }
  }

  private bundle(found: { record: SecretRecord; version: StoredVersion }, withValue: boolean): Outcome {
    return { status: 200, body: this.writer.secretBundle(found.record, found.version, withValue), version: found.version.version };
  }

  private listVersions(req: EmulatorRequest, apiVersion: string, name: string): Outcome {
    const record = this.store.lookup(name);
    // The service answers an empty list, not 404, for a name without live versions.
    const items = record ? this.store.listedVersions(name).map((v) => this.writer.secretItem(record, v, true)) : [];
    return this.list(req, apiVersion, `/secrets/${record?.name ?? name}/versions`, items);
  }

  private list(req: EmulatorRequest, apiVersion: string, path: string, items: unknown[]): Outcome {
    const { offset, pageSize } = parsePaging(req.query);
    return { status: 200, body: this.writer.page(items, offset, pageSize, path, apiVersion) };
  }

  private emit(req: EmulatorRequest, route: Route | VaultError, outcome: Outcome): void {
    const known = route instanceof VaultError ? undefined : route;
    const event: VaultRequestEvent = {
      method: req.method,
      path: req.path,
      operation: known?.operation,
      secretName: known?.name,
      version: outcome.status < 300 ? outcome.version : undefined,
      status: outcome.status,
      at: new Date(this.now()),
    };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A failing listener is a test bug: surface it instead of turning it into a 500 the SDK retries.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  private responseHeaders(status: number): Record<string, string> {
    const headers: Record<string, string> = {
      'cache-control': 'no-cache',
      'x-ms-request-id': randomUUID(),
      'x-ms-keyvault-region': this.location,
      'x-ms-keyvault-service-version': '1.9.0.0',
    };
    // The service challenges on every 401; the SDK's first, token-less request relies on it.
    if (status === 401) headers['www-authenticate'] = `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="https://vault.azure.net"`;
    return headers;
  }

  private recovery(): { level: string; days: number } {
    const customized = this.retentionDays < 90 ? 'Customized' : '';
    return { level: this.purgeProtection ? `${customized}Recoverable` : `${customized}Recoverable+Purgeable`, days: this.retentionDays };
  }
}

/** A secret creation weighs more against the limit; the token-less challenge request creates nothing. */
function isCreation(req: EmulatorRequest, route: Route | VaultError): boolean {
  return !(route instanceof VaultError) && route.operation === 'setSecret' && req.headers.authorization !== undefined;
}

function latestOf(record: SecretRecord): { record: SecretRecord; version: StoredVersion } {
  return { record, version: record.versions[record.versions.length - 1] };
}

function toView(v: StoredVersion): SecretVersionView {
  return {
    version: v.version,
    value: v.value,
    contentType: v.contentType,
    tags: { ...(v.tags ?? {}) },
    enabled: v.enabled,
    notBefore: v.nbf === undefined ? undefined : new Date(v.nbf * 1000),
    expiresOn: v.exp === undefined ? undefined : new Date(v.exp * 1000),
    createdOn: new Date(v.created * 1000),
    updatedOn: new Date(v.updated * 1000),
  };
}

function toSeconds(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : Math.floor(date.getTime() / 1000);
}

function checkRetention(days: number): number {
  if (!Number.isInteger(days) || days < 7 || days > 90) throw new Error(`softDeleteRetentionDays must be an integer from 7 to 90, got ${days}`);
  return days;
}

/** The caller description the service prints in access-denied messages, stable per token. */
function callerOf(token: string, tenantId: string): string {
  const hash = createHash('sha256').update(token).digest('hex');
  return `appid=${guid(hash.slice(0, 32))};oid=${guid(hash.slice(32, 64))};iss=https://sts.windows.net/${tenantId}/`;
}

function guid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
