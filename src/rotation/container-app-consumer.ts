import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import { describeApp, type ContainerAppRef, type RevisionStatus, type WritableSecret } from '../targets/container-apps';
import type { RotationDeps } from './deps';
import { rotationIdOf } from './state';

/**
 * A Container App takes the new value. The platform caches a Key Vault reference and a
 * restart alone re-reads the cache, not Key Vault, so the app secret is first pointed at the
 * new version's versioned URL (ARM replaces the secrets array whole), then every active
 * revision restarts. Confirm: each active revision runs healthy on replicas started after
 * that change. An app in `restart-only` mode reads Key Vault itself at start-up: it only
 * restarts, and its replicas must have started after the live version was written.
 */

type AppTarget = Credential['consumers']['containerApps'][number];

/** What confirm needs to know about a propagation: no values, only times and versions. */
export interface AppTicket {
  /** Replicas started before this ISO instant may hold the old value. */
  since: string;
  liveVersion: string;
}

export interface AppConfirmation {
  healthy: string[];
  waiting: string[];
  /** Revisions in a final bad state (ActivationFailed, Failed, Degraded or Unhealthy). */
  failed: { revision: string; state: string }[];
  /** The app's secret no longer points at the expected version (changed by someone else). */
  drifted?: string;
}

export async function pushToContainerApp(deps: RotationDeps, credential: Credential, index: number, liveVersion: string): Promise<AppTicket> {
  const target = credential.consumers.containerApps[index];
  const app = appRef(target);
  const since = target.mode === 'restart-only' ? await liveWrittenAt(deps, credential, liveVersion) : await pointSecrets(deps, credential, target, liveVersion);
  const revisions = await deps.containerApps().activeRevisions('propagate', app);
  for (const r of revisions) await deps.containerApps().restartRevision('propagate', app, r.name);
  return { since: since.toISOString(), liveVersion };
}

/** Reads the app once: where its secrets point, and every active revision's state and replicas. */
export async function confirmContainerApp(deps: RotationDeps, credential: Credential, index: number, ticket: AppTicket): Promise<AppConfirmation> {
  const target = credential.consumers.containerApps[index];
  const app = appRef(target);
  const out: AppConfirmation = { healthy: [], waiting: [], failed: [] };
  if (target.mode === 'key-vault-reference') {
    out.drifted = await drift(deps, credential, target, ticket.liveVersion);
    if (out.drifted) return out;
  }
  const since = Date.parse(ticket.since);
  for (const revision of await deps.containerApps().activeRevisions('confirm', app)) {
    const verdict = await judge(deps, app, revision, since);
    if (verdict === 'healthy') out.healthy.push(revision.name);
    else if (verdict === 'waiting') out.waiting.push(revision.name);
    else out.failed.push({ revision: revision.name, state: `${revision.runningState}/${revision.healthState}` });
  }
  return out;
}

/**
 * ARM's revision states (spec: an open enum, so unknown values wait). Running healthy, at its
 * maximum scale, or scaled to zero with no replicas confirm; ActivationFailed, Failed,
 * Degraded and Unhealthy are final; everything else (Activating, Processing, Unknown, ...) waits.
 */
async function judge(deps: RotationDeps, app: ContainerAppRef, revision: RevisionStatus, since: number): Promise<'healthy' | 'waiting' | 'failed'> {
  const { runningState, healthState } = revision;
  if (['ActivationFailed', 'Failed', 'Degraded'].includes(runningState) || healthState === 'Unhealthy') return 'failed';
  if (runningState === 'ScaledToZero' && revision.replicas === 0) return 'healthy';
  if (!(['Running', 'RunningAtMaxScale'].includes(runningState) && healthState === 'Healthy')) return 'waiting';
  const replicas = await deps.containerApps().replicas('confirm', app, revision.name);
  const fresh = replicas.length > 0 && replicas.every((r) => r.createdTime !== undefined && r.createdTime.getTime() >= since);
  return fresh ? 'healthy' : 'waiting';
}

