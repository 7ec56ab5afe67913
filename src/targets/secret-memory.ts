/**
 * What this worker process remembers of the values it read or wrote in Key Vault, so the
 * next stage of the same rotation does not read them again over the network.
 *
 * - A secret version's value never changes (Key Vault gives every write a new version), so a
 *   version remembered is exact for as long as it is kept: 15 minutes, the span of one
 *   rotation's stages, or until the secret is deleted.
 * - The latest value of a secret (the admin login's) is kept for 5 minutes; a login it
 *   fails is the caller's cue to forget it and read again.
 * - A process that dies forgets everything: a stage retried on another worker reads Key
 *   Vault as if there had been no memory.
 */
const VERSION_TTL_MS = 15 * 60_000;
export const LATEST_TTL_MS = 5 * 60_000;
/** Bounded: a fleet rotation keeps one pending value per credential in flight. */
const MAX_ENTRIES = 4096;

interface Entry {
  value: string;
  version: string;
  expires: number;
}

const versions = new Map<string, Entry>();
const latest = new Map<string, Entry>();

function key(vaultUrl: string, name: string, version?: string): string {
  return `${vaultUrl.replace(/\/+$/, '').toLowerCase()}|${name.toLowerCase()}|${version ?? ''}`;
}

function keep(map: Map<string, Entry>, k: string, entry: Entry): void {
  map.delete(k);
  map.set(k, entry);
  // Maps iterate in insertion order: the first key is the oldest.
  while (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string);
}

function recall(map: Map<string, Entry>, k: string): Entry | undefined {
  const entry = map.get(k);
  if (entry && entry.expires <= Date.now()) {
    map.delete(k);
    return undefined;
  }
  return entry;
}

export function rememberVersion(vaultUrl: string, name: string, version: string, value: string): void {
  keep(versions, key(vaultUrl, name, version), { value, version, expires: Date.now() + VERSION_TTL_MS });
}

export function recallVersion(vaultUrl: string, name: string, version: string): string | undefined {
  return recall(versions, key(vaultUrl, name, version))?.value;
}

export function rememberLatest(vaultUrl: string, name: string, version: string, value: string): void {
  keep(latest, key(vaultUrl, name), { value, version, expires: Date.now() + LATEST_TTL_MS });
  rememberVersion(vaultUrl, name, version, value);
}

export function recallLatest(vaultUrl: string, name: string): string | undefined {
  return recall(latest, key(vaultUrl, name))?.value;
}

/** A secret deleted, or a latest value that no longer logs in: every version of it goes. */
export function forgetSecret(vaultUrl: string, name: string): void {
  const prefix = key(vaultUrl, name);
  latest.delete(prefix);
  for (const k of [...versions.keys()]) if (k.startsWith(prefix)) versions.delete(k);
}

/** What a process death does; the test harness calls it when it kills a worker. */
export function forgetWorkerMemory(): void {
  versions.clear();
  latest.clear();
}
