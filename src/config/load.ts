import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { z } from 'zod';
import { RotationError } from '../errors';
import { BUILTIN_FORMATS, validateTemplate } from '../rotation/templates';
import { configSchema, type Credential, type RotationConfig } from './schema';
import { duplicateJsonKey, unknownKeys, type UnknownKey } from './strict';

function configError(message: string): RotationError {
  return new RotationError({ code: 'invalid-config', stage: 'config', message });
}

/** `source` is inline JSON (starts with `{`) or the path of a YAML or JSON file. */
export function loadConfig(source: string | undefined): RotationConfig {
  if (!source || source.trim() === '') throw configError('ROTATOR_CONFIG is not set: give a file path or inline JSON');
  const text = source.trim().startsWith('{') ? source : readConfigFile(source);
  const isYaml = !source.trim().startsWith('{') && ['.yaml', '.yml'].includes(extname(source).toLowerCase());
  let raw: unknown;
  try {
    // Required when a YAML file is read, so importing the app does not load the parser.
    raw = isYaml ? (require('yaml') as typeof import('yaml')).parse(text, { uniqueKeys: true }) : JSON.parse(text);
  } catch (error) {
    throw configError(`the configuration is not valid ${isYaml ? 'YAML' : 'JSON'}: ${(error as Error).message}`);
  }
  const duplicate = isYaml ? undefined : duplicateJsonKey(text);
  if (duplicate) throw configError(`${duplicate.path || '(root)'}: key "${duplicate.key}" is given twice; JSON would silently keep the last one`);
  return parseConfig(raw);
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw configError(`cannot read the configuration file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function parseConfig(raw: unknown): RotationConfig {
  const unknown = unknownKeys(raw);
  if (unknown.length > 0) throw configError(unknown.map((u) => describeUnknownKey(raw, u)).join('; '));
  const result = configSchema.safeParse(raw);
  if (!result.success) throw configError(describeIssues(raw, result.error.issues));
  const { defaults, credentials } = result.data;
  const resolved = credentials.map((c): Credential => ({
    ...c,
    rotationDays: c.rotationDays ?? defaults.rotationDays,
    validityDays: c.validityDays ?? defaults.validityDays,
    expiryMarginDays: c.expiryMarginDays ?? defaults.expiryMarginDays,
    graceMinutes: c.graceMinutes ?? defaults.graceMinutes,
    password: c.password ?? defaults.password,
    confirmTimeoutMinutes: c.confirmTimeoutMinutes ?? defaults.confirmTimeoutMinutes,
    minIntervalMinutes: c.minIntervalMinutes ?? defaults.minIntervalMinutes,
  }));
  checkUnique(resolved);
  resolved.forEach(checkTemplatesAndFormats);
  resolved.forEach(checkAlternatingCarriesUser);
  resolved.forEach(checkValidityOutlastsNearExpiry);
  checkOneCredentialPerRole(resolved);
  const needsGitHub = resolved.find((c) => c.consumers.github.length > 0);
  if (needsGitHub && !result.data.github) throw configError(`credential "${needsGitHub.id}": consumers.github needs the top-level github section (how to authenticate to GitHub)`);
  return { pendingMaxAgeHours: defaults.pendingMaxAgeHours, github: result.data.github, arm: result.data.arm, limits: result.data.limits, credentials: resolved };
}

/** Each issue names the credential (by id where it has one) and the field. */
function describeIssues(raw: unknown, issues: z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const [head, index, ...rest] = issue.path;
      if (head === 'credentials' && typeof index === 'number') {
        const id = credentialIdAt(raw, index);
        const where = id ? `credential "${id}"` : `credentials[${index}]`;
        return `${where}: ${rest.join('.') || '(entry)'} ${issue.message}`;
      }
      return `${issue.path.join('.') || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

function describeUnknownKey(raw: unknown, u: UnknownKey): string {
  const hint = u.nearest ? `; did you mean ${u.nearest}?` : '';
  return describePath(raw, u.path, `has unknown key "${u.key.slice(0, 64)}"${hint}`);
}

function describePath(raw: unknown, path: PropertyKey[], message: string): string {
  const [head, index, ...rest] = path;
  if (head === 'credentials' && typeof index === 'number') {
    const id = credentialIdAt(raw, index);
    return `${id ? `credential "${id}"` : `credentials[${index}]`}: ${rest.length > 0 ? `${rest.join('.')} ` : ''}${message}`;
  }
  return `${path.join('.') || '(root)'} ${message}`;
}

function credentialIdAt(raw: unknown, index: number): string | undefined {
  const list = (raw as { credentials?: unknown })?.credentials;
  const entry = Array.isArray(list) ? (list[index] as { id?: unknown }) : undefined;
  return typeof entry?.id === 'string' ? entry.id : undefined;
}

function checkUnique(credentials: Credential[]): void {
  const ids = new Set<string>();
  const secrets = new Map<string, string>();
  for (const c of credentials) {
    if (ids.has(c.id)) throw configError(`credential "${c.id}": id is used twice`);
    ids.add(c.id);
    const names = [c.keyVault.secret, `${c.keyVault.secret}-pending`, ...c.keyVault.derived.map((d) => d.secret)];
    for (const name of names) {
      const key = `${c.keyVault.url.replace(/\/+$/, '')}/${name}`.toLowerCase();
      const owner = secrets.get(key);
      if (owner) throw configError(`credential "${c.id}": keyVault secret ${name} is also used by credential "${owner}"`);
      secrets.set(key, c.id);
    }
  }
}

/** Unknown placeholders and formats would otherwise surface only at promote, after the database changed. */
function checkTemplatesAndFormats(c: Credential): void {
  c.keyVault.derived.forEach((d, i) => {
    const unknown = validateTemplate(d.template);
    if (unknown.length > 0) {
      const names = unknown.map((n) => `{${n}}`).join(', ');
      throw configError(`credential "${c.id}": keyVault.derived[${i}].template names unknown field${unknown.length > 1 ? 's' : ''} ${names}`);
    }
  });
  const derived = c.keyVault.derived.map((d) => d.secret);
  c.consumers.github.forEach((t, i) => {
    if ((BUILTIN_FORMATS as readonly string[]).includes(t.format) || derived.includes(t.format)) return;
    const known = derived.length > 0 ? `derived secrets: ${derived.join(', ')}` : 'no derived secrets';
    throw configError(`credential "${c.id}": consumers.github[${i}].format "${t.format}" is neither password, database-url, nor a keyVault.derived secret of this credential (${known})`);
  });
}

export function findCredential(config: RotationConfig, id: string, stage = 'lookup'): Credential {
  const credential = config.credentials.find((c) => c.id === id);
  if (!credential) throw new RotationError({ code: 'unknown-credential', stage, message: `no credential with id "${id}" is configured` });
  return credential;
}

/** With alternating users the user name changes at every rotation: each consumer value must carry it. */
function checkAlternatingCarriesUser(c: Credential): void {
  if (c.strategy !== 'alternating-users') return;
  c.keyVault.derived.forEach((d, i) => {
    if (!d.template.includes('{user}')) throw configError(`credential "${c.id}": keyVault.derived[${i}].template must contain {user}: with alternating users the login changes at every rotation`);
  });
  c.consumers.github.forEach((t, i) => {
    if (t.format === 'password') throw configError(`credential "${c.id}": consumers.github[${i}].format "password" cannot follow alternating users (the login changes at every rotation); use database-url or a derived secret that contains {user}`);
  });
}

/**
 * Key Vault publishes SecretNearExpiry 30 days before a version expires
 * (https://learn.microsoft.com/azure/key-vault/general/event-grid-overview), and the
 * schedule rotates `expiryMarginDays` before expiry. A new version must outlive both with
 * room to spare, or it is near expiry as soon as it is written and rotations chain.
 */
export const NEAR_EXPIRY_NOTICE_DAYS = 30;

function checkValidityOutlastsNearExpiry(c: Credential): void {
  const floor = NEAR_EXPIRY_NOTICE_DAYS + c.expiryMarginDays;
  if (c.validityDays > floor) return;
  throw configError(
    `credential "${c.id}": validityDays ${c.validityDays} must be more than ${floor} (Key Vault's ${NEAR_EXPIRY_NOTICE_DAYS}-day SecretNearExpiry notice + expiryMarginDays ${c.expiryMarginDays}): ` +
      'a shorter validity makes every new version near expiry at once, so each rotation would trigger the next',
  );
}

/**
 * Roles belong to the server, not to a database: two credentials that set the same login
 * (or share a group) on one server would overwrite each other's password.
 */
function checkOneCredentialPerRole(credentials: Credential[]): void {
  const owners = new Map<string, string>();
  for (const c of credentials) {
    const server = `${c.postgres.host.toLowerCase().replace(/\.$/, '')}:${c.postgres.port}`;
    const roles = [c.postgres.role, ...(c.postgres.roles ?? []), c.postgres.group].filter((r): r is string => r !== undefined);
    for (const role of new Set(roles)) {
      const key = `${server}/${role}`;
      const owner = owners.get(key);
      if (owner !== undefined && owner !== c.id) throw configError(`credentials "${owner}" and "${c.id}" both name role ${role} on server ${server}; a role can belong to one credential only`);
      owners.set(key, c.id);
    }
  }
}