/** Points each mapped app secret at its versioned URL; returns when ARM last changed the app. */
async function pointSecrets(deps: RotationDeps, credential: Credential, target: AppTarget, liveVersion: string): Promise<Date> {
  const app = appRef(target);
  const arm = deps.containerApps();
  const expected = await expectedUrls(deps, credential, target, liveVersion);
  const config = await arm.configuration('propagate', app);
  for (const name of expected.keys()) {
    const secret = config.secrets.find((s) => s.name === name);
    if (!secret) throw appError('container-app-secret-missing', `${describeApp(app)} has no secret ${name}; create it as a Key Vault reference with the app's identity`);
    if (!secret.keyVaultUrl || !secret.identity) throw appError('container-app-secret-not-reference', `secret ${name} of ${describeApp(app)} holds a value, not a Key Vault reference with an identity`);
  }
  if (config.secrets.every((s) => !expected.has(s.name) || s.keyVaultUrl === expected.get(s.name))) return config.lastModifiedAt ?? deps.now();
  const values = config.secrets.some((s) => !s.keyVaultUrl) ? await arm.valueSecrets('propagate', app) : new Map<string, string>();
  const secrets = config.secrets.map((s): WritableSecret => {
    if (s.keyVaultUrl) return { name: s.name, keyVaultUrl: expected.get(s.name) ?? s.keyVaultUrl, identity: s.identity };
    const value = values.get(s.name);
    if (value === undefined) throw appError('container-app-secret-unreadable', `secret ${s.name} of ${describeApp(app)} has a value ARM did not list; it would be lost by the update`);
    return { name: s.name, value };
  });
  return (await arm.replaceSecrets('propagate', app, config.location, secrets)) ?? deps.now();
}

async function drift(deps: RotationDeps, credential: Credential, target: AppTarget, liveVersion: string): Promise<string | undefined> {
  const expected = await expectedUrls(deps, credential, target, liveVersion);
  const config = await deps.containerApps().configuration('confirm', appRef(target));
  const moved = [...expected].filter(([name, url]) => config.secrets.find((s) => s.name === name)?.keyVaultUrl !== url).map(([name]) => name);
  return moved.length ? `secret ${moved.join(', ')} of ${describeApp(appRef(target))} no longer points at the version propagated` : undefined;
}

/**
 * The versioned URL each mapped app secret must carry: the live version itself, or the
 * version of a derived secret written from it (same rotation id), never a stale one.
 */
async function expectedUrls(deps: RotationDeps, credential: Credential, target: AppTarget, liveVersion: string): Promise<Map<string, string>> {
  const vault = deps.vault(credential.keyVault.url);
  const base = credential.keyVault.url.replace(/\/+$/, '');
  const urls = new Map<string, string>();
  const live = await vault.latest('propagate', credential.keyVault.secret);
  for (const m of target.secrets) {
    let version = liveVersion;
    if (m.keyVaultSecret !== credential.keyVault.secret) {
      const derived = await vault.latest('propagate', m.keyVaultSecret);
      if (!derived || live?.version !== liveVersion || rotationIdOf(derived) !== rotationIdOf(live)) {
        throw appError('derived-secret-stale', `derived secret ${m.keyVaultSecret} was not written from live version ${liveVersion}`);
      }
      version = derived.version;
    }
    urls.set(m.name, `${base}/secrets/${m.keyVaultSecret}/${version}`);
  }
  return urls;
}

/** restart-only: replicas must start after the live version existed, so they read it. */
async function liveWrittenAt(deps: RotationDeps, credential: Credential, liveVersion: string): Promise<Date> {
  const live = await deps.vault(credential.keyVault.url).latest('propagate', credential.keyVault.secret);
  return live?.version === liveVersion && live.createdOn ? new Date(live.createdOn) : deps.now();
}

/** A Key Vault secret URL, compared as Key Vault compares it: vault, name and version are case-insensitive. */
export interface SecretReference {
  vault: string;
  name: string;
  version?: string;
}

export function parseSecretReference(url: string): SecretReference | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const match = /^\/secrets\/([^/]+)(?:\/([^/]+))?\/?$/.exec(parsed.pathname);
  if (!match) return undefined;
  return { vault: parsed.origin.toLowerCase(), name: match[1].toLowerCase(), ...(match[2] ? { version: match[2].toLowerCase() } : {}) };
}

export function appRef(target: AppTarget): ContainerAppRef {
  return { subscription: target.subscription, resourceGroup: target.resourceGroup, app: target.app };
}

function appError(code: string, message: string): RotationError {
  return new RotationError({ code, stage: 'propagate', message });
}
