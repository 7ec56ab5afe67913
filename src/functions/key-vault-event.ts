import type { Credential, RotationConfig } from '../config/schema';
import { RotationError } from '../errors';
import type { RotationReason } from '../rotation/status';

/**
 * Key Vault events as Event Grid delivers them, in either schema. The data arrives with
 * PascalCase names (`ObjectName`, `EXP`) although the SDK's types and some samples use
 * camelCase, so data fields are read case-insensitively.
 */

export const SECRET_NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';
export const SECRET_EXPIRED = 'Microsoft.KeyVault.SecretExpired';

const SECRET_EVENT_KINDS: Record<string, SecretEventKind> = {
  [SECRET_NEAR_EXPIRY.toLowerCase()]: 'near-expiry',
  [SECRET_EXPIRED.toLowerCase()]: 'expired',
};

type SecretEventKind = 'near-expiry' | 'expired';

interface EventEnvelope {
  eventId: string;
  eventType: string;
}

/** A near-expiry or expired event of a secret: every field validated. */
export interface SecretExpiryEvent extends EventEnvelope {
  kind: SecretEventKind;
  vaultName: string;
  secretName: string;
  version: string;
  objectType: 'Secret';
  expiresAt?: Date;
  /** The secret version's URL (`Id`), when the event carries one. */
  secretId?: string;
}

/** Any other Key Vault event: its fields are kept where present, never validated. */
export interface OtherKeyVaultEvent extends EventEnvelope {
  kind: 'other';
  vaultName?: string;
  secretName?: string;
  version?: string;
  objectType?: string;
  expiresAt?: Date;
  secretId?: string;
}

export type ParsedKeyVaultEvent = SecretExpiryEvent | OtherKeyVaultEvent;

export type Decision =
  | { action: 'rotate'; credential: Credential; rotationReason: Extract<RotationReason, 'near-expiry' | 'expired'> }
  | { action: 'ignore'; reason: string };

// Azure's naming rules: vaults 3-24 characters starting with a letter, no "--"; secrets 1-127; versions 32 hex digits.
const VAULT_NAME = /^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VERSION = /^[0-9a-fA-F]{32}$/;

/** Parses one delivered event (Event Grid schema or CloudEvents 1.0); throws `malformed-event` naming the field. */
export function parseKeyVaultEvent(raw: unknown): ParsedKeyVaultEvent {
  const event = asRecord(raw, 'the event');
  const envelope = readEnvelope(event);
  const kind = SECRET_EVENT_KINDS[envelope.eventType.toLowerCase()];
  if (kind === undefined) return { ...envelope, kind: 'other', ...readLoosely(event.data) };
  return { ...envelope, kind, ...readSecretData(asRecord(event.data, 'data')) };
}

/** Whether the event names a version other than the live one; a secret with no live version makes every event stale. */
export function isStaleVersion(event: ParsedKeyVaultEvent, liveVersion: string | undefined): boolean {
  if (event.version === undefined || liveVersion === undefined) return true;
  return event.version.toLowerCase() !== liveVersion.toLowerCase();
}

/** Decides whether an event calls for rotating a configured credential, with a one-line reason when not. */
export function matchCredential(event: ParsedKeyVaultEvent, config: Pick<RotationConfig, 'credentials'>): Decision {
  if (event.kind === 'other') return ignore(`event type ${event.eventType} does not call for a rotation`);
  const inVault = config.credentials.filter((c) => isSameVault(c.keyVault.url, event));
  if (inVault.length === 0) return ignore(`no credential uses vault ${event.vaultName}`);
  const name = event.secretName.toLowerCase();
  for (const credential of inVault) {
    const { secret, derived } = credential.keyVault;
    if (secret.toLowerCase() === name) return { action: 'rotate', credential, rotationReason: event.kind };
    if (`${secret}-pending`.toLowerCase() === name) return ignore(`${event.secretName} is the pending secret of credential "${credential.id}", written by the rotator itself`);
    if (derived.some((d) => d.secret.toLowerCase() === name)) {
      return ignore(`${event.secretName} is a derived secret of credential "${credential.id}"; it is rewritten when ${secret} rotates`);
    }
  }
  return ignore(`no credential names secret ${event.secretName} in vault ${event.vaultName}`);
}

function ignore(reason: string): Decision {
  return { action: 'ignore', reason };
}

