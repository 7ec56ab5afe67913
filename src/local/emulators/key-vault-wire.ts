// Sources: the SecretBundle, SecretItem and DeletedSecretBundle shapes and paging with `maxresults`
// and an absolute `nextLink` (https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret,
// .../get-secret-versions/get-secret-versions).
import { vaultErrors } from './key-vault-errors';
import type { SecretPatch, SecretRecord, SecretWrite, StoredVersion } from './key-vault-store';

/** Versions the service accepts for secrets; the installed SDK sends 2025-07-01 unless told otherwise. */
export const SUPPORTED_API_VERSIONS = ['2016-10-01', '7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6-preview.1', '7.6-preview.2', '7.6', '2025-07-01'] as const;
export const LATEST_API_VERSION = '2025-07-01';

const MAX_VALUE_BYTES = 25 * 1024;
const MAX_TAGS = 15;
const MAX_TAG_KEY = 512;
const MAX_TAG_VALUE = 256;
const MAX_CONTENT_TYPE = 255;

export function checkApiVersion(query: URLSearchParams): string {
  const given = query.get('api-version');
  if (given === null || given === '') throw vaultErrors.badParameter("The 'api-version' query parameter is required.");
  if (!(SUPPORTED_API_VERSIONS as readonly string[]).includes(given)) throw vaultErrors.unknownApiVersion(given, LATEST_API_VERSION);
  return given;
}

export function parseSetBody(rawBody: string): SecretWrite {
  const body = parseJsonObject(rawBody);
  if (typeof body.value !== 'string') throw vaultErrors.badParameter("The request body must contain a string property 'value'.");
  if (Buffer.byteLength(body.value) > MAX_VALUE_BYTES) throw vaultErrors.badParameter(`The secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`);
  return { value: body.value, ...parsePatchFields(body) };
}

export function parseUpdateBody(rawBody: string): SecretPatch {
  return parsePatchFields(parseJsonObject(rawBody));
}

function parseJsonObject(rawBody: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch {
    throw vaultErrors.badParameter('The request body is not valid JSON.');
  }
  if (!isObject(parsed)) throw vaultErrors.badParameter('The request body must be a JSON object.');
  return parsed;
}

function parsePatchFields(body: Record<string, unknown>): SecretPatch {
  const patch: SecretPatch = {};
  const contentType = optional(body.contentType);
  if (contentType !== undefined) patch.contentType = parseContentType(contentType);
  const tags = optional(body.tags);
  if (tags !== undefined) patch.tags = parseTags(tags);
  const attributes = optional(body.attributes);
  if (attributes !== undefined) Object.assign(patch, parseAttributes(attributes));
  return patch;
}

function parseContentType(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_CONTENT_TYPE) throw vaultErrors.badParameter("Property 'contentType' must be a string of at most 255 characters.");
  return value;
}

