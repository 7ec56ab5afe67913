// Sources: versions, attributes (enabled, nbf, exp, created/updated in Unix seconds) and tags
// (https://learn.microsoft.com/azure/key-vault/secrets/about-secrets, limits in https://learn.microsoft.com/azure/key-vault/general/service-limits),
// soft delete and recovery (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview).
import { randomBytes } from 'node:crypto';
import { VaultError, vaultErrors } from './key-vault-errors';

/** One version of a secret as the vault holds it; times are Unix seconds like the wire. */
export interface StoredVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export interface Deletion {
  deletedDate: number;
  scheduledPurgeDate: number;
}

/** A transition the service completes asynchronously; until `untilMs` the name is in flux. */
interface Transition {
  kind: 'deleting' | 'recovering';
  untilMs: number;
}

export interface SecretRecord {
  /** The name as first written; lookups ignore case like the service. */
  name: string;
  /** Creation order; the last one is the current version. */
  versions: StoredVersion[];
  deletion?: Deletion;
  transition?: Transition;
}

export interface SecretWrite {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

export type SecretPatch = Omit<SecretWrite, 'value'>;

export interface StorePolicy {
  nowMs: () => number;
  retentionDays: number;
  purgeProtection: () => boolean;
  /** How long deletion and recovery take before they become visible (the real service takes seconds). */
  transitionMs: () => number;
  vaultName: string;
  location: string;
}

export const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/;

/** The secrets of one vault, with soft delete; every refusal is the service's VaultError. */
export class SecretStore {
  private readonly records = new Map<string, SecretRecord>();

  constructor(private readonly policy: StorePolicy) {}

  set(name: string, write: SecretWrite): { record: SecretRecord; version: StoredVersion } {
    const existing = this.lookup(name);
    if (existing) this.refuseWhileDeleted(existing);
    const record = existing ?? { name, versions: [] };
    const now = this.nowSeconds();
    const version: StoredVersion = {
      version: newVersionId(),
      value: write.value,
      contentType: write.contentType,
      tags: write.tags === undefined ? undefined : { ...write.tags },
      enabled: write.enabled ?? true,
      nbf: write.nbf,
      exp: write.exp,
      created: now,
      updated: now,
    };
    record.versions.push(version);
    this.records.set(key(name), record);
    return { record, version };
  }

  /** A readable version: the latest when `version` is empty; disabled versions are refused. */
  get(name: string, version?: string): { record: SecretRecord; version: StoredVersion } {
    const found = this.find(name, version);
    if (!found.version.enabled) throw vaultErrors.disabled();
    return found;
  }

  update(name: string, version: string | undefined, patch: SecretPatch): { record: SecretRecord; version: StoredVersion } {
    const found = this.find(name, version);
    const target = found.version;
    if (patch.contentType !== undefined) target.contentType = patch.contentType;
    if (patch.tags !== undefined) target.tags = { ...patch.tags };
    if (patch.enabled !== undefined) target.enabled = patch.enabled;
    if (patch.nbf !== undefined) target.nbf = patch.nbf;
    if (patch.exp !== undefined) target.exp = patch.exp;
    target.updated = this.nowSeconds();
    return found;
  }

  /** Live secrets, ordered by name. */
  active(): SecretRecord[] {
    return this.all().filter((r) => this.isLive(r));
  }

  /** Versions of a live secret in the order the service lists them; none if there is no such secret. */
  listedVersions(name: string): StoredVersion[] {
    const record = this.lookup(name);
    if (!record || !this.isLive(record)) return [];
    // The service orders versions by identifier, not by time: callers must not rely on list order.
    return [...record.versions].sort((a, b) => a.version.localeCompare(b.version));
  }

  delete(name: string): SecretRecord {
    const record = this.liveRecord(name);
    const now = this.policy.nowMs();
    const deletedDate = Math.floor(now / 1000);
    record.deletion = { deletedDate, scheduledPurgeDate: deletedDate + this.policy.retentionDays * 86_400 };
    this.startTransition(record, 'deleting');
    return record;
  }

  getDeleted(name: string): SecretRecord {
    const record = this.lookup(name);
    if (!record?.deletion || record.transition) throw vaultErrors.deletedSecretNotFound(name);
    return record;
  }

  /** Deleted secrets whose deletion has completed, ordered by name. */
  deleted(): SecretRecord[] {
    return this.all().filter((r) => r.deletion !== undefined && r.transition === undefined);
  }

  recover(name: string): SecretRecord {
    const record = this.getDeleted(name);
    record.deletion = undefined;
    this.startTransition(record, 'recovering');
    return record;
  }

  purge(name: string): void {
    const record = this.getDeleted(name);
    if (this.policy.purgeProtection()) throw vaultErrors.purgeProtected(this.policy.vaultName, this.policy.location);
    this.records.delete(key(record.name));
  }

  /** The record in any state (live, deleting, deleted, recovering), for inspection. */
  lookup(name: string): SecretRecord | undefined {
    const record = this.records.get(key(name));
    if (!record) return undefined;
    this.settle(record);
    return this.records.get(key(name));
  }

  isLive(record: SecretRecord): boolean {
    this.settle(record);
    return record.deletion === undefined && record.transition === undefined;
  }

  private find(name: string, version?: string): { record: SecretRecord; version: StoredVersion } {
    const record = this.liveRecord(name);
    if (!version) return { record, version: record.versions[record.versions.length - 1] };
    const found = VERSION.test(version) ? record.versions.find((v) => v.version === version) : undefined;
    if (!found) throw vaultErrors.secretNotFound(`${name}/${version}`);
    return { record, version: found };
  }

  private liveRecord(name: string): SecretRecord {
    const record = this.lookup(name);
    if (!record || !this.isLive(record)) throw vaultErrors.secretNotFound(name);
    return record;
  }

  private refuseWhileDeleted(record: SecretRecord): void {
    if (record.transition?.kind === 'deleting') throw vaultErrors.beingDeleted(record.name);
    if (record.transition?.kind === 'recovering') throw vaultErrors.beingRecovered(record.name);
    if (record.deletion) throw vaultErrors.deletedButRecoverable(record.name);
  }

  private startTransition(record: SecretRecord, kind: Transition['kind']): void {
    const delay = this.policy.transitionMs();
    record.transition = delay > 0 ? { kind, untilMs: this.policy.nowMs() + delay } : undefined;
  }

  /** Completes transitions and purges secrets past their scheduled purge date, lazily on access. */
  private settle(record: SecretRecord): void {
    const now = this.policy.nowMs();
    if (record.transition && now >= record.transition.untilMs) record.transition = undefined;
    if (record.deletion && !record.transition && now >= record.deletion.scheduledPurgeDate * 1000) this.records.delete(key(record.name));
  }

  private all(): SecretRecord[] {
    for (const record of [...this.records.values()]) this.settle(record);
    return [...this.records.values()].sort((a, b) => key(a.name).localeCompare(key(b.name)));
  }

  private nowSeconds(): number {
    return Math.floor(this.policy.nowMs() / 1000);
  }
}

export function assertSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) throw vaultErrors.invalidName(name);
}

export function isVaultError(error: unknown): error is VaultError {
  return error instanceof VaultError;
}

function key(name: string): string {
  return name.toLowerCase();
}

function newVersionId(): string {
  return randomBytes(16).toString('hex');
}