/**
 * A vault's host name starts with its name in every Azure cloud (`kv.vault.azure.net`,
 * `kv.vault.azure.cn`); the `Id` URL also matches a vault reached at another address,
 * such as the local emulator.
 */
function isSameVault(vaultUrl: string, event: SecretExpiryEvent): boolean {
  const vault = new URL(vaultUrl);
  if (vault.hostname.split('.')[0].toLowerCase() === event.vaultName.toLowerCase()) return true;
  return event.secretId !== undefined && originOf(event.secretId) === vault.origin;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function readEnvelope(event: Record<string, unknown>): EventEnvelope {
  if (event.specversion !== undefined && event.specversion !== '1.0') throw malformed(`specversion must be "1.0", not ${show(event.specversion)}`);
  if (event.eventType === undefined && event.type === undefined) {
    throw malformed('the event type is missing: neither eventType (Event Grid schema) nor type (CloudEvents) is set');
  }
  const typeField = event.eventType !== undefined ? 'eventType' : 'type';
  return { eventType: requiredString(event, typeField, typeField), eventId: requiredString(event, 'id', 'id') };
}

function readSecretData(data: Record<string, unknown>): Omit<SecretExpiryEvent, keyof EventEnvelope | 'kind'> {
  const field = caseInsensitive(data);
  const objectType = requiredString(field, 'objecttype', 'data.ObjectType');
  if (objectType.toLowerCase() !== 'secret') throw malformed(`data.ObjectType is ${show(objectType)}, but a secret event must be about a Secret`);
  return {
    objectType: 'Secret',
    vaultName: matching(field, 'vaultname', 'data.VaultName', VAULT_NAME, 'a Key Vault name'),
    secretName: matching(field, 'objectname', 'data.ObjectName', SECRET_NAME, 'a Key Vault secret name'),
    version: matching(field, 'version', 'data.Version', VERSION, 'a Key Vault version (32 hexadecimal digits)'),
    ...optional('expiresAt', unixSeconds(field.exp, 'data.EXP')),
    ...optional('secretId', typeof field.id === 'string' ? field.id : undefined),
  };
}

function readLoosely(data: unknown): Omit<OtherKeyVaultEvent, keyof EventEnvelope | 'kind'> {
  if (typeof data !== 'object' || data === null) return {};
  const field = caseInsensitive(data as Record<string, unknown>);
  const text = (name: string) => (typeof field[name] === 'string' && field[name] !== '' ? (field[name] as string) : undefined);
  return {
    ...optional('vaultName', text('vaultname')),
    ...optional('secretName', text('objectname')),
    ...optional('version', text('version')),
    ...optional('objectType', text('objecttype')),
    ...optional('expiresAt', looseUnixSeconds(field.exp)),
    ...optional('secretId', text('id')),
  };
}

/** Lower-cased keys; where both spellings arrive, the first one wins. */
function caseInsensitive(data: Record<string, unknown>): Record<string, unknown> {
  const folded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) folded[key.toLowerCase()] ??= value;
  return folded;
}

function matching(fields: Record<string, unknown>, key: string, label: string, pattern: RegExp, what: string): string {
  const value = requiredString(fields, key, label);
  if (!pattern.test(value)) throw malformed(`${label} ${show(value)} is not ${what}`);
  return value;
}

function requiredString(fields: Record<string, unknown>, key: string, label: string): string {
  const value = fields[key];
  if (value === undefined || value === null || value === '') throw malformed(`${label} is missing`);
  if (typeof value !== 'string') throw malformed(`${label} must be a string, not ${typeof value}`);
  return value;
}

/** Unix seconds; documentation samples quote them as strings, and an unset attribute arrives as null. */
function unixSeconds(value: unknown, label: string): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const seconds = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw malformed(`${label} must be Unix seconds, not ${show(value)}`);
  return new Date(seconds * 1000);
}

function looseUnixSeconds(value: unknown): Date | undefined {
  try {
    return unixSeconds(value, 'EXP');
  } catch {
    return undefined;
  }
}

function asRecord(value: unknown, label: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`${label} must be a JSON object, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Event fields are names and versions, never secret values; long ones are cut to keep a log line. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function malformed(message: string): RotationError {
  return new RotationError({ code: 'malformed-event', stage: 'key-vault-event', message });
}