function parseTags(value: unknown): Record<string, string> {
  if (!isObject(value)) throw vaultErrors.badParameter("Property 'tags' must be an object of string values.");
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) throw vaultErrors.badParameter(`A secret can have at most ${MAX_TAGS} tags.`);
  for (const [name, tag] of entries) {
    if (typeof tag !== 'string') throw vaultErrors.badParameter(`Tag '${name}' must have a string value.`);
    if (name.length > MAX_TAG_KEY || tag.length > MAX_TAG_VALUE) throw vaultErrors.badParameter(`Tag '${name}' exceeds the allowed length.`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseAttributes(value: unknown): Pick<SecretPatch, 'enabled' | 'nbf' | 'exp'> {
  if (!isObject(value)) throw vaultErrors.badParameter("Property 'attributes' must be an object.");
  const out: Pick<SecretPatch, 'enabled' | 'nbf' | 'exp'> = {};
  const enabled = optional(value.enabled);
  if (enabled !== undefined) {
    if (typeof enabled !== 'boolean') throw vaultErrors.badParameter("Attribute 'enabled' must be a boolean.");
    out.enabled = enabled;
  }
  for (const field of ['nbf', 'exp'] as const) {
    const time = optional(value[field]);
    if (time === undefined) continue;
    if (typeof time !== 'number' || !Number.isInteger(time)) throw vaultErrors.badParameter(`Attribute '${field}' must be an integer number of seconds since the Unix epoch.`);
    out[field] = time;
  }
  return out;
}

/** JSON null means "not given" on this API. */
function optional(value: unknown): unknown {
  return value === null ? undefined : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Builds the service's JSON shapes; `base` is the vault URL without a trailing slash. */
export class BundleWriter {
  constructor(
    private readonly base: () => string,
    private readonly recovery: () => { level: string; days: number },
  ) {}

  secretBundle(record: SecretRecord, version: StoredVersion, withValue: boolean): Record<string, unknown> {
    return compact({
      value: withValue ? version.value : undefined,
      contentType: version.contentType,
      id: this.versionId(record, version),
      attributes: this.attributes(version),
      tags: version.tags,
    });
  }

  deletedBundle(record: SecretRecord): Record<string, unknown> {
    return { ...this.deletionFields(record), ...this.secretBundle(record, latest(record), false) };
  }

  secretItem(record: SecretRecord, version: StoredVersion, idWithVersion: boolean): Record<string, unknown> {
    return compact({
      id: idWithVersion ? this.versionId(record, version) : `${this.base()}/secrets/${record.name}`,
      attributes: this.attributes(version),
      tags: version.tags,
      contentType: version.contentType,
    });
  }

  deletedItem(record: SecretRecord): Record<string, unknown> {
    return { ...this.deletionFields(record), ...this.secretItem(record, latest(record), false) };
  }

  /** A page of a listing with an absolute nextLink carrying api-version, skip token and page size. */
  page(items: unknown[], offset: number, pageSize: number, path: string, apiVersion: string): Record<string, unknown> {
    const slice = items.slice(offset, offset + pageSize);
    const next = offset + pageSize;
    // SecretListResult.nextLink is a string (secrets.json); the last page leaves it out.
    if (next >= items.length) return { value: slice };
    const query = new URLSearchParams({ 'api-version': apiVersion, $skiptoken: encodeSkipToken(next), maxresults: String(pageSize) });
    return { value: slice, nextLink: `${this.base()}${path}?${query.toString()}` };
  }

  private deletionFields(record: SecretRecord): Record<string, unknown> {
    return {
      recoveryId: `${this.base()}/deletedsecrets/${record.name}`,
      deletedDate: record.deletion?.deletedDate,
      scheduledPurgeDate: record.deletion?.scheduledPurgeDate,
    };
  }

  private versionId(record: SecretRecord, version: StoredVersion): string {
    return `${this.base()}/secrets/${record.name}/${version.version}`;
  }

  private attributes(version: StoredVersion): Record<string, unknown> {
    const recovery = this.recovery();
    return compact({
      enabled: version.enabled,
      nbf: version.nbf,
      exp: version.exp,
      created: version.created,
      updated: version.updated,
      recoveryLevel: recovery.level,
      recoverableDays: recovery.days,
    });
  }
}

export function parsePaging(query: URLSearchParams): { offset: number; pageSize: number } {
  const raw = query.get('maxresults');
  let pageSize = 25;
  if (raw !== null) {
    pageSize = Number(raw);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 25) throw vaultErrors.badParameter(`The value '${raw}' of parameter 'maxresults' is out of range; it must be between 1 and 25.`);
  }
  const token = query.get('$skiptoken');
  return { offset: token === null ? 0 : decodeSkipToken(token), pageSize };
}

function encodeSkipToken(offset: number): string {
  return Buffer.from(JSON.stringify({ NextMarker: offset })).toString('base64url');
}

function decodeSkipToken(token: string): number {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    const offset = isObject(parsed) ? parsed.NextMarker : undefined;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through to the refusal below
  }
  throw vaultErrors.badParameter('The continuation token ($skiptoken) is invalid.');
}

function latest(record: SecretRecord): StoredVersion {
  return record.versions[record.versions.length - 1];
}

function compact(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));
}
