// Sources: the secret operations' paths and methods (https://learn.microsoft.com/rest/api/keyvault/secrets,
// spec specification/keyvault/data-plane/Microsoft.KeyVault secrets.json); `GET /secrets/{name}/` (empty
// version) is the latest version, as SecretClient sends it.
import type { EmulatorRequest } from './loopback-emulator';
import { VaultError, vaultErrors } from './key-vault-errors';

export type SecretPermission = 'get' | 'list' | 'set' | 'delete' | 'recover' | 'purge' | 'backup' | 'restore';

export const ALL_SECRET_PERMISSIONS: readonly SecretPermission[] = ['get', 'list', 'set', 'delete', 'recover', 'purge', 'backup', 'restore'];

export type VaultOperation =
  | 'setSecret'
  | 'getSecret'
  | 'updateSecret'
  | 'deleteSecret'
  | 'listSecrets'
  | 'listSecretVersions'
  | 'getDeletedSecret'
  | 'listDeletedSecrets'
  | 'recoverDeletedSecret'
  | 'purgeDeletedSecret'
  | 'backupSecret'
  | 'restoreSecret';

/** The access-policy permission each operation needs, as the service documents it. */
export const PERMISSION_FOR: Record<VaultOperation, SecretPermission> = {
  setSecret: 'set',
  getSecret: 'get',
  updateSecret: 'set',
  deleteSecret: 'delete',
  listSecrets: 'list',
  listSecretVersions: 'list',
  getDeletedSecret: 'get',
  listDeletedSecrets: 'list',
  recoverDeletedSecret: 'recover',
  purgeDeletedSecret: 'purge',
  backupSecret: 'backup',
  restoreSecret: 'restore',
};

export interface Route {
  operation: VaultOperation;
  name?: string;
  /** Empty or absent means the latest version. */
  version?: string;
}

/** Maps a request to an operation, or to the error the service answers for that URI and method. */
export function routeOf(method: string, path: string): Route | VaultError {
  try {
    return matchRoute(method.toUpperCase(), segmentsOf(path));
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
}

/** A fault matcher: requests for one operation and/or one secret name (case-insensitive). */
export function vaultRequest(filter: { operation?: VaultOperation; name?: string }): (req: EmulatorRequest) => boolean {
  return (req) => {
    const route = routeOf(req.method, req.path);
    if (route instanceof VaultError) return false;
    if (filter.operation !== undefined && route.operation !== filter.operation) return false;
    return filter.name === undefined || route.name?.toLowerCase() === filter.name.toLowerCase();
  };
}

function segmentsOf(path: string): string[] {
  // The service tolerates the doubled slash that a vault URL with a trailing slash produces.
  const segments = path.replace(/^\/+/, '').split('/');
  try {
    return segments.map((s) => decodeURIComponent(s));
  } catch {
    throw vaultErrors.badParameter(`The request URI is malformed: ${path}`);
  }
}

function matchRoute(method: string, segments: string[]): Route {
  const [collection, name, tail, ...rest] = segments;
  if (rest.length === 0 && collection === 'secrets') return secretsRoute(method, name, tail);
  if (rest.length === 0 && collection === 'deletedsecrets') return deletedRoute(method, name, tail);
  throw vaultErrors.pathNotFound(`/${segments.join('/')}`);
}

function secretsRoute(method: string, name: string | undefined, tail: string | undefined): Route {
  if (name === undefined || (name === '' && tail === undefined)) return { operation: pick(method, { GET: 'listSecrets' }) };
  if (tail === undefined) {
    if (name === 'restore' && method === 'POST') return { operation: 'restoreSecret' };
    return { operation: pick(method, { GET: 'getSecret', PUT: 'setSecret', DELETE: 'deleteSecret' }), name };
  }
  if (tail === 'versions' && method === 'GET') return { operation: 'listSecretVersions', name };
  if (tail === 'backup' && method === 'POST') return { operation: 'backupSecret', name };
  return { operation: pick(method, { GET: 'getSecret', PATCH: 'updateSecret' }), name, version: tail };
}

function deletedRoute(method: string, name: string | undefined, tail: string | undefined): Route {
  if (name === undefined || (name === '' && tail === undefined)) return { operation: pick(method, { GET: 'listDeletedSecrets' }) };
  if (tail === undefined) return { operation: pick(method, { GET: 'getDeletedSecret', DELETE: 'purgeDeletedSecret' }), name };
  if (tail === 'recover') return { operation: pick(method, { POST: 'recoverDeletedSecret' }), name };
  throw vaultErrors.pathNotFound(`/deletedsecrets/${name}/${tail}`);
}

function pick(method: string, table: Partial<Record<string, VaultOperation>>): VaultOperation {
  const operation = table[method];
  if (!operation) throw vaultErrors.methodNotAllowed(method);
  return operation;
}
